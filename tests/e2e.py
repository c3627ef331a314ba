"""Helpers for end-to-end tests: the real chatd process on a free port, raw TCP peers."""

from __future__ import annotations

import os
import re
import select
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
LISTENING = re.compile(rb"listening on \[?([0-9a-f.:]+)\]?:(\d+)")


def has_ipv6_loopback() -> bool:
    """True if ::1 can be bound here (a namespace or host may have IPv6 off)."""
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def free_port() -> int:
    """A port that was free a moment ago, for a test that must name its port itself."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chatd_command(*args: str) -> list[str]:
    exe = BIN / "chatd"
    return [str(exe), *args] if exe.exists() else [sys.executable, "-m", "chatd", *args]


def socket_activated(listener: socket.socket, *args: str) -> subprocess.Popen[bytes]:
    """chatd started as systemd starts it: listener as fd 3, LISTEN_PID its own pid."""
    command = " ".join(chatd_command(*args))
    return subprocess.Popen(
        ["sh", "-c", f"LISTEN_PID=$$ LISTEN_FDS=1 exec {command}"],
        preexec_fn=lambda: os.dup2(listener.fileno(), 3),
        stderr=subprocess.PIPE,
        close_fds=False,
    )


class Chatd:
    """chatd in the foreground, its stderr captured; the port is read from its log."""

    def __init__(
        self,
        *args: str,
        log_file: Path | None = None,
        timeout: float = 10,
        preexec_fn: object = None,
        any_port: bool = True,
    ) -> None:
        self.log_file = log_file
        if log_file is not None:
            args = (*args, "--log-file", str(log_file))
        self.proc = subprocess.Popen(
            chatd_command(*(("--port", "0") if any_port else ()), *args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=preexec_fn,  # type: ignore[arg-type]
        )
        self.log = b""
        match = self.wait_log(LISTENING, timeout)
        self.port = int(match.group(2))

    def wait_log(self, pattern: re.Pattern[bytes] | bytes, timeout: float = 10) -> re.Match[bytes]:
        regex = pattern if isinstance(pattern, re.Pattern) else re.compile(re.escape(pattern))
        if self.log_file is not None:
            return self._wait_file(regex, timeout)
        deadline = time.monotonic() + timeout
        assert self.proc.stderr is not None
        fd = self.proc.stderr.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while True:
                match = regex.search(self.log)
                if match:
                    return match
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise AssertionError(
                        f"no {regex.pattern!r} in chatd's log:\n{self.log.decode()}"
                    )
                data = os.read(fd, 65536)
                if not data:
                    raise AssertionError(f"chatd exited; log:\n{self.log.decode()}")
                self.log += data

    def _wait_file(self, regex: re.Pattern[bytes], timeout: float) -> re.Match[bytes]:
        """Polls the log file: a file gives no readiness to wait on."""
        assert self.log_file is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_file.read_bytes() if self.log_file.exists() else b""
            match = regex.search(text)
            if match:
                return match
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"no {regex.pattern!r} in {self.log_file}")

    def connect(self, timeout: float = 5) -> TcpPeer:
        return TcpPeer(socket.create_connection(("127.0.0.1", self.port), timeout=timeout))

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 10) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self._drain()

    def _drain(self, timeout: float = 5) -> None:
        """Reads the rest of the log; bounded, as workers may hold the pipe a moment."""
        assert self.proc.stderr is not None
        fd = self.proc.stderr.fileno()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], max(0, deadline - time.monotonic()))
            if not ready:
                break
            data = os.read(fd, 65536)
            if not data:
                break
            self.log += data
        self.proc.stderr.close()
        if self.proc.stdout:
            self.proc.stdout.close()

    def __enter__(self) -> Chatd:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.proc.stderr.closed:  # type: ignore[union-attr]
            self._drain()


class TcpPeer:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def send(self, *lines: str) -> None:
        self.sock.sendall("".join(line + "\r\n" for line in lines).encode())

    def line(self, timeout: float = 5) -> str:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sock.recv(65536)
            if not data:
                raise EOFError(f"closed; unread: {self.buf!r}")
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        assert line.endswith(b"\r")
        return line[:-1].decode()

    def until(self, prefix: str, timeout: float = 5) -> list[str]:
        """Lines up to and including the first that starts with prefix."""
        seen = []
        while True:
            seen.append(self.line(timeout))
            if seen[-1].startswith(prefix):
                return seen

    def count_lines(self, want: int, timeout: float = 10) -> int:
        """Reads until want whole lines (or the timeout); returns how many came."""
        deadline = time.monotonic() + timeout
        count = self.buf.count(b"\n")
        self.buf = self.buf[self.buf.rfind(b"\n") + 1 :]
        while count < want and time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(1 << 20)
            except TimeoutError:
                break
            if not data:
                break
            count += data.count(b"\n")
        return count

    def greeted(self) -> str:
        """Reads the greeting; returns the nick it assigned."""
        lines = self.until("*** You joined ")
        (you,) = [line for line in lines if line.startswith("*** You are ")]
        return you.split()[3]

    def eof(self, timeout: float = 5) -> bool:
        """Reads what is left; True once the server has closed (FIN or reset)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                rest = self.sock.recv(65536)
            except ConnectionResetError:
                return True
            except TimeoutError:
                return False
            if not rest:
                return True
            self.buf += rest
        return False

    def close(self) -> None:
        self.sock.close()
