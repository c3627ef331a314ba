"""A worker's end of the bus: the HubLink's bytes over its socketpair to the master."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import selectors
import signal
import socket
from collections.abc import Callable

from .bus import BusError, HubLink
from .loop import Loop

log = logging.getLogger("chatd.worker")

READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE
PR_SET_PDEATHSIG = 1


class LinkSocket:
    """Reads events from the master (applying them), writes ours once per tick."""

    def __init__(
        self, loop: Loop, sock: socket.socket, link: HubLink, on_lost: Callable[[], None]
    ) -> None:
        self.loop, self.sock, self.link, self.on_lost = loop, sock, link, on_lost
        sock.setblocking(False)
        self.pending = b""
        self.events = READ
        self.lost = False
        loop.register(sock, READ, self.on_ready)
        loop.on_tick(self.flush)

    def on_ready(self, mask: int) -> None:
        if mask & WRITE:
            self.flush()
        if mask & READ:
            try:
                data = self.sock.recv(1 << 20)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:
                self._lose("the master is gone")
                return
            try:
                self.link.received(data)
            except BusError as exc:
                self._lose(f"bad bus frame: {exc}")

    def flush(self) -> None:
        if self.lost:
            return
        data = self.pending + self.link.take_output() if self.pending else self.link.take_output()
        if data:
            try:
                sent = self.sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self._lose("the bus is broken")
                return
            self.pending = data[sent:]
        want = READ | (WRITE if self.pending else 0)
        if want != self.events:
            self.loop.modify(self.sock, want, self.on_ready)
            self.events = want

    def _lose(self, why: str) -> None:
        if not self.lost:
            self.lost = True
            self.loop.unregister(self.sock)
            log.warning("worker stopping: %s", why)
            self.on_lost()


def die_with_parent() -> None:
    """If the master dies, even by SIGKILL, the kernel sends us SIGTERM."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: the bus's EOF still stops us
