"""systemd integration in a few lines of stdlib: sd_notify and socket activation.

No libsystemd: the notify protocol is one datagram of NEWLINE-separated assignments to
the AF_UNIX socket named by $NOTIFY_SOCKET (a leading '@' means the abstract namespace),
and socket activation is fds 3.. when $LISTEN_PID is our pid (sd_listen_fds(3)).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time

from .sockets import tag

SD_LISTEN_FDS_START = 3


class Notifier:
    """Talks to the service manager; does nothing when not run by one."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = env.get("NOTIFY_SOCKET") or None
        self.watchdog_usec = _watchdog_usec(env)
        self._sock: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, *assignments: str) -> bool:
        if self.address is None:
            return False
        if self._sock is None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        address = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            self._sock.sendto("\n".join(assignments).encode(), address)
        except OSError:
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.notify("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")

    def reloading(self) -> bool:
        # systemd 253+ wants the monotonic time with RELOADING=1 (Type=notify-reload).
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1", "STATUS=shutting down")

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between pings: half of WatchdogSec=, as sd_watchdog_enabled(3) advises."""
        return self.watchdog_usec / 2e6 if self.watchdog_usec else None

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _watchdog_usec(env: dict[str, str] | os._Environ[str]) -> int | None:
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    return usec if usec > 0 else None


def listen_fds(environ: dict[str, str] | None = None, unset: bool = True) -> list[socket.socket]:
    """The listening sockets systemd passed us, or [] when it passed none (bind ourselves);
    each is tagged with its protocol by its name in $LISTEN_FDNAMES (sockets.protocol_of)."""
    env = os.environ if environ is None else environ
    try:
        pid, count = int(env.get("LISTEN_PID", "")), int(env.get("LISTEN_FDS", ""))
    except ValueError:
        return []
    if pid != os.getpid() or count <= 0:
        return []
    names_given = env.get("LISTEN_FDNAMES", "")
    if unset:  # not for our children
        for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
            env.pop(name, None)
    names = names_given.split(":") if names_given else []
    sockets = []
    for n, fd in enumerate(range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + count)):
        os.set_inheritable(fd, False)
        sock = socket.socket(fileno=fd)
        sock.setblocking(False)
        name = names[n] if n < len(names) else ""
        sockets.append(tag(sock, *protocol_named(name)))
    return sockets


def protocol_named(name: str) -> tuple[str, bool]:
    """What a socket unit's FileDescriptorName= asks for: irc, irc-tls, line-tls; any
    other name (the default is the unit's name) speaks the line protocol in the clear."""
    protocol, _, tls = name.partition("-")
    if protocol in ("irc", "line") and tls in ("", "tls"):
        return protocol, tls == "tls"
    return "line", False


def under_systemd(environ: dict[str, str] | None = None) -> bool:
    """True when started by systemd as a service (never daemonise then)."""
    env = os.environ if environ is None else environ
    return bool(env.get("INVOCATION_ID") or env.get("NOTIFY_SOCKET")) or os.getppid() == 1


def address_mismatch(listeners: list[socket.socket], bind: str, port: int) -> str | None:
    """Why the sockets systemd passed are not the config's bind/port, if they are not.

    Under socket activation the socket unit decides where chatd listens; a config that
    says otherwise is silently misleading, so chatd says so (once, at start)."""
    wanted = ipaddress.ip_address(bind)
    for sock in listeners:
        try:
            host, got_port = sock.getsockname()[:2]
        except (OSError, ValueError):
            continue
        if not isinstance(host, str) or not host:
            continue  # a unix socket: nothing to compare
        try:
            same = ipaddress.ip_address(host.split("%")[0]) == wanted and got_port == port
        except ValueError:
            continue
        if same:
            return None
    where = ", ".join(_where(s) for s in listeners)
    return (
        f"the socket unit listens on {where} but the config says bind {bind} port {port}; "
        "the socket unit's address is used (change both together)"
    )


def _where(sock: socket.socket) -> str:
    try:
        host, port = sock.getsockname()[:2]
    except (OSError, ValueError):
        return "?"
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
