"""What a user (or the master) asks of the chat: frozen, slotted, JSON-friendly fields.

Every field is a str, bool, int, float, None, a tuple of those or a dict (the master's
settings and state), so that the bus codec (chatd.codec) can carry any intent.  ``id`` is
the user's member id, "WORKER:N".  A ``room`` of "" means the user's current room (the one
it joined last): a front-end that has one room per user (the line protocol) never has to
guess what the ordered chat will have made of its earlier intents.
"""

from __future__ import annotations

from typing import Any

from .record import record

# A mode change: ("+o", "bob"), ("-t", ""), ("+l", "10"), ("+b", "*!*@10.0.0.7").
Change = tuple[str, str]


def mode_words(changes: tuple[Change, ...]) -> tuple[str, list[str]]:
    """(("+o", "bob"), ("+t", "")) -> ("+ot", ["bob"]): the letters with each sign once,
    then the arguments in order (how both front-ends write a mode change)."""
    letters, args, sign = "", [], ""
    for name, arg in changes:
        if name[0] != sign:
            sign = name[0]
            letters += sign
        letters += name[1:]
        if arg:
            args.append(arg)
    return letters, args


@record
class Connect:
    """A new connection; ``lobby``: it lands in the default room (line users do)."""

    id: str
    label: str  # where it connects from: the address limits count by
    protocol: str = "line"
    lobby: bool = False
    ident: str = ""  # the user name it gave (IRC's USER); empty: its protocol stands in


@record
class Disconnect:
    id: str
    reason: str


@record
class Quit:
    """The user asked to leave: it is told goodbye, then the rooms see the reason."""

    id: str
    reason: str


@record
class Say:
    id: str
    room: str
    text: str


@record
class Act:
    id: str
    room: str
    text: str


@record
class Notice:
    """A notice to a room ('#...') or a nick; the chat never answers one automatically.
    ``quiet``: not even with an error (IRC's NOTICE: no reply of any kind)."""

    id: str
    target: str
    text: str
    quiet: bool = False


@record
class Private:
    id: str
    target: str  # a nick
    text: str


@record
class Nick:
    id: str
    name: str


@record
class Join:
    """room "" is the default room; ``move`` leaves the current room if the join succeeds
    (a line user's /join: a refused one keeps the user where it was)."""

    id: str
    room: str
    key: str = ""
    move: bool = False
    at: float = 0.0  # the sender's clock: a room it creates was created then


@record
class Part:
    id: str
    room: str
    reason: str = ""


@record
class Topic:
    """text None asks for the topic; "" clears it.  ``at`` is the sender's clock (the
    chat reads none), seconds since the epoch."""

    id: str
    room: str
    text: str | None = None
    at: float = 0.0


@record
class Mode:
    """target is a room or the user's own nick; no changes asks for the modes."""

    id: str
    target: str
    changes: tuple[Change, ...] = ()


@record
class Kick:
    id: str
    room: str
    nick: str
    reason: str = ""


@record
class Invite:
    id: str
    nick: str
    room: str


@record
class Away:
    """text None (or "") is back."""

    id: str
    text: str | None = None


@record
class Who:
    """The members of a room."""

    id: str
    room: str = ""


@record
class Rooms:
    """The rooms the user may see, with their sizes and topics."""

    id: str


@record
class Help:
    id: str


@record
class Reject:
    """Input the front-end refused (a usage error): an error in the user's own order,
    after the answers to what it sent before."""

    id: str
    code: str
    args: tuple[str, ...] = ()


# The master's own: never from a worker.


@record
class Settings:
    """A reload: ``shared`` is what every replica applies (chat.REPLICATED); ``config``
    the whole new config, for each process's server (None: only the shared part)."""

    shared: dict[str, Any]
    config: dict[str, Any] | None = None


@record
class State:
    """The chat as it stands, for a worker that starts while others run."""

    snapshot: dict[str, Any]


@record
class Gone:
    """A worker died: its users left with it."""

    worker: int
    reason: str


UserIntent = (
    Connect
    | Disconnect
    | Quit
    | Say
    | Act
    | Notice
    | Private
    | Nick
    | Join
    | Part
    | Topic
    | Mode
    | Kick
    | Invite
    | Away
    | Who
    | Rooms
    | Help
    | Reject
)
Intent = UserIntent | Settings | State | Gone

USER_INTENTS: tuple[type, ...] = UserIntent.__args__  # type: ignore[attr-defined]
MASTER_INTENTS: tuple[type, ...] = (Settings, State, Gone)
