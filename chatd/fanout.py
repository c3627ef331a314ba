"""A room's output for one tick, kept once for all its members of one protocol.

A room line is not appended to every member's queue: it goes to the room's ``lines``
for the tick, and at the end of the tick those are joined once and the one bytes object
is sent to every member whose output this tick is exactly that (the common case).  A
member whose output differs falls back to its own queue for the rest of the tick, in
order: its share of the lines so far is copied to its queue first ("solo"), and the
room's later lines are appended to it as they come.  That happens to

- the sender of a line (it never gets its own),
- a member that gets anything of its own (a private line, a reply, a notice),
- a member that joins while the room has lines this tick (it gets only what follows),
- a member of two rooms that both speak in one tick (their lines interleave);

a member that leaves takes what it got while it was in.  Anything already in a member's
queue when the room's first line of the tick comes (unsent bytes, an earlier private
line) goes out before the room's bytes.  So every member's stream is exactly what it
would be with a queue per member, at the cost of one append per room line.

Here too are what an audience holds, a Session (a user whose socket this process holds)
and its FrontEnd, so that delivery.py, which builds audiences, sits above this module.
"""

from __future__ import annotations

from typing import Protocol

from .core import outcomes as o
from .core.intents import Intent
from .core.outcomes import Outcome


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

    __slots__ = ("id", "label", "front", "out", "nick", "seats")

    def __init__(self, id: str, label: str, front: FrontEnd) -> None:
        self.id = id
        self.label = label  # where the user connects from, for the logs
        self.front = front
        # Queued output, written by the socket's owner; the same list object for the
        # session's life (an audience's solo members are appended to through it).
        self.out: list[bytes] = []
        self.nick = ""
        self.seats: tuple[Audience, ...] = ()  # the audiences of its rooms


class Audience:
    """The members of one room who use one front-end: one encoding of each room line."""

    __slots__ = ("front", "members", "lines", "solo", "multi")

    def __init__(self, front: FrontEnd) -> None:
        self.front = front
        self.members: set[Session] = set()
        self.lines: list[bytes] = []  # this tick's room lines, in order
        # This tick's members on their own queue (each value is that session's out, the
        # room's later lines are appended to them all in one pass).
        self.solo: dict[Session, list[bytes]] = {}
        self.multi: set[Session] = set()  # members in other rooms too

    def __repr__(self) -> str:
        return f"<Audience {self.front.protocol} {len(self.members)} members>"


def attached(session: Session) -> Audience | None:
    """The audience whose lines this tick are the end of session's output, if any."""
    for audience in session.seats:
        if audience.lines and session not in audience.solo:
            return audience
    return None


def go_solo(session: Session, audience: Audience, dirty: set[Session]) -> None:
    """From now on this tick, audience's lines for session go to its own queue."""
    if session not in audience.solo:
        take_over(session)  # what it was to get of its rooms so far comes first
        audience.solo[session] = session.out
        dirty.add(session)


def take_over(session: Session) -> bool:
    """The room lines session has coming this tick go to its own queue, and that room's
    later ones after them; False if it had none coming."""
    seat = attached(session)
    if seat is None:
        return False
    session.out += seat.lines
    seat.solo[session] = session.out
    return True


def detach(session: Session, dirty: set[Session]) -> None:
    """Before anything else is queued for session (it joins dirty)."""
    take_over(session)
    dirty.add(session)


def wake(audience: Audience, dirty: set[Session]) -> None:
    """The audience's first line this tick: a member of another room that speaks this
    tick too gets both rooms through its own queue, in the order they spoke."""
    for session in audience.multi:
        for other in session.seats:
            if other is not audience and other.lines:
                go_solo(session, audience, dirty)
                break


def seat(session: Session, audience: Audience, dirty: set[Session]) -> None:
    """session joins audience (mid-tick, it gets only the lines that follow)."""
    if session.seats:
        if len(session.seats) == 1:
            session.seats[0].multi.add(session)
        audience.multi.add(session)
    if audience.lines:  # its other room's lines so far first; none of this one's
        detach(session, dirty)
        audience.solo[session] = session.out
    audience.members.add(session)
    session.seats = (*session.seats, audience)


def unseat(session: Session, audience: Audience, dirty: set[Session]) -> None:
    """session leaves audience, keeping the lines it got while it was in."""
    if audience.lines and session not in audience.solo:
        detach(session, dirty)
    audience.members.discard(session)
    audience.solo.pop(session, None)
    audience.multi.discard(session)
    seats = tuple(a for a in session.seats if a is not audience)
    session.seats = seats
    if len(seats) == 1:
        seats[0].multi.discard(session)
