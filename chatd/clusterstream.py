"""The stream's logic, without Redis: what a node appends, and what it applies in order.

Every entry of ``<name>:events`` is one of:

* ``e`` epoch, ``s`` "SOURCE:SEQ", ``f`` frames: a batch of one node's events (bus frames,
  chatd.codec), SOURCE being the node's "node~incarnation" and SEQ counting its entries
  from 1.  A node has one XADD in flight at a time and sends the same entry again (same
  SEQ) when the connection dropped before the reply: the first copy in the stream counts,
  every replica skips a later one, so a retry never doubles a line nor reorders them.
* ``e`` epoch, ``g`` "SOURCE/": that node is gone (its lease expired), appended by a Redis
  script (chatd.clusterscripts); it becomes ``Dropped(SOURCE/, "connection lost")`` and
  every later entry of SOURCE is skipped.

An entry of another epoch, or one that does not decode, or that speaks for a user of
another node, is skipped by every replica alike (they all read the same bytes), so the
replicas still agree.
"""

from __future__ import annotations

import logging
from typing import Any

from . import codec
from .bus import BusError, FrameSplitter, decode
from .clusterevents import Dropped
from .core.intents import USER_INTENTS, Intent, Settings

log = logging.getLogger("chatd.cluster")

GONE = -1  # in seen: the source is gone, nothing more of it counts
LOST = "connection lost"
MAX_ENTRY = 1 << 20  # bytes of frames in one XADD (one frame may be longer: it goes alone)


def parse_id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class Outbox:
    """This node's frames on their way to the stream: at most one entry in flight."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.size = 0  # bytes in frames
        self.seq = 0
        self.inflight: tuple[int, bytes] | None = None

    @property
    def unsent(self) -> int:
        """Bytes accepted from the workers that Redis has not confirmed yet."""
        return self.size + (len(self.inflight[1]) if self.inflight else 0)

    def add(self, frames: list[bytes]) -> None:
        self.frames.extend(frames)
        self.size += sum(map(len, frames))

    def next_entry(self) -> tuple[int, bytes] | None:
        """The entry to XADD now (seq, frames), or None: one in flight already, or none."""
        if self.inflight is not None or not self.frames:
            return None
        taken, size = 0, 0
        for frame in self.frames:
            if taken and size + len(frame) > MAX_ENTRY:
                break
            taken += 1
            size += len(frame)
        payload = b"".join(self.frames[:taken])
        del self.frames[:taken]
        self.size -= size
        self.seq += 1
        self.inflight = (self.seq, payload)
        return self.inflight

    def acked(self) -> None:
        self.inflight = None

    def reset(self) -> None:
        """A new incarnation: what the old one had not sent goes nowhere."""
        self.frames.clear()
        self.size = self.seq = 0
        self.inflight = None


class Inbox:
    """The entries read, in stream order, turned into (frames, events) for the hub."""

    def __init__(self, epoch: str, last_id: str = "0-0", seen: dict[str, int] | None = None):
        self.epoch = epoch
        self.last_id = last_id
        self.seen: dict[str, int] = dict(seen or {})

    def state(self) -> dict[str, Any]:
        return {"id": self.last_id, "seen": dict(self.seen)}

    def take(self, entries: list[Any]) -> list[tuple[bytes, list[Intent]]]:
        """XREAD's entries ([[id, [field, value, ...]], ...]) -> batches to apply."""
        out: list[tuple[bytes, list[Intent]]] = []
        for entry_id, flat in entries:
            self.last_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            fields = dict(zip(flat[::2], flat[1::2], strict=True))
            if fields.get(b"e", b"").decode(errors="replace") != self.epoch:
                continue
            batch = self._gone(fields[b"g"]) if b"g" in fields else self._batch(fields)
            if batch is not None:
                out.append(batch)
        return out

    def _gone(self, raw: bytes) -> tuple[bytes, list[Intent]] | None:
        prefix = raw.decode(errors="replace")
        source = prefix.removesuffix("/")
        if self.seen.get(source) == GONE:
            return None  # said already: a second gone changes nothing
        self.seen[source] = GONE
        event = Dropped(prefix, LOST)
        return codec.encode(event), [event]

    def _batch(self, fields: dict[bytes, bytes]) -> tuple[bytes, list[Intent]] | None:
        try:
            source, _, seq_text = fields[b"s"].decode().rpartition(":")
            seq = int(seq_text)
            data = fields[b"f"]
        except (KeyError, ValueError):
            log.warning("stream entry %s is not chatd's: skipped", self.last_id)
            return None
        last = self.seen.get(source, 0)
        if last == GONE or seq <= last:
            return None  # a retried XADD whose first copy counted, or a gone node's
        self.seen[source] = seq
        try:
            frames = FrameSplitter(max_frame=None).feed(data)
            events = [decode(frame) for frame in frames]
            for event in events:
                _check(event, source)
        except BusError as exc:
            log.warning("stream entry %s from %s skipped: %s", self.last_id, source, exc)
            return None
        return data, events


def _check(event: Intent, source: str) -> None:
    """A node speaks for its own users and its own workers only, and never for the hub."""
    own = source + "/"
    if event.__class__ in USER_INTENTS:
        if not event.id.startswith(own):  # type: ignore[union-attr]
            raise BusError(f"an intent about {event.id!r}, not a user of {source}")  # type: ignore[union-attr]
    elif event.__class__ is Dropped:
        if not event.prefix.startswith(own):  # type: ignore[union-attr]
            raise BusError(f"{source} dropping {event.prefix!r}")  # type: ignore[union-attr]
    elif not (event.__class__ is Settings and event.config is None):  # type: ignore[union-attr]
        raise BusError(f"a {type(event).__name__} event in the stream")
