"""The end of a tick: every client with new output written once, in one send each.

The common case (all of it written) runs inline, as it is the hot path of a broadcast;
what a socket would not take waits for EVENT_WRITE, up to ``max_send_buffer``.
"""

from __future__ import annotations

import selectors
from typing import TYPE_CHECKING

from .connection import TOO_SLOW, Connection
from .memory import release_free_heap

if TYPE_CHECKING:
    from .delivery import Delivery
    from .loop import Loop, Timer

WRITE = selectors.EVENT_WRITE
BURST = 1000  # clients written in one tick: a burst (a join storm, a big room's chat)
CALM = 0.5  # seconds after the last burst before freed heap goes back to the OS


class Writer:
    """The server's output half (see server.py for the rest)."""

    loop: Loop
    delivery: Delivery
    leaving: list[Connection]
    lingering: set[Connection]
    max_send_buffer: int
    _last_burst: float
    _trim_timer: Timer | None

    def process_leaving(self) -> None: ...

    def _close_now(self, conn: Connection) -> None: ...

    def _update_events(self, conn: Connection) -> None: ...

    def end_of_tick(self) -> None:
        """Flushes the dirty clients; clients that leave meanwhile tell their rooms."""
        while True:
            if self.leaving:
                self.process_leaving()
            if not self.delivery.dirty:
                return
            dirty = self.delivery.take_dirty()
            self._flush(dirty)
            if len(dirty) >= BURST:
                self._after_burst()

    def _flush(self, dirty: set) -> None:  # type: ignore[type-arg]  # our members are Connections
        """One send per client; the common case (all written) inline, as it is the hot path."""
        for conn in dirty:
            out = conn.out
            if not out:
                continue
            if conn.out_size or conn.reason is not None:
                self._flush_slow(conn)
                continue
            data = out[0] if len(out) == 1 else b"".join(out)
            try:
                sent = conn.sock.send(data)
            except OSError:
                sent = -1
            if sent == len(data):
                out.clear()
            elif sent < 0:  # would block, or an error: the careful path tells which
                self._flush_slow(conn)
            else:  # a short write: keep the rest, never write again what went out
                conn.keep_unsent(data, sent)
                self._wait_writable(conn)

    def _flush_slow(self, conn: Connection) -> None:
        if conn.sock.fileno() < 0:
            return
        if conn.events & WRITE:  # its socket is full: EVENT_WRITE will say when
            if conn.unsent() > self.max_send_buffer:
                conn.abort(TOO_SLOW)
        elif conn.flush():
            if conn in self.lingering:
                self._close_now(conn)
        else:
            self._wait_writable(conn)

    def _wait_writable(self, conn: Connection) -> None:
        """Bytes were left unwritten: wait for EVENT_WRITE, unless that is too much."""
        if conn.out_size > self.max_send_buffer:
            conn.abort(TOO_SLOW)
        else:
            self._update_events(conn)

    def _after_burst(self) -> None:
        """glibc keeps the heap a burst used; give it back once things are calm."""
        self._last_burst = self.loop.clock()
        if self._trim_timer is None:
            self._trim_timer = self.loop.call_later(CALM, self._trim_heap)

    def _trim_heap(self) -> None:
        calm_at = self._last_burst + CALM
        if self.loop.clock() < calm_at:
            self._trim_timer = self.loop.call_at(calm_at, self._trim_heap)
            return
        self._trim_timer = None
        release_free_heap()
