"""A worker's end of the bus: the HubLink's bytes over its socketpair to the master."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import mmap
import selectors
import signal
import socket
import struct
from collections.abc import Callable

from .bus import BusError, HubLink
from .loop import Loop
from .sockets import recv_ready

log = logging.getLogger("chatd.worker")

READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE
PR_SET_PDEATHSIG = 1


class LinkSocket:
    """Reads events from the master (applying them), writes ours once per tick.

    If the master stops reading (stopped, or slower than our clients), what we publish
    piles up here; past HIGH_WATER the server stops reading its clients, so TCP pushes
    back on them instead of our memory growing, and reads again below LOW_WATER.
    """

    HIGH_WATER = 4 << 20
    LOW_WATER = 1 << 20

    def __init__(
        self,
        loop: Loop,
        sock: socket.socket,
        link: HubLink,
        on_lost: Callable[[], None],
        on_congestion: Callable[[bool], None] = lambda congested: None,
    ) -> None:
        self.loop, self.sock, self.link, self.on_lost = loop, sock, link, on_lost
        self.on_congestion = on_congestion
        sock.setblocking(False)
        self.pending = memoryview(b"")  # taken from the link, not yet sent
        self.events = READ
        self.lost = False
        self.congested = False
        loop.register(sock, READ, self.on_ready)
        loop.on_tick(self.flush)

    def on_ready(self, mask: int) -> None:
        if mask & WRITE:
            self.flush()
        if mask & READ:
            data = recv_ready(self.sock)
            if data is None:
                return
            if not data:
                self._lose("the master is gone")
                return
            try:
                self.link.received(data)
            except BusError as exc:
                self._lose(f"bad bus frame: {exc}")

    @property
    def backlog(self) -> int:
        return len(self.pending) + self.link.size

    def flush(self) -> None:
        if self.lost:
            return
        # What the last send left goes first; new frames wait in the link meanwhile, so
        # a partial send never copies the whole backlog.
        if not self.pending:
            self.pending = memoryview(self.link.take_output())
        while self.pending:
            try:
                sent = self.sock.send(self.pending)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self._lose("the bus is broken")
                return
            self.pending = self.pending[sent:] or memoryview(self.link.take_output())
        want = READ | (WRITE if self.pending else 0)
        if want != self.events:
            self.loop.modify(self.sock, want, self.on_ready)
            self.events = want
        self._check_congestion()

    def _check_congestion(self) -> None:
        backlog = self.backlog
        if not self.congested and backlog > self.HIGH_WATER:
            self.congested = True
            log.warning("the master is not keeping up (%d bytes unsent): pausing input", backlog)
            self.on_congestion(True)
        elif self.congested and backlog < self.LOW_WATER:
            self.congested = False
            log.info("the master caught up: resuming input")
            self.on_congestion(False)

    def _lose(self, why: str) -> None:
        if not self.lost:
            self.lost = True
            self.loop.unregister(self.sock)
            log.warning("worker stopping: %s", why)
            self.on_lost()


class Heartbeat:
    """A worker's sign of life, like gunicorn's worker timeout: the worker's loop counts
    beats into memory shared with the master (no syscall per beat), and the master kills
    a worker whose count has not moved for worker_timeout.

    The master only asks whether the cell changed, never what it says, so a read that
    races a write (CPython's struct zeroes the field before packing it) looks like one
    more beat, not like a dead worker.
    """

    INTERVAL = 0.25  # well under the shortest worker_timeout (1 s)
    BLIND = 1.0  # a master that did not look for this long (stopped itself) starts over
    CELL = struct.Struct("Q")

    def __init__(self, now: float) -> None:
        self.cell = mmap.mmap(-1, self.CELL.size)  # anonymous and shared across fork
        self.beats = 0
        self.seen = bytes(self.cell)  # the master's side: what it read last, and when
        self.changed = self.looked = now

    def beat(self) -> None:
        self.beats += 1
        self.cell[:] = self.CELL.pack(self.beats)

    def silence(self, now: float) -> float:
        """Seconds since the master last saw the count move."""
        current = bytes(self.cell)
        if current != self.seen or now - self.looked > self.BLIND:
            self.seen, self.changed = current, now
        self.looked = now
        return now - self.changed

    def keep(self, loop: Loop) -> None:
        """In the worker: beat from the loop itself, so only a turning loop beats."""

        def beat() -> None:
            self.beat()
            loop.call_later(self.INTERVAL, beat)

        beat()

    def close(self) -> None:
        self.cell.close()


def die_with_parent() -> None:
    """If the master dies, even by SIGKILL, the kernel sends us SIGTERM."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: the bus's EOF still stops us
