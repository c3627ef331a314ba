"""What happened, for the front-ends to word: frozen and slotted, no wire text.

Each outcome names its recipients: ``to`` (a user id) for one user, ``room`` (the room's
name) for everyone in a room, ``rooms`` for every room a user was in.  ``by`` is the id of
the user who caused it and ``nick`` that user's nick; the recipients' front-ends decide
whether the actor sees it too (the line protocol never echoes chat to its sender).
Errors and refusals are codes with arguments, worded by each front-end.
"""

from __future__ import annotations

from .intents import Change
from .record import record


@record
class Welcomed:
    to: str
    nick: str


@record
class Refused:
    """A connection over a limit: code "server_full" (max) or "per_ip"."""

    to: str
    code: str
    args: tuple[str, ...] = ()


@record
class Error:
    to: str
    code: str
    args: tuple[str, ...] = ()


@record
class Info:
    """A notice to one user that is not an error: "already_nick", "inviting", "away"."""

    to: str
    code: str
    args: tuple[str, ...] = ()


@record
class Said:
    room: str
    by: str
    nick: str
    text: str


@record
class SaidRun:
    """Several chat lines of one user in a row, in one room: what a single read of a
    line client's socket usually holds; rendered and fanned out once for all of them."""

    room: str
    by: str
    nick: str
    texts: tuple[str, ...]


@record
class Acted:
    room: str
    by: str
    nick: str
    text: str


@record
class Noticed:
    """room "" is a notice to the one user ``to``."""

    room: str
    to: str
    by: str
    nick: str
    text: str


@record
class Whispered:
    """A private message: ``to`` reads it, ``by`` gets the confirmation."""

    to: str
    by: str
    nick: str
    to_nick: str
    text: str


@record
class Joined:
    room: str
    by: str
    nick: str


@record
class Names:
    """The members of a room as (prefix, nick), "@" op, "+" voice; ``joined``: the
    answer to the user's own join rather than to a question."""

    to: str
    room: str
    members: tuple[tuple[str, str], ...]
    joined: bool = False


@record
class Parted:
    room: str
    by: str
    nick: str
    reason: str


@record
class Left:
    """A user left the server; ``rooms`` it was in (each sees it once)."""

    by: str
    nick: str
    reason: str
    rooms: tuple[str, ...]


@record
class Bye:
    """The user's own quit: the front-end says goodbye and closes the connection."""

    to: str
    reason: str


@record
class NickChanged:
    by: str
    old: str
    new: str
    rooms: tuple[str, ...]


@record
class TopicSet:
    room: str
    by: str
    nick: str
    text: str
    at: float


@record
class TopicIs:
    """text "" is no topic."""

    to: str
    room: str
    text: str
    setter: str
    at: float


@record
class Kicked:
    room: str
    by: str
    nick: str
    target: str
    target_nick: str
    reason: str


@record
class Invited:
    to: str
    by: str
    nick: str
    room: str


@record
class RoomModeChanged:
    room: str
    by: str
    nick: str
    changes: tuple[Change, ...]


@record
class UserModeChanged:
    to: str
    nick: str
    changes: tuple[Change, ...]


@record
class ModeIs:
    """target's modes as "+nt" and their arguments (a key, a limit)."""

    to: str
    target: str
    modes: str
    args: tuple[str, ...] = ()
    created: float = 0.0  # a room's creation time, 0 if unknown


@record
class BanList:
    to: str
    room: str
    masks: tuple[str, ...]


@record
class AwayChanged:
    to: str
    away: bool


@record
class RoomList:
    """(name, members, topic) of every room the user may see, by folded name."""

    to: str
    rooms: tuple[tuple[str, int, str], ...]


@record
class Helped:
    to: str


Outcome = (
    Welcomed
    | Refused
    | Error
    | Info
    | Said
    | SaidRun
    | Acted
    | Noticed
    | Whispered
    | Joined
    | Names
    | Parted
    | Left
    | Bye
    | NickChanged
    | TopicSet
    | TopicIs
    | Kicked
    | Invited
    | RoomModeChanged
    | UserModeChanged
    | ModeIs
    | BanList
    | AwayChanged
    | RoomList
    | Helped
)
