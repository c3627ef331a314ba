"""Intents between chat replicas: one order for everyone, whatever worker they come from.

Every worker holds a replica of the whole chat state and changes it only by applying
intents (chatd.core.intents: a connect, a chat line, a nick, a disconnect, a worker gone)
in the order the bus gives them.  The same intents in the same order give the same nicks,
rooms, guest numbers and limits in every replica; each worker then writes only to its own
clients.

- ``LocalBus``: one process; an intent is applied the moment it is published.
- ``HubLink`` (a worker) and ``Hub`` (the master): the hub reads frames from every worker
  and appends each, whole and in arrival order, to every worker's outbox; that order is
  the order.  A frame a worker had no business sending is that worker's fault, never the
  master's: the hub refuses it and the master replaces the worker.  With a cluster the
  master's hub is a ClusterHub (chatd.clusterhub): the order is the Redis stream's.

Frames are a 4-byte big-endian length and a versioned body (chatd.codec); the framing is
sans-I/O and tested in memory like the client protocol.
"""

from __future__ import annotations

from collections.abc import Callable

from . import codec
from .codec import HEADER
from .core.intents import USER_INTENTS, Intent

Event = Intent  # what the bus carries

MAX_LINE_BYTES = 1 << 20  # the top of max_line_bytes' range in config.py (a test holds them)
# The longest frame a worker can have to send: an intent that carries a line's text.  Its
# JSON takes at most 3 bytes per byte the client sent: an invalid byte becomes U+FFFD (3
# bytes of UTF-8) and JSON's escapes (\\, \", \t) take 2; control characters, which JSON
# would spell \u00XX, never reach the bus (protocol.decode removes them).  The headroom is
# for the kind, the member id, the other fields and the brackets (a mode change's few
# bytes of JSON each: codec.MAX_CHANGES of them).  Frames from the master are not held to
# it (see HubLink).
MAX_FRAME = 3 * MAX_LINE_BYTES + (64 << 10)


class BusError(Exception):
    """A frame that breaks the bus's rules; frames holds the whole ones read before it."""

    def __init__(self, message: str, frames: list[bytes] | None = None) -> None:
        super().__init__(message)
        self.frames = frames or []


def encode(event: Event) -> bytes:
    return codec.encode(event)


class FrameSplitter:
    """Bytes in, whole frames (header included) out, whatever the chunking.

    A frame that arrives in many pieces is kept as a list of them and joined once, when
    it is whole: a long frame costs linear time, not a copy of the buffer per piece.
    """

    __slots__ = ("_chunks", "_have", "_need", "max_frame")

    def __init__(self, max_frame: int | None = MAX_FRAME) -> None:
        self.max_frame = max_frame  # None: only the 4-byte header bounds a frame
        self._chunks: list[bytes] = []  # an incomplete frame, in pieces
        self._have = 0  # bytes in _chunks
        self._need = 0  # bytes the incomplete frame needs before it is worth looking at

    def feed(self, data: bytes) -> list[bytes]:
        if self._chunks:
            self._chunks.append(data)
            self._have += len(data)
            if self._have < self._need:
                return []
            buf = b"".join(self._chunks)
            self._chunks, self._have = [], 0
        else:
            buf = data
        frames: list[bytes] = []
        start, size, need = 0, len(buf), 4
        while size - start >= 4:
            (length,) = HEADER.unpack_from(buf, start)
            if self.max_frame is not None and length > self.max_frame:
                raise BusError(f"a frame of {length} bytes (at most {self.max_frame})", frames)
            end = start + 4 + length
            if end > size:
                need = end - start
                break
            frames.append(buf[start:end])
            start = end
        if start < size:
            self._chunks, self._have, self._need = [buf[start:]], size - start, need
        return frames

    @property
    def buffered(self) -> int:
        return self._have


def decode(frame: bytes) -> Event:
    try:
        return codec.decode_body(frame[4:])
    except codec.CodecError as exc:
        raise BusError(f"not an intent: {_show(frame[4:])} ({exc})") from None


def check_from_worker(event: Event, worker: int, prefix: str | None = None) -> None:
    """Raises BusError unless event is one a worker publishes, about a member of its own
    (whose ids start with prefix, "WORKER:" unless given): the master applies it to its
    replica and sends it to every worker, so a bad one must stop here.  Settings, state
    and gone only the master says."""
    if event.__class__ not in USER_INTENTS:
        raise BusError(f"not an intent a worker sends: {_show(event)}")
    member = event.id  # type: ignore[union-attr]
    if not member.startswith(f"{worker}:" if prefix is None else prefix):
        raise BusError(f"an intent about member {_show(member)}, not one of worker {worker}'s")


def _show(value: object) -> str:
    """A bad value for the log, cut short: it may be megabytes."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class Bus:
    """Publishes events; whoever owns the chat state applies them through ``deliver``."""

    deliver: Callable[[Event], None]

    def publish(self, event: Event) -> None:
        raise NotImplementedError


class LocalBus(Bus):
    """One process: publishing is applying; once deliver is set, publish is deliver
    itself, so the single-worker path costs not even a call."""

    def __setattr__(self, name: str, value: object) -> None:
        super().__setattr__(name, value)
        if name == "deliver":
            super().__setattr__("publish", value)

    def publish(self, event: Event) -> None:
        self.deliver(event)


class HubLink(Bus):
    """A worker's end: events go to the hub and come back in the hub's order."""

    def __init__(self) -> None:
        self.outbox: list[bytes] = []
        self.size = 0  # bytes in the outbox
        # No cap on what the master sends: it is the one source of the order, and its
        # frames include a "state" snapshot that grows with the users (100 bytes or so
        # each), far past any frame a worker sends.
        self.splitter = FrameSplitter(max_frame=None)

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
    order the hub read them.  Each is checked first (check_from_worker) and then forwarded
    as it came, not encoded again."""

    def __init__(
        self, max_backlog: int = 64 << 20, observe: Callable[[Event], None] | None = None
    ) -> None:
        self.max_backlog = max_backlog
        self.observe = observe  # sees every event, in the order the workers will
        self.splitters: dict[int, FrameSplitter] = {}
        self.outboxes: dict[int, list[bytes]] = {}
        self.backlog: dict[int, int] = {}
        self.allowance: dict[int, int] = {}  # a new worker's state is over max_backlog
        self.prefixes: dict[int, str | None] = {}  # its members' ids' start (a cluster's)

    def add(self, worker: int, first: bytes = b"", prefix: str | None = None) -> None:
        """A worker joins the stream; first (its state) is the first frame it reads."""
        self.prefixes[worker] = prefix
        self.splitters[worker] = FrameSplitter()
        self.outboxes[worker] = [first] if first else []
        self.backlog[worker] = len(first)
        self.allowance[worker] = len(first)

    def remove(self, worker: int) -> None:
        self.splitters.pop(worker, None)
        self.outboxes.pop(worker, None)
        self.backlog.pop(worker, None)
        self.allowance.pop(worker, None)
        self.prefixes.pop(worker, None)

    def received(self, worker: int, data: bytes) -> None:
        """Raises BusError at the first bad frame: the worker that sent it must go.  The
        good frames before it are its own events, and go out first like any other."""
        try:
            frames, error = self.splitters[worker].feed(data), None
        except BusError as exc:
            frames, error = exc.frames, exc
        good: list[bytes] = []
        prefix = self.prefixes.get(worker)
        try:
            for frame in frames:
                event = decode(frame)
                check_from_worker(event, worker, prefix)
                if self.observe is not None:
                    self.observe(event)
                good.append(frame)
        finally:
            self._fan_out(good)
        if error is not None:
            raise error

    def announce(self, event: Event) -> None:
        """An event of the hub's own (a worker died: its clients are gone)."""
        if self.observe is not None:
            self.observe(event)
        self._fan_out([encode(event)])

    def _fan_out(self, frames: list[bytes]) -> None:
        if not frames:
            return
        data = frames[0] if len(frames) == 1 else b"".join(frames)
        for worker, outbox in self.outboxes.items():
            outbox.append(data)
            self.backlog[worker] += len(data)

    def stuck(self) -> list[int]:
        """Workers whose unread events passed the cap: they must go, not grow the master."""
        cap, allowance = self.max_backlog, self.allowance
        return [w for w, size in self.backlog.items() if size > cap + allowance[w]]

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
