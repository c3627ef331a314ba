"""A client's line read the short way: "PRIVMSG #room :text", the commonest line there is,
costs a partition and two decodes instead of the general parser and a handler (which
stay the reference: tests/test_irc_fastpath.py holds the two to the same answer)."""

from __future__ import annotations

from .. import protocol as p
from ..core import intents as i


def room_privmsg(uid: str, line: bytes) -> i.Say | None:
    """The commonest line of all, "PRIVMSG #room :text", read without the general parser:
    the Say it gives, or None for anything else (a list of targets, CTCP, a NUL, text
    that sanitising empties), which goes the general way and gets the same answer.

    Byte tests use int needles: ``32 in target`` costs a tenth of ``b" " in target``."""
    if not line.startswith(b"PRIVMSG #"):
        return None
    head, colon, raw = line.partition(b" :")
    target = head[8:]
    if not colon or not raw or raw[0] == 1 or 32 in target or 44 in target:  # space, comma
        return None
    if 0 in line:  # the parser drops NUL bytes before decoding: leave it to it
        return None
    room = target.decode("utf-8", "replace")
    text = p.sanitise(raw.decode("utf-8", "replace"))
    if not text or not room.isprintable():
        return None
    return i.Say(uid, room, text)
