"""Outcomes -> the output of this process's users, each in its own protocol.

Every replica gets every outcome; only the users whose sockets this process holds (its
sessions) get bytes.  A room line is encoded once per protocol present in the room and
kept once, in the room's lines for the tick (fanout.py): at the end of the tick the
writer joins them once and sends that one bytes object to every member whose output this
tick is exactly that.  Whatever is for one session (a reply, a private line) goes to its
own queue, a plain list of bytes objects, and the session is recorded in ``dirty``; a
member whose output this tick differs from its room's takes the room's lines through its
queue too, in order.  The per-delivery cost is what bounds a chat server's fan-out: here
a room line costs one append, whatever the size of the room.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from itertools import repeat
from typing import Any

from .core import outcomes as o
from .core.outcomes import Outcome
from .fanout import (  # FrontEnd and Session live there: the audiences hold them
    Audience,
    FrontEnd,
    Session,
    detach,
    go_solo,
    seat,
    take_over,
    unseat,
    wake,
)

log = logging.getLogger("chatd.chat")

_consume = deque(maxlen=0).extend  # runs an iterator to its end at C speed


def _nothing(session: Session, *args: Any) -> None:
    pass


class Delivery:
    def __init__(self, log_messages: bool = False) -> None:
        self.log_messages = log_messages
        self.local: dict[str, Session] = {}  # by member id
        # Room name -> front-end -> its members there.  Outcomes always name a room as
        # the chat spells it (its creator's spelling, for as long as it exists), so the
        # name is the key as it comes: no folding per line.
        self.rooms: dict[str, dict[FrontEnd, Audience]] = {}
        self.dirty: set[Session] = set()  # sessions with output queued in their own queue
        self.loud: list[Audience] = []  # audiences with lines this tick (each once)
        self.on_welcome: Callable[[Session], None] = _nothing
        self.on_refused: Callable[[Session, o.Refused], None] = _nothing
        self.on_bye: Callable[[Session, str], None] = _nothing
        self._by_kind: dict[type, Callable[[Any], None]] = {
            o.Said: self._talk,
            o.SaidRun: self._talk,
            o.Acted: self._talk,
            o.Noticed: self._noticed,
            o.Joined: self._joined,
            o.Parted: self._parted,
            o.Left: self._left,
            o.NickChanged: self._nick,
            o.TopicSet: self._to_room,
            o.RoomModeChanged: self._to_room,
            o.Kicked: self._kicked,
            o.Whispered: self._whispered,
            o.Welcomed: self._welcomed,
            o.Refused: self._refused,
            o.Bye: self._bye,
        }

    def add(self, session: Session) -> None:
        self.local[session.id] = session

    def pending(self) -> bool:
        return bool(self.dirty or self.loud)

    def take(self) -> tuple[list[Audience], set[Session]]:
        """The audiences with lines and the sessions with output of their own, for the
        flush (which empties the audiences' lines); the next tick starts afresh."""
        loud, self.loud = self.loud, []
        dirty, self.dirty = self.dirty, set()
        return loud, dirty

    def settle(self) -> None:
        """Ends the tick without sockets: every member gets its room's lines in its own
        queue (the same joined bytes object for all), as if they had been sent."""
        loud, dirty = self.take()
        for audience in loud:
            lines = audience.lines
            data = b"".join(lines)
            for session in audience.members.difference(audience.solo):
                session.out.append(data)
            lines.clear()
            audience.solo.clear()
        self.dirty = dirty

    def own_queue(self, session: Session) -> list[bytes]:
        """session's output so far, all in its own queue (room lines it has coming too)."""
        if take_over(session):
            self.dirty.add(session)  # the room's later lines this tick come to its queue
        return session.out

    def deliver(self, outcomes: Iterable[Outcome]) -> None:
        by_kind, local = self._by_kind, self.local
        for out in outcomes:
            handle = by_kind.get(out.__class__)
            if handle is not None:
                handle(out)
            else:  # addressed to one user
                session = local.get(out.to)  # type: ignore[union-attr]
                if session is not None:
                    self.send_lines(session, session.front.own(out, session.id))

    def send(self, session: Session, data: bytes) -> None:
        """Queues data for session alone, after whatever it has coming."""
        detach(session, self.dirty)
        session.out.append(data)

    def send_lines(self, session: Session, lines: list[bytes] | tuple[bytes, ...]) -> None:
        if lines:
            detach(session, self.dirty)
            session.out += lines

    def notify_all(self, text: str) -> None:
        """A notice of the server's own to every local user (shutting down)."""
        for session in self.local.values():
            self.send(session, session.front.notice(text))

    # Rooms.

    def _broadcast(self, key: str, out: Outcome, skip: Session | None, done: Any = ()) -> None:
        """Queues out for everyone in the room but skip: one encode per protocol, one pass
        per protocol, no call per recipient; not to the front-ends in done."""
        protocols = self.rooms.get(key)
        if protocols is None:
            return
        for front, audience in protocols.items():
            if front in done and done[front] is not None:
                continue
            data = front.room(out)
            if data is not None:
                self._fan(audience, data, skip)

    def _fan(self, audience: Audience, data: bytes, skip: Session | None) -> None:
        """data for every member of audience but skip (the actor), as the tick's next
        room line: one append, plus one per member on its own queue this tick."""
        if not audience.lines:
            self.loud.append(audience)
            if audience.multi:
                wake(audience, self.dirty)
        solo = audience.solo
        if skip is not None and skip not in solo and skip in audience.members:
            go_solo(skip, audience, self.dirty)
        audience.lines.append(data)
        if solo:
            _consume(map(list.append, solo.values(), repeat(data)))
            if skip in solo:
                skip.out.pop()  # type: ignore[union-attr]  # its own copy, appended last

    def _enter(self, key: str, session: Session) -> None:
        protocols = self.rooms.setdefault(key, {})
        audience = protocols.get(session.front)
        if audience is None:
            audience = protocols[session.front] = Audience(session.front)
        seat(session, audience, self.dirty)

    def _leave(self, key: str, session: Session) -> None:
        protocols = self.rooms.get(key)
        if protocols is None:
            return
        audience = protocols.get(session.front)
        if audience is None or session not in audience.members:
            return
        unseat(session, audience, self.dirty)
        if not audience.members:
            del protocols[session.front]
            if not protocols:
                del self.rooms[key]

    def _own(self, uid: str, out: Outcome) -> None:
        session = self.local.get(uid)
        if session is not None:
            self.send_lines(session, session.front.own(out, uid))

    # By kind of outcome.

    def _talk(self, out: o.Said | o.SaidRun | o.Acted) -> None:
        """_broadcast with _fan written out: this is the path of every chat line (the call
        costs 1.7 % of the instructions per delivery at fanout 10); keep the two alike."""
        protocols = self.rooms.get(out.room)
        sender = self.local.get(out.by)
        if sender is not None and self.log_messages:
            for text in out.texts if out.__class__ is o.SaidRun else (out.text,):  # type: ignore[union-attr]
                log.info("%s <%s> %s", out.room, out.nick, text)
        if protocols is None:
            return
        for audience in protocols.values():
            data = audience.front.room(out)
            if data is None:
                continue
            lines = audience.lines
            if not lines:
                self.loud.append(audience)
                if audience.multi:
                    wake(audience, self.dirty)
            solo = audience.solo
            if sender is not None and sender not in solo and sender in audience.members:
                go_solo(sender, audience, self.dirty)
            lines.append(data)
            if solo:
                _consume(map(list.append, solo.values(), repeat(data)))
                if sender in solo:
                    sender.out.pop()  # type: ignore[union-attr]  # its own copy, appended last

    def _noticed(self, out: o.Noticed) -> None:
        if out.room:
            self._broadcast(out.room, out, self.local.get(out.by))
        else:
            self._own(out.to, out)

    def _to_room(self, out: o.TopicSet | o.RoomModeChanged) -> None:
        self._broadcast(out.room, out, None)

    def _joined(self, out: o.Joined) -> None:
        key = out.room
        session = self.local.get(out.by)
        self._broadcast(key, out, session)
        if session is not None:
            self._enter(key, session)
            self._own(out.by, out)

    def _parted(self, out: o.Parted) -> None:
        key = out.room
        session = self.local.get(out.by)
        if session is not None:
            self._leave(key, session)
        self._broadcast(key, out, None)
        self._own(out.by, out)

    def _kicked(self, out: o.Kicked) -> None:
        key = out.room
        self._broadcast(key, out, None)
        session = self.local.get(out.target)
        if session is not None:
            self._leave(key, session)

    def _left(self, out: o.Left) -> None:
        session = self.local.pop(out.by, None)
        if session is not None:
            for room in out.rooms:
                self._leave(room, session)
            log.info("%s disconnected (%s)", out.nick, out.reason)
        once: dict[FrontEnd, bytes | None] = {}  # a front-end with a word for a quit (IRC)
        seen: set[Session] = set()
        for room in out.rooms:
            for front, audience in self.rooms.get(room, {}).items():
                if front not in once:
                    once[front] = front.room(out)
                data = once[front]
                if data is None:
                    continue
                for s in audience.members:  # someone in two of the rooms hears the quit once
                    if s not in seen:
                        seen.add(s)
                        self.send(s, data)
            # Each room hears it in the words of a departure from that room.
            self._broadcast(room, o.Parted(room, out.by, out.nick, out.reason), None, once)

    def _nick(self, out: o.NickChanged) -> None:
        session = self.local.get(out.by)
        if session is not None:
            session.nick = out.new
            log.info("%s is now known as %s", out.old, out.new)
            self._own(out.by, out)
        if len(out.rooms) == 1:
            self._broadcast(out.rooms[0], out, session)
            return
        seen: set[Session] = set() if session is None else {session}
        for room in out.rooms:  # someone in two of the rooms hears it once
            for front, audience in self.rooms.get(room, {}).items():
                fresh = [s for s in audience.members if s not in seen]
                if fresh:
                    seen.update(fresh)
                    data = front.room(out)
                    if data is not None:
                        for s in fresh:
                            self.send(s, data)

    def _whispered(self, out: o.Whispered) -> None:
        sender = self.local.get(out.by)
        if sender is not None and self.log_messages:
            log.info("*%s* -> *%s* %s", out.nick, out.to_nick, out.text)
        self._own(out.to, out)
        if out.by != out.to:
            self._own(out.by, out)

    def _welcomed(self, out: o.Welcomed) -> None:
        session = self.local.get(out.to)
        if session is not None:
            session.nick = out.nick
            log.info("%s connected from %s", out.nick, session.label)
            self.send_lines(session, session.front.own(out, out.to))
            self.on_welcome(session)

    def _refused(self, out: o.Refused) -> None:
        session = self.local.pop(out.to, None)
        if session is not None:
            self.on_refused(session, out)

    def _bye(self, out: o.Bye) -> None:
        session = self.local.get(out.to)
        if session is not None:
            self._own(out.to, out)
            self.on_bye(session, out.reason)
