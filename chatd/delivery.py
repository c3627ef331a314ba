"""Outcomes -> the output queues of this process's users, each in its own protocol.

Every replica gets every outcome; only the users whose sockets this process holds (its
sessions) get bytes.  Each session owns an output queue, a plain list of bytes objects;
delivery appends to the queues and records which sessions have new output in ``dirty``,
and whoever owns the sockets writes the queues out.  A room line is encoded once per
protocol present in the room, and that one bytes object is appended to every recipient of
that protocol in one pass at C speed (the per-delivery cost is what bounds a chat
server's fan-out).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from itertools import repeat
from typing import Any, Protocol

from .core import outcomes as o
from .core.intents import Intent
from .core.outcomes import Outcome

log = logging.getLogger("chatd.chat")

_consume = deque(maxlen=0).extend  # runs an iterator to its end at C speed

Queues = dict["Session", list[bytes]]


class FrontEnd(Protocol):
    protocol: str

    def room(self, out: Outcome) -> bytes | None: ...

    def own(self, out: Outcome, uid: str) -> list[bytes] | tuple[bytes, ...]: ...

    def refusal(self, out: o.Refused) -> bytes: ...

    def notice(self, text: str) -> bytes: ...

    def error(self, text: str) -> bytes: ...

    def too_long(self, max_line: int) -> bytes: ...

    def parse(self, uid: str, text: str) -> Intent | None: ...


class Session:
    """One user whose socket this process holds, as delivery sees it."""

    __slots__ = ("id", "label", "front", "out", "nick")

    def __init__(self, id: str, label: str, front: FrontEnd) -> None:
        self.id = id
        self.label = label  # where the user connects from, for the logs
        self.front = front
        self.out: list[bytes] = []  # queued output, written by the socket's owner
        self.nick = ""


def _nothing(session: Session, *args: Any) -> None:
    pass


class Delivery:
    def __init__(self, log_messages: bool = False) -> None:
        self.log_messages = log_messages
        self.local: dict[str, Session] = {}  # by member id
        # Room name -> front-end -> session -> its queue: what a room line is appended to.
        # Outcomes always name a room as the chat spells it (its creator's spelling, for
        # as long as it exists), so the name is the key as it comes: no folding per line.
        self.rooms: dict[str, dict[FrontEnd, Queues]] = {}
        self.dirty: set[Session] = set()  # sessions with output queued since the last flush
        # The queue dicts whose sessions are all in dirty already (by id): a room that
        # hears many lines in one tick is added to dirty once, not once per line.
        self._marked: set[int] = set()
        self.on_welcome: Callable[[Session], None] = _nothing
        self.on_refused: Callable[[Session, o.Refused], None] = _nothing
        self.on_bye: Callable[[Session, str], None] = _nothing
        self._by_kind: dict[type, Callable[[Any], None]] = {
            o.Said: self._talk,
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

    def take_dirty(self) -> set[Session]:
        """The sessions with new output, for the flush; the next ones start empty."""
        dirty, self.dirty = self.dirty, set()
        self._marked.clear()
        return dirty

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
        session.out.append(data)
        self.dirty.add(session)

    def send_lines(self, session: Session, lines: list[bytes] | tuple[bytes, ...]) -> None:
        if lines:
            session.out += lines
            self.dirty.add(session)

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
        for front, queues in protocols.items():
            if front in done and done[front] is not None:
                continue
            data = front.room(out)
            if data is None:
                continue
            _consume(map(list.append, queues.values(), repeat(data)))
            if skip is not None and skip in queues:
                skip.out.pop()  # its own copy, appended last a moment ago
            if id(queues) not in self._marked:
                self._marked.add(id(queues))
                self.dirty.update(queues)

    def _enter(self, key: str, session: Session) -> None:
        protocols = self.rooms.setdefault(key, {})
        protocols.setdefault(session.front, {})[session] = session.out
        # Its queue dict may be marked already: the session must be in dirty on its own.
        self.dirty.add(session)

    def _leave(self, key: str, session: Session) -> None:
        protocols = self.rooms.get(key)
        if protocols is None:
            return
        queues = protocols.get(session.front)
        if queues is None or queues.pop(session, None) is None:
            return
        if not queues:
            del protocols[session.front]
            if not protocols:
                del self.rooms[key]

    def _own(self, uid: str, out: Outcome) -> None:
        session = self.local.get(uid)
        if session is not None:
            self.send_lines(session, session.front.own(out, uid))

    # By kind of outcome.

    def _talk(self, out: o.Said | o.Acted) -> None:
        """_broadcast, inline: this is the path of every chat line."""
        protocols = self.rooms.get(out.room)
        sender = self.local.get(out.by)
        if sender is not None and self.log_messages:
            log.info("%s <%s> %s", out.room, out.nick, out.text)
        if protocols is None:
            return
        marked = self._marked
        for front, queues in protocols.items():
            data = front.room(out)
            if data is None:
                continue
            _consume(map(list.append, queues.values(), repeat(data)))
            if sender is not None and sender in queues:
                sender.out.pop()  # its own copy, appended last a moment ago
            if id(queues) not in marked:
                marked.add(id(queues))
                self.dirty.update(queues)

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
            for front, queues in self.rooms.get(room, {}).items():
                if front not in once:
                    once[front] = front.room(out)
                data = once[front]
                if data is None:
                    continue
                for s in queues:  # someone in two of the rooms hears the quit once
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
            for front, queues in self.rooms.get(room, {}).items():
                fresh = [s for s in queues if s not in seen]
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
