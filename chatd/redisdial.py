"""Reaching Redis: addresses, the timers and selector a client borrows, retry delays.

``Host`` is what a client needs of the loop it lives in; ``chatd.loop.Loop`` has it all.
``Plain`` puts a plain socket behind the interface ``chatd.tls.TlsStream`` has, so the
client drives either the same way.
"""

from __future__ import annotations

import errno
import random
import selectors
import socket
from collections.abc import Callable
from typing import Any, Protocol

from chatd.redisurl import RedisTarget
from chatd.tls import TlsError

EVENT_READ = selectors.EVENT_READ
EVENT_WRITE = selectors.EVENT_WRITE


def resolve(target: RedisTarget) -> list[tuple[int, Any]]:
    """(family, address) to connect to: getaddrinfo for a host name, which may block on
    DNS, so clients call it once at start-up; an IP address or a socket path never does."""
    if target.path is not None:
        return [(socket.AF_UNIX, target.path)]
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConnectionError(f"redis: cannot resolve {target.host!r}: {exc.strerror}") from None
    return [(family, address) for family, _, _, _, address in infos]


class Handle(Protocol):
    def cancel(self) -> None: ...


class Host(Protocol):
    def register(self, fileobj: Any, events: int, callback: Callable[[int], None]) -> None: ...
    def modify(self, fileobj: Any, events: int, callback: Callable[[int], None]) -> None: ...
    def unregister(self, fileobj: Any) -> None: ...
    def call_later(self, delay: float, callback: Callable[[], None]) -> Handle: ...
    def clock(self) -> float: ...


class Backoff:
    """Delays between attempts: first, doubling up to most, each +-jitter at random."""

    def __init__(
        self,
        first: float = 0.1,
        most: float = 5.0,
        jitter: float = 0.2,
        rng: random.Random | None = None,
    ) -> None:
        self.first, self.most, self.jitter = first, most, jitter
        self.rng = rng or random.Random()
        self._next = first

    def next(self) -> float:
        delay = self._next
        self._next = min(self.most, self._next * 2)
        return delay * (1 + self.jitter * (2 * self.rng.random() - 1))

    def reset(self) -> None:
        self._next = self.first


class Plain:
    """A plain socket behind the interface TlsStream has, so the client drives either."""

    wants = 0
    handshake_done = True

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def recv(self, n: int) -> bytes | None:
        try:
            return self.sock.recv(n)
        except (BlockingIOError, InterruptedError):
            return None

    def send(self, data: bytearray) -> int:
        try:
            return self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            return 0

    def flush(self) -> bool:
        return True

    def pending(self) -> int:
        return 0


def reason_of(exc: BaseException) -> str:
    if isinstance(exc, TlsError):
        return f"TLS: {exc.reason}"
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"{errno.errorcode.get(exc.errno, exc.errno)} ({exc.strerror})"
    return str(exc)
