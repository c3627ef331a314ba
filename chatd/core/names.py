"""The nick and room name rules and their case folding: one set for every protocol."""

from __future__ import annotations

import re
import string
from typing import Final

_NAME = "[A-Za-z][A-Za-z0-9_-]"
NICK_RE: Final = re.compile(_NAME + "{0,23}")
ROOM_RE: Final = re.compile(_NAME + "{0,31}")
NICK_LEN: Final = 24
ROOM_LEN: Final = 32  # after the '#'


def valid_nick(name: str) -> bool:
    return NICK_RE.fullmatch(name) is not None


def valid_room(name: str) -> bool:
    """'#lobby' is a room name; 'lobby' is not (the '#' is part of it)."""
    return name.startswith("#") and ROOM_RE.fullmatch(name, 1) is not None


def normalise_room(name: str) -> str | None:
    """'lobby' or '#lobby' -> '#lobby'; None if the name breaks the rules."""
    bare = name[1:] if name.startswith("#") else name
    return "#" + bare if ROOM_RE.fullmatch(bare) else None


# str.lower() maps some non-ASCII letters into ASCII (KELVIN SIGN to 'k'), which would let
# a look-alike run a command or reach a nick: names fold ASCII case only.
_ASCII_LOWER: Final = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def fold(name: str) -> str:
    """The key of a nick, room or command name: ASCII letters lowered, nothing else."""
    return name.lower() if name.isascii() else name.translate(_ASCII_LOWER)
