"""The chatd line protocol, version 1: bytes <-> lines, sanitising, formatting.

Nothing here owns a socket or reads a clock, so every rule of the wire contract can be
tested in memory.  See docs/protocol.md for the contract itself.
"""

from __future__ import annotations

import re
import sys
from typing import Final

# The name rules and their folding are the chat's, one set for every protocol.
from .core.names import fold, normalise_room, valid_nick  # noqa: F401

CRLF: Final = b"\r\n"

# Telnet (RFC 854), stripped only where well formed: IAC and a command byte; WILL, WONT, DO
# and DONT with their option byte; IAC IAC for a literal 0xFF; IAC SB ... IAC SE with a short
# payload.  None of them holds a CR or LF, so none spans a line end: each complete line is
# stripped alone, which makes the result independent of how TCP cut the stream.  Any other
# 0xFF is ordinary (invalid UTF-8) data.
IAC: Final = 0xFF
MAX_SUBNEGOTIATION: Final = 64  # payload bytes (an escaped 0xFF counts once); more is data
_TELNET: Final = re.compile(
    rb"""\xff(?:
        (\xff)                         # IAC IAC: a literal 0xFF, kept
        | [\xf0-\xf9]                  # SE, NOP, DM, BRK, IP, AO, AYT, EC, EL, GA
        | [\xfb-\xfe] [^\r\n]          # WILL, WONT, DO, DONT and an option
        | \xfa (?:[^\xff\r\n] | \xff\xff){0,%d} \xff\xf0  # SB payload IAC SE
    )"""
    % MAX_SUBNEGOTIATION,
    re.VERBOSE,
)
NO_IAC: Final = sys.maxsize  # no 0xFF ahead in the parser's buffer


def strip_telnet(line: bytes | bytearray) -> bytes:
    """One line's bytes without its telnet commands; IAC IAC leaves one 0xFF."""
    return _TELNET.sub(rb"\1", line)


class LineTooLong:
    """Marks, in the parser's output, a line that was discarded for its length."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "LINE_TOO_LONG"


LINE_TOO_LONG: Final = LineTooLong()

# Deleted from a window of lines, their count says the window is printable ASCII and LF:
# every byte but those.
_NOT_PLAIN: Final = bytes(range(10)) + bytes(range(11, 32)) + bytes(range(127, 256))
_rstrip = str.rstrip


class Taken(list):  # type: ignore[type-arg]
    """What a parser's take() hands out, and ``lines``: how many lines that is (a run
    handed out as one item is as many as it holds).  On the list, not the parser: a
    parser's every byte counts in an idle connection's memory."""

    __slots__ = ("lines",)


class TextRun:
    """Lines that take() hands out at once (LineRunParser): ``items``, exactly the items
    they are one by one, and ``chat``, their texts as a run of chat lines says them
    (right-stripped).  Each is printable ASCII, no command and not blank."""

    __slots__ = ("items", "chat")

    def __init__(self, items: list[str], chat: list[str]) -> None:
        self.items = items
        self.chat = chat

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TextRun) and self.items == other.items

    def __repr__(self) -> str:
        return f"TextRun({self.items!r})"


def _plain_run(chunk: bytes | bytearray) -> TextRun | None:
    """The lines of chunk (LF between them) as a TextRun, if each is plain chat: printable
    ASCII (nothing to sanitise), not a command, not blank.  Single-byte scans first: a '/'
    anywhere is rare enough to look closer only then."""
    if len(chunk.translate(None, _NOT_PLAIN)) != len(chunk):
        return None
    if 47 in chunk and (chunk[0] == 47 or b"\n/" in chunk):
        return None
    items = chunk.decode().split("\n")
    chat = list(map(_rstrip, items))
    return None if "" in chat else TextRun(items, chat)


class LineParser:
    """Splits a byte stream into items, one at a time, whatever the chunking.

    ``feed`` only appends to a byte buffer; ``next`` hands out the next item: a line's text,
    "" for input that carries nothing (a blank line, a line that sanitises to nothing, or
    ``max_line`` bytes of a line being discarded), or LINE_TOO_LONG.  Each item is worth one
    flood-control token, and what is not pulled yet stays as the raw bytes.

    Lines end in LF (a CR before it is dropped).  A line longer than ``max_line`` bytes
    (terminator excluded, telnet commands included) is reported as LINE_TOO_LONG as soon as
    that is certain and discarded up to its next line end, so the parser holds at most
    ``max_line`` bytes of it.  Every byte is scanned for LF once, however slowly it comes.
    """

    __slots__ = ("max_line", "_buf", "_pos", "_scanned", "_iac", "_discarding")
    _runs = False  # hand out a window of plain chat lines as one TextRun: LineRunParser

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self._buf: bytes | bytearray = b""
        self._pos = 0  # start of what is not handed out yet
        self._scanned = 0  # no LF in _buf[_pos:_scanned]
        self._iac = NO_IAC  # no 0xFF in _buf[_pos:_iac]: most lines skip the telnet check
        self._discarding = False  # inside a line that was too long

    def feed(self, data: bytes) -> None:
        if self._pos == len(self._buf):  # nothing held: keep the bytes read as they are
            self._buf = data
            self._pos = self._scanned = 0
            self._iac = 0 if IAC in data else NO_IAC
            return
        if self._pos or not isinstance(self._buf, bytearray):
            self._compact()
        if self._iac == NO_IAC and IAC in data:
            self._iac = len(self._buf)
        self._buf += data  # type: ignore[operator]  # a bytearray by now: grows in place

    def take(self, most: int) -> Taken:
        """Up to ``most`` lines in order (every one there is if ``most`` is negative);
        the list's ``lines`` says how many.

        Ordinary lines are cut in the inner loop, the hot path of a paste; anything else
        goes through ``next``.  In a LineRunParser, a window of plain chat lines may come
        as one TextRun."""
        out = Taken()
        append = out.append
        limit = self.max_line
        left = total = most if most >= 0 else sys.maxsize
        if self._iac == NO_IAC and not self._discarding:
            left -= self._take_whole(out, limit, left)
        while left:
            if not self._discarding:
                buf = self._buf
                find = buf.find
                iac = self._iac
                pos = self._pos
                end = self._find(pos)
                before = len(out)
                for _ in range(left):  # only pos and iac change in here; saved below
                    if end < 0:
                        break
                    stop = end - 1 if end > pos and buf[end - 1] == 13 else end
                    if stop - pos > limit:
                        break
                    line = buf[pos:stop]
                    if iac < stop:
                        if IAC in line:
                            line = strip_telnet(line)
                        iac = find(IAC, end)
                        if iac < 0:
                            iac = NO_IAC
                    text = decode(line)  # type: ignore[arg-type]  # bytearray decodes like bytes
                    append(text if text and not text.isspace() else "")
                    pos = end + 1
                    end = find(10, pos)
                self._pos = pos
                self._iac = iac
                self._scanned = end if end >= 0 else len(buf)
                left -= len(out) - before
                if not left:
                    break
            item = self.next()
            if item is None:
                break
            append(item)
            left -= 1
        out.lines = total - left
        return out

    def _take_whole(self, out: Taken, limit: int, left: int) -> int:
        """Whole lines, decoded together and split, where that is the same as line by
        line: those that end within ``limit`` bytes of where they start together (so none
        is too long), window after window, while ``left`` allows and no telnet byte is
        held.  How many were appended.

        UTF-8 decoding starts afresh at every ASCII byte, so decoding lines together gives
        what decoding each does; a CR left before an LF is a control that sanitising
        removes, as line by line drops it.  A read of a talking client takes one decode
        and one split per window of ``limit`` bytes, not one per line; in a LineRunParser a
        window of plain chat lines is one TextRun, and no step is taken per line."""
        buf = self._buf
        pos = self._pos
        append = out.append
        runs = self._runs
        taken = 0
        while True:
            last = buf.rfind(10, pos, pos + limit + 1)
            if last < 0:
                break
            count = buf.count(10, pos, last) + 1
            if taken + count > left:
                break
            chunk = buf[pos:last]
            run = _plain_run(chunk) if runs and count > 1 else None
            if run is not None:
                append(run)
                taken += count
                pos = last + 1
                continue
            for text in chunk.decode("utf-8", "replace").split("\n"):
                if not text.isprintable():  # sanitise(), written out: no call per line
                    text = _CONTROLS.sub("", text)
                append(text if text and not text.isspace() else "")
            taken += count
            pos = last + 1
        if taken:
            self._pos = pos
            if self._scanned < pos:
                self._scanned = pos
        return taken

    def next(self) -> str | LineTooLong | None:
        """The next item, or None until more bytes complete one."""
        buf = self._buf
        pos = self._pos
        end = self._find(pos)
        if self._discarding:
            return self._discard(pos, end)
        window = pos + self.max_line + 2  # a line, its CR and its LF
        if end < 0 and len(buf) < window:
            if pos:
                self._compact()
            return None
        if end < 0 or end >= window:  # max_line + 2 bytes and no LF: too long however it ends
            self._pos = window - 1
            self._discarding = True
            return LINE_TOO_LONG
        self._pos = end + 1
        stop = end - 1 if end > pos and buf[end - 1] == 13 else end
        if stop - pos > self.max_line:
            return LINE_TOO_LONG
        if stop == pos:
            return ""
        line = buf[pos:stop]
        if IAC in line:
            line = strip_telnet(line)
        text = decode(line)  # type: ignore[arg-type]  # bytearray decodes like bytes
        return text if text and not text.isspace() else ""

    def has_line(self) -> bool:
        """True if ``next`` would hand out an item now; what it scans is not scanned again."""
        pos = self._pos
        span = self.max_line if self._discarding else self.max_line + 2
        return self._find(pos) >= 0 or len(self._buf) - pos >= span

    @property
    def buffered(self) -> int:
        """Bytes held, not handed out yet."""
        return len(self._buf) - self._pos

    def _discard(self, pos: int, end: int) -> str | None:
        """Drops the rest of a too long line, max_line bytes (one item) at a time."""
        chunk = self.max_line
        if 0 <= end < pos + chunk:
            self._pos = end + 1
            self._discarding = False
            return ""
        if len(self._buf) - pos < chunk:
            if pos:
                self._compact()
            return None
        self._pos = pos + chunk
        return ""

    def _find(self, pos: int) -> int:
        """The first LF at or after pos, or -1; remembers how far it looked."""
        scanned = self._scanned
        end = self._buf.find(10, scanned if scanned > pos else pos)
        self._scanned = end if end >= 0 else len(self._buf)
        return end

    def _compact(self) -> None:
        """Drops what was handed out; what is left becomes a bytearray, to grow in place."""
        pos = self._pos
        buf = self._buf
        if pos == len(buf):
            self._buf = b""  # let go of the last bytes read
        elif isinstance(buf, bytearray):
            del buf[:pos]  # moves the start of a bytearray, not its bytes (CPython)
        else:
            self._buf = bytearray(memoryview(buf)[pos:])
        self._pos = 0
        self._scanned = max(self._scanned - pos, 0)
        if self._iac != NO_IAC:
            self._iac = max(self._iac - pos, 0)


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


class LineRunParser(LineParser):
    """A LineParser that hands a window of plain chat lines out as one TextRun: for a
    process whose chat takes runs (one worker)."""

    __slots__ = ()
    _runs = True


def sanitise(text: str) -> str:
    """text without the characters that could fake or hide text on a terminal."""
    return text if text.isprintable() else _CONTROLS.sub("", text)


def decode(line: bytes) -> str:
    """UTF-8 with U+FFFD for invalid bytes, then sanitised."""
    return sanitise(line.decode("utf-8", "replace"))


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


# Each builds its line and encodes it in one step: a chat line is made once per room,
# but it is made for every line anyone says.


def chat(nick: str, text: str) -> bytes:
    return f"<{nick}> {text}\r\n".encode()


def chats(nick: str, texts: tuple[str, ...]) -> bytes:
    """chat(nick, text) for each of texts, as one bytes object."""
    head = f"<{nick}> "
    return (head + f"\r\n{head}".join(texts) + "\r\n").encode()


def action(nick: str, text: str) -> bytes:
    return f"* {nick} {text}\r\n".encode()


def private(sender: str, text: str) -> bytes:
    return f"*{sender}* {text}\r\n".encode()


def private_echo(recipient: str, text: str) -> bytes:
    return f"-> *{recipient}* {text}\r\n".encode()


def notice(text: str) -> bytes:
    return f"*** {text}\r\n".encode()


def error(text: str) -> bytes:
    return f"*** error: {text}\r\n".encode()


def too_long(max_line: int) -> bytes:
    return error(f"line too long (max {max_line} bytes)")
