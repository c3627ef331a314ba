"""One client: its socket, line parser, output queue, token bucket and close state.

Output follows Redis's networking.c: ``send`` appends the caller's bytes object (the same
one for every recipient of a broadcast) to a list and marks the client pending; the
server flushes every pending client once per loop tick with one ``send`` call, and a
client is registered for EVENT_WRITE only while bytes remain after that.  Pending output
is capped: past ``max_send_buffer`` the client is dropped as too slow.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from .protocol import LineParser, LineTooLong

if TYPE_CHECKING:
    from .chat import Member
    from .loop import Timer
    from .server import Server

READ_SIZE = 65536

# Reasons a client leaves, as its room sees them.
CLOSED = "connection closed"
TOO_SLOW = "too slow: output queue full"
IDLE = "idle timeout"
SHUTDOWN = "server shutting down"


class Connection:
    __slots__ = (
        "sock",
        "fd",
        "ip",
        "server",
        "parser",
        "member",
        "out",
        "out_size",
        "events",
        "reason",
        "reading",
        "inbox",
        "tokens",
        "tokens_at",
        "flood_notice_due",
        "last_active",
        "timer",
        "handler",
    )

    def __init__(self, server: Server, sock: socket.socket, ip: str, now: float) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.ip = ip
        self.server = server
        self.parser = LineParser(server.config.max_line_bytes)
        self.member: Member | None = None
        self.out: list[bytes] = []
        self.out_size = 0
        self.events = 0  # what the selector watches for now
        self.reason: str | None = None  # set once the client is leaving
        self.reading = True  # False while flood control holds its input back
        self.inbox: list[str | LineTooLong] | None = None  # lines held back by flood control
        self.tokens = float(server.config.flood_burst)
        self.tokens_at = now
        self.flood_notice_due = True
        self.last_active = now
        self.timer: Timer | None = None  # flood or idle timer
        self.handler: Callable[[int], None] | None = None  # the loop's callback for it

    def __repr__(self) -> str:
        nick = self.member.nick if self.member else "-"
        return f"<Connection fd={self.fd} {nick} from {self.ip}>"

    # The chat's Sink interface.

    def send(self, data: bytes) -> None:
        if self.reason is not None:
            return
        out = self.out
        out.append(data)
        self.out_size += len(data)
        if self.out_size > self.server.max_send_buffer and not self._drain():
            self.abort(TOO_SLOW)
        elif len(out) == 1:
            self.server.pending.append(self)

    def close(self, reason: str) -> None:
        """Asks for the client to leave; the server does it after the current broadcast."""
        if self.reason is None:
            self.reason = reason
            self.server.leaving.append(self)

    def _drain(self) -> bool:
        """Over the cap mid-tick: write now, and count only what the peer left unread."""
        self.flush()
        return self.out_size <= self.server.max_send_buffer

    def abort(self, reason: str) -> None:
        """Leaves without writing what is pending: the peer is gone or too slow."""
        self.out.clear()
        self.out_size = 0
        self.close(reason)

    # Socket work, called by the server.

    def recv(self) -> bytes | None:
        """Bytes read, b"" at end of stream, None if nothing could be read now."""
        try:
            return self.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            self.abort(f"connection error: {exc.strerror or exc}")
            return None

    def flush(self) -> bool:
        """Writes what it can; True when nothing is left."""
        out = self.out
        if not out:
            return True
        data = out[0] if len(out) == 1 else b"".join(out)
        try:
            sent = self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as exc:
            self.abort(f"connection error: {exc.strerror or exc}")
            return True
        if sent == len(data):
            out.clear()
            self.out_size = 0
            return True
        out[:] = [data[sent:]]
        self.out_size = len(data) - sent
        return False

    def take_token(self, now: float, rate: float, burst: int) -> bool:
        """Token bucket: True if a line may pass now."""
        tokens = self.tokens + (now - self.tokens_at) * rate
        self.tokens_at = now
        if tokens > burst:
            tokens = burst
        if tokens >= 1:
            if tokens >= burst:
                self.flood_notice_due = True  # the client had calmed down
            self.tokens = tokens - 1
            return True
        self.tokens = tokens
        return False

    def token_delay(self, rate: float) -> float:
        return (1 - self.tokens) / rate
