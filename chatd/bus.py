"""Events between chat replicas: one order for everyone, whatever worker they come from.

Every worker holds a replica of the whole chat state and changes it only by applying
events (connect, line, disconnect, worker gone) in the order the bus gives them.  The same
events in the same order give the same nicks, rooms, guest numbers and limits in every
replica; each worker then writes only to its own clients.

- ``LocalBus``: one process; an event is applied the moment it is published.
- ``HubLink`` (a worker) and ``Hub`` (the master): the hub reads frames from every worker
  and appends each, whole and in arrival order, to every worker's outbox; that order is
  the order.  A later broker (Redis) would be another Bus with the same two methods.

Frames are a 4-byte big-endian length and a compact JSON array; the framing is sans-I/O
and tested in memory like the client protocol.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from typing import Any

Event = list[Any]  # ["connect", member_id, ip] | ["line", id, text] | ["disconnect", id, why]
HEADER = struct.Struct("!I")
MAX_FRAME = 1 << 20  # far above any event (a line is at most max_line_bytes)


class BusError(Exception):
    pass


def encode(event: Event) -> bytes:
    body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
    return HEADER.pack(len(body)) + body


class FrameSplitter:
    """Bytes in, whole frames (header included) out, whatever the chunking."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buf + data if self._buf else data
        frames = []
        start, size = 0, len(buf)
        while size - start >= 4:
            (length,) = HEADER.unpack_from(buf, start)
            if length > MAX_FRAME:
                raise BusError(f"frame of {length} bytes exceeds {MAX_FRAME}")
            end = start + 4 + length
            if end > size:
                break
            frames.append(buf[start:end])
            start = end
        self._buf = buf[start:]
        return frames

    @property
    def buffered(self) -> int:
        return len(self._buf)


def decode(frame: bytes) -> Event:
    event = json.loads(frame[4:])
    if not isinstance(event, list) or not event or not isinstance(event[0], str):
        raise BusError(f"not an event: {frame[:60]!r}")
    return event


class Bus:
    """Publishes events; whoever owns the chat state applies them through ``deliver``."""

    deliver: Callable[[Event], None]

    def publish(self, event: Event) -> None:
        raise NotImplementedError


class LocalBus(Bus):
    """One process: publishing is applying (the single-worker path costs a call)."""

    def publish(self, event: Event) -> None:
        self.deliver(event)


class HubLink(Bus):
    """A worker's end: events go to the hub and come back in the hub's order."""

    def __init__(self) -> None:
        self.outbox: list[bytes] = []
        self.size = 0  # bytes in the outbox
        self.splitter = FrameSplitter()

    def publish(self, event: Event) -> None:
        frame = encode(event)
        self.outbox.append(frame)
        self.size += len(frame)

    def received(self, data: bytes) -> None:
        for frame in self.splitter.feed(data):
            self.deliver(decode(frame))

    def take_output(self) -> bytes:
        data = b"".join(self.outbox)
        self.outbox.clear()
        self.size = 0
        return data


class Hub:
    """The master's sequencer: every frame from any worker goes to every worker, in the
    order the hub read them.  Frames are forwarded as they came, never decoded."""

    def __init__(
        self, max_backlog: int = 64 << 20, observe: Callable[[bytes], None] | None = None
    ) -> None:
        self.max_backlog = max_backlog
        self.observe = observe  # sees every frame, in the order the workers will
        self.splitters: dict[int, FrameSplitter] = {}
        self.outboxes: dict[int, list[bytes]] = {}
        self.backlog: dict[int, int] = {}

    def add(self, worker: int, first: bytes = b"") -> None:
        """A worker joins the stream; first (its state) is the first frame it reads."""
        self.splitters[worker] = FrameSplitter()
        self.outboxes[worker] = [first] if first else []
        self.backlog[worker] = len(first)

    def remove(self, worker: int) -> None:
        self.splitters.pop(worker, None)
        self.outboxes.pop(worker, None)
        self.backlog.pop(worker, None)

    def received(self, worker: int, data: bytes) -> None:
        self._broadcast(self.splitters[worker].feed(data))

    def announce(self, event: Event) -> None:
        """An event of the hub's own (a worker died: its clients are gone)."""
        self._broadcast([encode(event)])

    def _broadcast(self, frames: list[bytes]) -> None:
        if not frames:
            return
        if self.observe is not None:
            for frame in frames:
                self.observe(frame)
        data = frames[0] if len(frames) == 1 else b"".join(frames)
        for worker, outbox in self.outboxes.items():
            outbox.append(data)
            self.backlog[worker] += len(data)

    def stuck(self) -> list[int]:
        """Workers whose unread events passed the cap: they must go, not grow the master."""
        return [w for w, size in self.backlog.items() if size > self.max_backlog]

    def take_output(self, worker: int) -> bytes:
        outbox = self.outboxes[worker]
        data = b"".join(outbox)
        outbox.clear()
        return data

    def put_back(self, worker: int, rest: bytes) -> None:
        """What a non-blocking write left unsent goes first next time."""
        self.backlog[worker] = len(rest) + sum(map(len, self.outboxes[worker]))
        if rest:
            self.outboxes[worker].insert(0, rest)
