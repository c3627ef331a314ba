"""The input half of the server: a client's parsed items handed to the chat in order.

Flood control first: every item costs a token, and a client out of tokens is not read
until it has more (TCP pushes back on it alone).  Then each item becomes an intent at
the edge, in its front-end.  With one worker, a run of plain chat lines in one read (a
line client's, or an IRC client's PRIVMSGs to one room) goes to the chat as one call and
comes out as one outcome: the per-line work of applying, rendering and fanning out is
paid once per run.  With workers every line is its own event on the bus.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .bus import LocalBus
from .connection import CLOSED, Connection
from .core import intents as i
from .proto.ircinput import head_of, room_privmsg, run_text
from .proto.ircrun import Run
from .protocol import TextRun

if TYPE_CHECKING:
    from .admission import Pending
    from .bus import Bus
    from .config import Config
    from .core.chat import Chat, Outcomes
    from .delivery import Delivery
    from .linedoor import LineDoor
    from .loop import Loop
    from .proto.irc import IrcFront
    from .proto.line import LineFront

FLOOD_NOTICE = "you are sending too fast; your lines are delayed, not lost"
_SAY = i.Say


class Intake:
    """The server's input half (see server.py for the rest)."""

    config: Config
    loop: Loop
    bus: Bus
    chat: Chat
    delivery: Delivery
    line: LineFront
    irc: IrcFront
    door: LineDoor
    pending: Pending
    leaving: list[Connection]
    _deliver_outcomes: Callable[[Outcomes], None]

    if TYPE_CHECKING:

        def apply(self, intent: i.Intent) -> None: ...
        def process_leaving(self) -> None: ...
        def _update_events(self, conn: Connection) -> None: ...
        def _arm_idle(self, conn: Connection) -> None: ...
        @staticmethod
        def _cancel_timer(conn: Connection) -> None: ...

    def _deliver(self, conn: Connection) -> None:
        """Hands the parser's items to the chat in order while tokens last.

        Every item costs a token, even one that carries nothing (a blank line, a line
        that sanitises to nothing, a stretch of a too long line): input is never free."""
        parser = conn.parser
        rate = self.config.flood_rate
        budget = conn.refill(self.loop.clock(), rate, self.config.flood_burst) if rate else -1
        items = parser.take(budget)
        line = conn.front is self.line
        spent = items.lines  # a run of lines handed out as one item is as many items
        if line and self.door.watching(conn):
            items = self.door.items(conn, items)
            if items is None:
                return  # sent away (IRC, HTTP, no password)
        if not (self._line_items(conn, items) if line else self._irc_items(conn, items)):
            return  # it quit: the rest goes nowhere
        if rate:
            conn.tokens -= spent
            more = parser.has_line() if line else parser.has_item()  # type: ignore[union-attr]
            if spent == budget and more:
                self._hold_back(conn)

    def _line_items(self, conn: Connection, items: list) -> bool:  # type: ignore[type-arg]
        """Line items become intents; False once the client is leaving.

        In one process, a run of plain chat lines (what one read of a talking client
        holds) goes to the chat in one call and out as one outcome: the per-line work
        of applying, rendering and fanning out is paid once per run, not once per line.
        With workers every line is its own event on the bus, as before."""
        publish = self.bus.publish
        parse = conn.front.parse
        uid = conn.id
        run: list[str] = []
        batch = self.bus.__class__ is LocalBus and len(items) > 1
        for item in items:
            if item.__class__ is TextRun:  # plain chat lines, read at once: the parser
                run += item.chat  # hands them out so only where the chat takes runs
                continue
            if batch and item.__class__ is str and item and item[0] != "/":
                text = item.rstrip()
                if text:  # parse gives nothing for white space alone
                    run.append(text)
                continue
            if run:  # the run so far goes first: this item keeps its place
                self._say_run(uid, run)
                if conn.reason is not None:
                    return False
            if item.__class__ is str:
                if item:
                    intent = parse(uid, item)
                    if intent is not None:
                        publish(intent)
            else:
                conn.send(conn.front.too_long(conn.parser.max_line))  # type: ignore[union-attr]
            if conn.reason is not None:
                return False
        if run:
            self._say_run(uid, run)
        return conn.reason is None

    def _say_run(self, uid: str, run: list[str], room: str = "") -> None:
        """The chat lines of run (emptied), said by uid in order in room (or its own)."""
        if len(run) == 1:
            self.apply(_SAY(uid, room, run[0]))
        else:
            self._deliver_outcomes(self.chat.apply_run(uid, tuple(run), room))
        run.clear()

    def _irc_items(self, conn: Connection, items: list) -> bool:  # type: ignore[type-arg]
        """IRC items give intents and the replies that cannot wait for the chat; an ERROR
        reply (QUIT before registering, a refused registration) ends the connection.

        In one process, a run of "PRIVMSG #room :text" lines to one room goes to the
        chat as one call, as a line client's run of chat lines does (_line_items).  The
        framer may hand such lines out as one Run (proto/ircrun.py), whose texts are the
        run's, or its later ones; before registering its lines are read one by one."""
        publish = self.bus.publish
        feed = self.irc.feed
        uid = conn.id
        session = self.irc.sessions[uid]
        batch = self.bus.__class__ is LocalBus and session.registered
        run: list[str] = []
        room = ""
        head = b""  # "PRIVMSG #room :" of the run's first line
        try:
            for item in items:
                said = None
                if item.__class__ is Run:
                    if not batch:
                        if not self._irc_items(conn, item.lines()):
                            return False  # it quit: the rest goes nowhere
                        continue
                    if run and item.head != head:
                        self._say_run(uid, run, room)  # first: the Run keeps its place
                        if conn.reason is not None:
                            return False
                    if not run:
                        session.active = True
                        room, head = item.room, item.head
                    run += item.texts
                    continue
                if batch and item.__class__ is bytes:
                    if run:
                        text = run_text(item, head)
                        if text is not None:  # the run's room: its target is not read again
                            run.append(text)
                            continue
                    said = room_privmsg(uid, item)
                if run and (said is None or said.room != room):
                    self._say_run(uid, run, room)  # first: the next item keeps its place
                    if conn.reason is not None:
                        return False
                if said is not None:
                    session.active = True
                    room, head = said.room, head_of(item)
                    run.append(said.text)
                    continue
                intents, replies = feed(uid, item)
                if replies:
                    self.delivery.send_lines(conn, replies)
                    if any(r.startswith(b"ERROR ") for r in replies):
                        conn.close(CLOSED)
                if session.connected and conn in self.pending:
                    self.pending.discard(conn)  # registered: the chat counts it now
                for intent in intents:
                    publish(intent)
                if conn.reason is not None:
                    return False
            if run:
                self._say_run(uid, run, room)
            return conn.reason is None
        finally:
            if session.active:
                session.active = False
                conn.last_active = self.loop.clock()

    def _hold_back(self, conn: Connection) -> None:
        """Flood control: stop reading this client and replay its input at flood_rate.

        Not reading lets TCP push back on the flooder alone; what was read already waits
        as bytes in its parser, bounded by one recv and a line.
        """
        conn.held_back = True
        conn.reading = False
        self._update_events(conn)
        if conn.flood_notice_due:
            conn.flood_notice_due = False
            conn.send(conn.front.error(FLOOD_NOTICE))
        self._cancel_timer(conn)
        delay = conn.token_delay(self.config.flood_rate)
        conn.timer = self.loop.call_later(delay, lambda: self._release(conn))

    def _release(self, conn: Connection) -> None:
        conn.timer = None
        if conn.reason is not None or not conn.held_back:
            return
        conn.held_back = False
        self._deliver(conn)
        if not conn.held_back and conn.reason is None:
            conn.reading = True
            # Not read meanwhile: silence proves nothing.
            conn.last_active = conn.last_heard = self.loop.clock()
            self._update_events(conn)
            self._arm_idle(conn)
        if self.leaving:
            self.process_leaving()
