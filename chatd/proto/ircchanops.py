"""IRC room commands whose parameters need more than a split: NAMES (several rooms, one
end), MODE (letters and their arguments), KICK (rooms paired with nicks). Each turns one
command into intents for the chat, or into the numeric that refuses it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core import intents as i
from ..core.names import fold
from . import ircnumerics as n
from .ircreply import MAX_MODES, MAX_TARGETS, word

if TYPE_CHECKING:
    from .irc import IrcFront, IrcSession, Reply


def targets(text: str) -> list[str]:
    return [t for t in text.split(",") if t][:MAX_TARGETS]


def names(front: IrcFront, s: IrcSession, args: tuple[str, ...]) -> Reply:
    if not args:
        return front._reject(s, n.RPL_ENDOFNAMES, "*")
    asked = targets(args[0])
    # A room that does not exist is no error: the list just has nothing of it.
    known = [name for name in asked if fold(name) in front.chat.rooms]
    end = ",".join(asked) or args[0]
    s.names_pending = None
    if not known:
        return front._reject(s, n.RPL_ENDOFNAMES, end)
    if len(asked) > 1:  # one 366 after the last room, naming what was asked
        s.names_pending = [len(known), end]
    return [i.Who(s.id, name) for name in known], []


def mode(front: IrcFront, s: IrcSession, args: tuple[str, ...]) -> Reply:
    if not args:
        return front._need(s, "MODE")
    target, words = args[0], args[1:]
    if not words:
        return [i.Mode(s.id, target, ())], []
    changes: list[tuple[str, str | None]] = []
    rest = iter(words[1:])
    sign = "+"
    for letter in words[0]:
        if letter in "+-":
            sign = letter
            continue
        takes = letter in "ovbk" or (sign == "+" and letter == "l")
        changes.append((sign + letter, next(rest, None) if takes else ""))
    if not changes:
        return [i.Mode(s.id, target, ())], []
    # A key given empty, or a key or mask with a space, could not be shown in a MODE line.
    bad = [c for c in changes if c[1] is not None and c[0][1] == "k" and word(c[1]) != c[1]]
    bad += [c for c in changes if c[1] and word(c[1]) != c[1]]
    if bad:
        return front._reject(
            s, n.ERR_INVALIDMODEPARAM, target, bad[0][0][1], "*", "Invalid mode parameter"
        )
    given = [(letter, arg or "") for letter, arg in changes][:MAX_MODES]
    missing = [c for c in given if c[0][1] in "ovk" and not c[1]]
    if missing and not (target.startswith("#") and given == [("+b", "")]):
        return front._need(s, "MODE")
    return [i.Mode(s.id, target, tuple(given))], []


def kick(front: IrcFront, s: IrcSession, args: tuple[str, ...]) -> Reply:
    if len(args) < 2 or not args[1]:
        return front._need(s, "KICK")
    reason = args[2] if len(args) > 2 else ""
    rooms, nicks = targets(args[0]), targets(args[1])
    if len(rooms) == 1:
        return [i.Kick(s.id, rooms[0], nick, reason) for nick in nicks], []
    if len(rooms) != len(nicks):  # several rooms: one nick for each, in order
        return front._need(s, "KICK")
    return [i.Kick(s.id, room, nick, reason) for room, nick in zip(rooms, nicks, strict=True)], []
