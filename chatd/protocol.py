"""The chatd line protocol, version 1: bytes <-> lines, sanitising, formatting.

Nothing here owns a socket or reads a clock, so every rule of the wire contract can be
tested in memory.  See docs/protocol.md for the contract itself.
"""

from __future__ import annotations

import re
import string
from typing import Final

CRLF: Final = b"\r\n"

# Telnet (RFC 854): IAC introduces a command; WILL/WONT/DO/DONT take one option byte;
# SB ... IAC SE is a subnegotiation whose payload is dropped whole.
IAC: Final = 0xFF
SB: Final = 0xFA
SE: Final = 0xF0
WILL_TO_DONT: Final = range(0xFB, 0xFF)

_TEXT, _IAC, _OPTION, _SUB, _SUB_IAC = range(5)


class LineTooLong:
    """Marks, in the parser's output, a line that was discarded for its length."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "LINE_TOO_LONG"


LINE_TOO_LONG: Final = LineTooLong()


class LineParser:
    """Splits a byte stream into text lines, whatever the chunking.

    Lines end in LF (a CR before it is dropped).  A line longer than ``max_line`` bytes
    (terminator excluded) is reported once as LINE_TOO_LONG and discarded up to its next
    line end, so memory stays bounded by ``max_line`` whatever the peer sends.
    """

    __slots__ = ("max_line", "_buf", "_discarding", "_telnet")

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self._buf = b""
        self._discarding = False
        self._telnet = _TEXT

    def feed(self, data: bytes) -> list[str | LineTooLong]:
        """Complete lines, decoded and sanitised; blank lines are left out."""
        if self._telnet != _TEXT or b"\xff" in data:
            data = self._strip_telnet(data)
        out: list[str | LineTooLong] = []
        if self._buf:
            data = self._buf + data
        start = 0
        limit = self.max_line
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            stop = end - 1 if end > start and data[end - 1] == 13 else end
            if self._discarding:
                self._discarding = False
            elif stop - start > limit:
                out.append(LINE_TOO_LONG)
            elif stop > start:
                text = decode(data[start:stop])
                if text and not text.isspace():
                    out.append(text)
            start = end + 1
        rest = len(data) - start
        if self._discarding:
            self._buf = b""
        elif rest > limit + 1:  # +1: the CR of a CRLF may still be in flight
            out.append(LINE_TOO_LONG)
            self._discarding = True
            self._buf = b""
        else:
            self._buf = data[start:] if rest else b""
        return out

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def _strip_telnet(self, data: bytes) -> bytes:
        """Drops telnet commands; the state survives across chunk boundaries."""
        keep = bytearray()
        state = self._telnet
        for byte in data:
            if state == _TEXT:
                if byte == IAC:
                    state = _IAC
                else:
                    keep.append(byte)
            elif state == _IAC:
                if byte == SB:
                    state = _SUB
                elif byte in WILL_TO_DONT:
                    state = _OPTION
                else:  # IAC IAC (a literal 0xFF, invalid UTF-8 anyway) or a 2-byte command
                    state = _TEXT
            elif state == _OPTION:
                state = _TEXT
            elif state == _SUB:
                if byte == IAC:
                    state = _SUB_IAC
            else:  # _SUB_IAC
                state = _TEXT if byte == SE else _SUB
        self._telnet = state
        return bytes(keep)


# C0 controls except TAB, then DEL and the C1 controls: ESC among them, so no ANSI
# sequence reaches another user's terminal.  Then what reorders or hides text without
# being a control: the line and paragraph separators (a terminal may break the line
# there), the bidirectional embeddings, overrides and isolates (Trojan Source), the tag
# characters (invisible ASCII), and lone surrogates, which only operator text can hold
# (a YAML "\ud800" escape) and which UTF-8 cannot encode.  ZWJ and ZWNJ stay: scripts and
# emoji need them.  Every character here is non-printable, so str.isprintable() is a
# sound fast path.
_CONTROLS = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028-\u202e\u2066-\u2069\ud800-\udfff\U000e0000-\U000e007f]"
)


def sanitise(text: str) -> str:
    """text without the characters that could fake or hide text on a terminal."""
    return text if text.isprintable() else _CONTROLS.sub("", text)


def decode(line: bytes) -> str:
    """UTF-8 with U+FFFD for invalid bytes, then sanitised."""
    return sanitise(line.decode("utf-8", "replace"))


_NAME = "[A-Za-z][A-Za-z0-9_-]"
NICK_RE: Final = re.compile(_NAME + "{0,23}")
ROOM_RE: Final = re.compile(_NAME + "{0,31}")


def valid_nick(name: str) -> bool:
    return NICK_RE.fullmatch(name) is not None


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


def split_command(text: str) -> tuple[str, str]:
    """'/MSG bob hi there' -> ('msg', 'bob hi there')."""
    name, _, rest = text[1:].partition(" ")
    return fold(name), rest.strip()


def quote(text: str, limit: int) -> str:
    """User text for inside a server line: white-space runs made one space, at most limit
    characters (the last an ellipsis when cut), so that it cannot be padded to wrap into a
    line of its own that looks like one of the server's."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


# Formatting: every line the server sends is built here, encoded once.


def encode(text: str) -> bytes:
    return text.encode("utf-8") + CRLF


def chat(nick: str, text: str) -> bytes:
    return encode(f"<{nick}> {text}")


def action(nick: str, text: str) -> bytes:
    return encode(f"* {nick} {text}")


def private(sender: str, text: str) -> bytes:
    return encode(f"*{sender}* {text}")


def private_echo(recipient: str, text: str) -> bytes:
    return encode(f"-> *{recipient}* {text}")


def notice(text: str) -> bytes:
    return encode("*** " + text)


def error(text: str) -> bytes:
    return encode("*** error: " + text)


def too_long(max_line: int) -> bytes:
    return error(f"line too long (max {max_line} bytes)")
