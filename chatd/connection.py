"""One client: its socket, line parser, output queue, token bucket and close state.

Output follows Redis's networking.c: delivery appends bytes objects (the same one for
every recipient of a broadcast) to the session's queue and marks it dirty; the server
writes every dirty client once per loop tick with one ``send``, and registers a client
for EVENT_WRITE only while bytes remain after that.  What a client leaves unread is
capped: past ``max_send_buffer`` it is dropped as too slow.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from itertools import islice
from typing import TYPE_CHECKING

from .delivery import Delivery, FrontEnd, Session
from .proto.ircwire import IrcFramer
from .protocol import LineParser

if TYPE_CHECKING:
    from .loop import Timer

READ_SIZE = 65536
ROUNDING = 1e-4  # of a token: far above the clock's error, far below a line

# Reasons a client leaves, as its room sees them.
CLOSED = "connection closed"
TOO_SLOW = "too slow: output queue full"
IDLE = "idle timeout"
SHUTDOWN = "server shutting down"


class Connection(Session):
    """A session with a socket; also the loop's callback for that socket."""

    __slots__ = (
        "sock",
        "fd",
        "on_ready",
        "outbox",
        "leaving",
        "parser",
        "out_size",
        "counted",
        "events",
        "reason",
        "aborted",
        "reading",
        "held_back",
        "tokens",
        "tokens_at",
        "flood_notice_due",
        "last_active",
        "last_heard",
        "pinged",
        "timer",
    )

    def __init__(
        self,
        sock: socket.socket,
        ip: str,
        now: float,
        member_id: str,
        front: FrontEnd,
        outbox: Delivery,
        leaving: list[Connection],
        on_ready: Callable[[Connection, int], None],
        max_line: int,
        flood_burst: int,
        parser: LineParser | IrcFramer | None = None,
    ) -> None:
        super().__init__(member_id, ip, front)
        self.sock = sock
        self.fd = sock.fileno()
        self.on_ready = on_ready  # the server's
        self.outbox = outbox  # whose dirty set says this session has output
        self.leaving = leaving  # the server's queue of clients to disconnect
        self.parser = LineParser(max_line) if parser is None else parser
        self.out_size = 0  # bytes of out known to be unsent, up to out[counted]
        self.counted = 0
        self.events = 0  # what the selector watches for now
        self.reason: str | None = None  # set once the client is leaving
        self.aborted = False  # leaving without its pending output
        self.reading = True  # False while flood control holds its input back
        self.held_back = False  # out of tokens: the rest of its input waits in the parser
        self.tokens = float(flood_burst)
        self.tokens_at = now
        self.flood_notice_due = True
        self.last_active = now  # the user's last line (IRC: not counting PING and PONG)
        self.last_heard = now  # the last input of any kind
        self.pinged = 0.0  # when the server last sent this client a PING
        self.timer: Timer | None = None  # flood, registration, idle or ping timer

    def __repr__(self) -> str:
        return f"<Connection fd={self.fd} {self.nick or '-'} from {self.ip}>"

    @property
    def ip(self) -> str:
        return self.label

    def __call__(self, mask: int) -> None:
        """Readiness from the loop (no closure per client: memory counts at 10,000)."""
        self.on_ready(self, mask)

    def send(self, data: bytes) -> None:
        """Queues a line of the server's own (the chat's go through delivery)."""
        if self.reason is None:
            self.out.append(data)
            self.outbox.dirty.add(self)

    def close(self, reason: str) -> None:
        """Asks for the client to leave; the server does it after the current broadcast."""
        if self.reason is None:
            self.reason = reason
            self.leaving.append(self)

    def abort(self, reason: str) -> None:
        """Leaves without writing what is pending: the peer is gone or too slow."""
        self.aborted = True
        self.out.clear()
        self.out_size = self.counted = 0
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
        """Writes what it can in one send; True when nothing is left."""
        out = self.out
        if not out:
            return True
        data = out[0] if len(out) == 1 else b"".join(out)
        try:
            sent = self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self.abort(f"connection error: {exc.strerror or exc}")
            return True
        if sent == len(data):
            out.clear()
            self.out_size = self.counted = 0
            return True
        self.keep_unsent(data, sent)
        return False

    def keep_unsent(self, data: bytes, sent: int) -> None:
        """After a short write: what is left replaces the queue it was joined from."""
        self.out[:] = [data[sent:] if sent else data]
        self.out_size = len(data) - sent
        self.counted = 1

    def unsent(self) -> int:
        """Bytes waiting, counting only what was queued since the last look."""
        out = self.out
        if len(out) > self.counted:
            self.out_size += sum(map(len, islice(out, self.counted, None)))
            self.counted = len(out)
        return self.out_size

    def refill(self, now: float, rate: float, burst: int) -> int:
        """Token bucket: how many items (lines, or input that made none) may pass now.

        The caller takes what it spends off ``tokens``: one subtraction per batch of
        lines, not per line."""
        tokens = self.tokens + (now - self.tokens_at) * rate
        self.tokens_at = now
        if tokens >= burst:
            tokens = burst
            self.flood_notice_due = True  # the client had calmed down
        self.tokens = tokens
        # After a wait of exactly token_delay the clock's rounding leaves 0.99999... of a
        # token (1000 s of monotonic clock times 10,000 lines/s): count that as the token
        # waited for, or the line is held again for a wait of nothing, over and over.
        return int(tokens + ROUNDING)

    def token_delay(self, rate: float) -> float:
        return (1 - self.tokens) / rate
