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


def head_of(line: bytes) -> bytes:
    """ "PRIVMSG #room :" of a line room_privmsg read: what the lines after it in its run
    start with."""
    return line[: line.index(b" :") + 2]


def run_text(line: bytes, head: bytes) -> str | None:
    """The text room_privmsg would give a line that starts with head (head_of the run's
    first line), without reading the target again: the first " :" of such a line ends
    head, since a room name holds no space, so its room is the run's.  None for anything
    else, which goes the way room_privmsg sends it."""
    if not line.startswith(head):
        return None
    raw = line[len(head) :]
    if not raw or raw[0] == 1 or 0 in line:
        return None
    return p.sanitise(raw.decode("utf-8", "replace")) or None
