"""The end of a tick: every client with new output written once, in one send each.

First each room that spoke: its lines for the tick joined once, and that one bytes object
sent to every member whose output this tick is exactly that (fanout.py); then every
client with output in its own queue, its queue joined (or its one bytes object as it is).
The common case (all of it written) runs inline, as it is the hot path of a broadcast;
what a socket would not take waits for EVENT_WRITE, up to ``max_send_buffer``.

A client's bytes go out through ``conn.sock.send`` (a short count or an OSError is the
careful path's business) and ``conn.flush`` (the careful path, and EVENT_WRITE's): a
connection whose sock is a TLS stream with a socket's send plugs in there.
"""

from __future__ import annotations

import selectors
from typing import TYPE_CHECKING

from .connection import TOO_SLOW, Connection
from .memory import release_free_heap

if TYPE_CHECKING:
    from .delivery import Delivery
    from .fanout import Audience
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
            if not self.delivery.pending():
                return
            loud, dirty = self.delivery.take()
            written = self._flush_rooms(loud, dirty) if loud else 0
            self._flush(dirty)
            if written + len(dirty) >= BURST:
                self._after_burst()

    def _flush_rooms(self, loud: list[Audience], dirty: set) -> int:  # type: ignore[type-arg]
        """Each room's lines joined once and sent as they are to every member that gets
        just them; a member with bytes queued before them (or leaving) has them appended
        to its queue and joins dirty, for the careful path.  Returns the members seen."""
        written = 0
        for audience in loud:
            lines = audience.lines
            solo = audience.solo
            members = audience.members.difference(solo) if solo else audience.members
            if members:
                data = lines[0] if len(lines) == 1 else b"".join(lines)
                size = len(data)
                written += len(members)
                for conn in members:
                    if conn.out or conn.reason is not None:
                        if not conn.aborted:
                            conn.out.append(data)
                            dirty.add(conn)
                        continue
                    try:
                        sent = conn.sock.send(data)
                    except OSError:
                        sent = -1
                    if sent == size:
                        continue
                    if sent < 0:  # would block, or an error: the careful path tells which
                        conn.out.append(data)
                        dirty.add(conn)
                    else:  # a short write: this member keeps only the rest
                        conn.keep_unsent(data, sent)
                        self._wait_writable(conn)
            lines.clear()
            solo.clear()
        return written

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
