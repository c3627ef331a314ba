"""Socket set-up: the listening socket and its port's claim, the options every client
socket gets, and a bus read."""

from __future__ import annotations

import errno
import socket
import weakref

from .peeraddr import with_port

_claims: dict[int, socket.socket] = {}  # by port: held while this process listens there
# The protocol a listener speaks travels with the socket object (to workers too), so
# every list of listeners stays a list of sockets; an untagged one speaks the line protocol.
_protocols: weakref.WeakKeyDictionary[socket.socket, str] = weakref.WeakKeyDictionary()
_tls: weakref.WeakSet[socket.socket] = weakref.WeakSet()  # listeners whose clients speak TLS
PROTOCOLS = ("line", "irc")


def tag(sock: socket.socket, protocol: str, tls: bool = False) -> socket.socket:
    """Marks a listener as speaking protocol ("line" or "irc"), over TLS if tls."""
    _protocols[sock] = protocol
    if tls:
        _tls.add(sock)
    return sock


def protocol_of(sock: socket.socket) -> str:
    return _protocols.get(sock, "line")


def tls_of(sock: socket.socket) -> bool:
    return sock in _tls


def open_listener(
    bind: str, port: int, reuse_port: bool = False, claim: bool = False
) -> socket.socket:
    """A non-blocking listening TCP socket; '::' listens on IPv4 too.

    reuse_port: one such socket per worker on the same port, and the kernel spreads the
    connections among them.  The kernel lets any process of the same user join, so a
    second chatd with workers would come up on the port and split the users between two
    chats: claim (the first listener of a chatd) refuses that, see claim_port."""
    taken = claim and port != 0 and port not in _claims
    if taken:
        _claims[port] = claim_port(port)  # before bind: the other chatd is refused first
    try:
        return _listen(bind, port, reuse_port, claim_chosen=claim and port == 0)
    except BaseException:
        if taken:  # not listening there after all (a failed reload stays where it was)
            _claims.pop(port).close()
        raise


def _listen(bind: str, port: int, reuse_port: bool, claim_chosen: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            # Explicitly off, whatever net.ipv6.bindv6only says (1 on some systems): '::'
            # is one socket for IPv4 and IPv6, its IPv4 clients as ::ffff:a.b.c.d (peeraddr).
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((bind, port))
        chosen = sock.getsockname()[1]
        if claim_chosen and chosen not in _claims:  # any free port: claimed once known
            _claims[chosen] = claim_port(chosen)
        sock.listen(socket.SOMAXCONN)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def claim_port(port: int) -> socket.socket:
    """One chat per port: binds an abstract AF_UNIX socket named after the port, which
    only one process can hold; raises OSError(EADDRINUSE) if another chatd has it.

    Abstract names need no file and vanish with the process (no stale lock after a
    crash), and like ports they belong to the network namespace.  The name is the port
    alone, not the address: '::' takes IPv4 too and a wildcard overlaps every address,
    so two chatds on one port would share clients whatever addresses they name.  One
    chatd's listeners may share a port (127.0.0.1 and ::1, say): it claims it once."""
    lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        lock.bind(f"\0chatd-listen:{port}")
    except OSError as exc:
        lock.close()
        if exc.errno != errno.EADDRINUSE:
            raise
        raise OSError(errno.EADDRINUSE, "another chatd is serving this port") from None
    return lock


def claims() -> list[socket.socket]:
    """The claims this process holds: daemon mode must keep them open when it detaches."""
    return list(_claims.values())


def release_claims(keep: int) -> None:
    """After a move to another port (a reload), the old one is free for another chatd."""
    for port in [p for p in _claims if p != keep]:
        _claims.pop(port).close()


# Keepalive probes a connection that has been idle for KEEPIDLE seconds, every KEEPINTVL,
# and gives up after KEEPCNT unanswered: a peer that vanished while idle is found in two
# minutes.  But keepalive never probes a connection with data in flight, and that data
# is retransmitted for 15 minutes or more (tcp_retries2), so a peer that vanished while
# it was being sent a line a second would keep its nick that long.  TCP_USER_TIMEOUT
# bounds how long sent data may stay unacknowledged.  With both set, Linux also lets it
# decide when keepalive gives up (once the peer has been silent that long and a probe is
# unanswered), so it is set to the keepalive figure: two minutes, busy or idle.
KEEPIDLE, KEEPINTVL, KEEPCNT = 60, 10, 6
USER_TIMEOUT = KEEPIDLE + KEEPINTVL * KEEPCNT  # seconds


def tune_client_socket(sock: socket.socket) -> None:
    sock.setblocking(False)
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, KEEPIDLE)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, KEEPINTVL)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KEEPCNT)
        timeout_ms = int(USER_TIMEOUT * 1000)  # read here: a test shortens it
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, timeout_ms)


def describe(sock: socket.socket) -> str:
    """host:port of a listening socket, for the logs and sd_notify's STATUS; an IRC
    listener says so after it."""
    where = with_port(*sock.getsockname()[:2])
    kinds = [k for k in (protocol_of(sock), "tls" if tls_of(sock) else "") if k != "line" and k]
    return f"{where} ({', '.join(kinds)})" if kinds else where


def recv_ready(sock: socket.socket, size: int = 1 << 20) -> bytes | None:
    """One read from a bus socket: None if nothing is there yet; b"" once the other end
    is gone (end of stream or an error), as either end only needs to know that."""
    try:
        return sock.recv(size)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b""
