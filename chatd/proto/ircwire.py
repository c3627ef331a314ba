"""The IRC wire format, sans I/O: bytes <-> lines <-> messages.

The format is RFC 1459/2812 as Modern IRC documents it, with IRCv3 message tags parsed (and
rendered) so that a client which sends them is understood; chatd acts on none of them.

Choices where the documents leave room:
- Text is UTF-8; an invalid byte becomes U+FFFD, as on chatd's line protocol, so both
  protocols show the same text and every parsed message renders again.
- A line ends at LF, at CR LF, or at a lone CR (Modern IRC: servers SHOULD take a single
  LF and MAY take a single CR as CR LF).  NUL bytes are dropped.  Other control characters
  are kept: the chat core's sanitiser deals with them, for both protocols alike.
- A line is at most 512 bytes with its CR LF; one that starts with '@' may be 8191 bytes
  longer (the IRCv3 tags allowance, taken for the whole line rather than measured per part).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Final

from chatd.protocol import Taken

from .ircrun import run_at

MAX_LINE: Final = 512  # bytes, CR LF included
MAX_TAGS: Final = 8191  # more bytes allowed to a line that starts with '@'
CRLF: Final = b"\r\n"

Tags = tuple[tuple[str, str], ...]


class ParseError(ValueError):
    """A line that is not an IRC message; the text says why in a few words."""


@dataclass(frozen=True, slots=True)
class Message:
    """One IRC message.  ``command`` is an upper-case word or a three-digit numeric;
    ``params`` holds the trailing parameter last, without its ':'; a tag without a value
    has the value ""."""

    command: str
    params: tuple[str, ...] = ()
    source: str | None = None
    tags: Tags = ()


# Parsing ------------------------------------------------------------------------------

_TAG_UNESCAPE: Final = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_TAG_ESCAPE: Final = str.maketrans({";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n"})
_ESCAPED: Final = re.compile(r"\\(.?)", re.DOTALL)


def _unescape(value: str) -> str:
    # A backslash before any other character stands for that character; a lone one at
    # the end stands for nothing (IRCv3 message-tags).
    return _ESCAPED.sub(lambda m: _TAG_UNESCAPE.get(m[1], m[1]), value)


def _parse_tags(text: str) -> Tags:
    tags = []
    for item in text.split(";"):
        key, _, value = item.partition("=")
        if key:  # an empty item (";;", a final ';') is nothing
            tags.append((key, _unescape(value) if "\\" in value else value))
    return tuple(tags)


def _command(word: str) -> str:
    if word.isascii() and (word.isalpha() or (len(word) == 3 and word.isdigit())):
        return word.upper()
    raise ParseError("malformed command")


def parse(line: bytes | bytearray) -> Message:
    """One line, without its line end, as a Message; ParseError if it is not one."""
    if b"\r" in line or b"\n" in line:
        raise ParseError("line end inside a line")
    if b"\0" in line:
        line = line.replace(b"\0", b"")
    text = line.decode("utf-8", "replace").lstrip(" ")
    tags: Tags = ()
    if text.startswith("@"):
        tagged, _, text = text.partition(" ")
        tags = _parse_tags(tagged[1:])
        text = text.lstrip(" ")
    source = None
    if text.startswith(":"):
        source, _, text = text[1:].partition(" ")
        if not source:
            raise ParseError("empty source")
        text = text.lstrip(" ")
    if not text:
        raise ParseError("no command")
    word, _, text = text.partition(" ")
    command = _command(word)
    text = text.lstrip(" ")
    # The first parameter that starts with ':' is the last: it runs to the line's end.
    if text.startswith(":"):
        return Message(command, (text[1:],), source, tags)
    middle, colon, trailing = text.partition(" :")
    params = [param for param in middle.split(" ") if param]
    if colon:
        params.append(trailing)
    return Message(command, tuple(params), source, tags)


# Rendering ----------------------------------------------------------------------------

_FORBIDDEN: Final = re.compile("[\0\r\n]")


def _check(kind: str, text: str) -> None:
    if _FORBIDDEN.search(text):
        raise ValueError(f"{kind} holds NUL, CR or LF: {text!r}")


def _render_tags(tags: Tags) -> str:
    items = []
    for key, value in tags:
        if not key or any(c in key for c in "=; ") or _FORBIDDEN.search(key):
            raise ValueError(f"bad tag key: {key!r}")
        if "\0" in value:
            raise ValueError(f"tag value holds NUL: {value!r}")
        items.append(f"{key}={value.translate(_TAG_ESCAPE)}" if value else key)
    return "@" + ";".join(items) + " "


def render(msg: Message) -> bytes:
    """The message's wire form, CR LF included; ValueError if no line can carry it."""
    parts = []
    if msg.tags:
        parts.append(_render_tags(msg.tags))
    if msg.source is not None:
        if not msg.source or " " in msg.source:
            raise ValueError(f"bad source: {msg.source!r}")
        _check("source", msg.source)
        parts.append(f":{msg.source} ")
    try:
        _command(msg.command)
    except ParseError:
        raise ValueError(f"bad command: {msg.command!r}") from None
    parts.append(msg.command)
    params = msg.params
    for param in params[:-1]:
        if not param or " " in param or param.startswith(":"):
            raise ValueError(
                f"a parameter before the last is empty, has a space or a ':': {param!r}"
            )
        _check("parameter", param)
        parts.append(" " + param)
    if params:
        last = params[-1]
        _check("parameter", last)
        colon = not last or " " in last or last.startswith(":")
        parts.append(" :" + last if colon else " " + last)
    return "".join(parts).encode("utf-8") + CRLF


# Framing ------------------------------------------------------------------------------


class TooLong:
    """Marks, in the framer's output, a line that was discarded for its length."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "TOO_LONG"


TOO_LONG: Final = TooLong()

_EOL: Final = re.compile(rb"[\r\n]")


def _find_eol(buf: bytes | bytearray, start: int, stop: int) -> int:
    """The first CR or LF in buf[start:stop], or -1."""
    found = _EOL.search(buf, start, stop)
    return found.start() if found else -1


class IrcFramer:
    """Splits a byte stream into IRC lines, one item at a time, whatever the chunking.

    ``feed`` only appends bytes; ``next`` hands out the next item: a line's bytes without
    its line end, b"" for input that carries nothing (an empty line, or ``max_line`` bytes
    of a line being discarded), or TOO_LONG, once for a line longer than the limit, which
    is then discarded up to its line end (the connection stays; the front-end says 417).
    Each item is worth one flood-control token; what is not pulled stays as raw bytes.
    The framer holds at most the limit of a line it cannot hand out yet, and scans every
    byte for a line end once, however slowly the bytes come.
    """

    __slots__ = (
        "_chunk",
        "_limit",
        "_tag_limit",
        "_buf",
        "_pos",
        "_scanned",
        "_found",
        "_discarding",
        "_after_cr",
    )
    _runs = False  # hand out a run of PRIVMSGs as one Run (ircrun.py): IrcRunFramer

    def __init__(self, max_line: int = MAX_LINE, max_tags: int = MAX_TAGS) -> None:
        self._chunk = max_line  # bytes dropped per item while discarding
        self._limit = max_line - 2  # bytes of a line, its CR LF excluded
        self._tag_limit = self._limit + max_tags
        self._buf: bytes | bytearray = b""
        self._pos = 0  # start of what is not handed out yet
        self._scanned = 0  # no CR or LF in _buf[_pos:_scanned]
        self._found = False  # _buf[_scanned] is a line end
        self._discarding = False  # inside a line that was too long
        self._after_cr = False  # a line ended at CR: an LF right after it belongs to it

    def feed(self, data: bytes) -> None:
        if self._pos == len(self._buf):  # nothing held: keep the bytes read as they are
            self._buf = data
            self._pos = self._scanned = 0
            self._found = False
            return
        if self._pos or not isinstance(self._buf, bytearray):
            self._compact()
        self._buf += data  # type: ignore[operator]  # a bytearray by now: grows in place

    def next(self) -> bytes | TooLong | None:
        """The next item, or None until more bytes complete one."""
        pos = self._skip_lf()
        buf = self._buf
        if pos == len(buf):
            self._buf = b""  # let go of the last bytes read
            self._pos = self._scanned = 0
            self._found = False
            return None
        if self._discarding:
            return self._discard(pos)
        limit = self._tag_limit if buf[pos] == 64 else self._limit  # '@': tags ahead
        end = self._find(pos, pos + limit + 1)
        if end < 0:
            if len(buf) - pos <= limit:
                if pos:
                    self._compact()
                return None
            self._pos = pos + limit + 1  # limit + 1 bytes and no line end: too long
            self._discarding = True
            return TOO_LONG
        self._pos = end + 1
        self._after_cr = buf[end] == 13
        return bytes(buf[pos:end])

    def take(self, most: int) -> Taken:
        """Up to ``most`` lines in order (every one there is if ``most`` is negative);
        the list's ``lines`` says how many.

        Ordinary lines (LF or CR LF, no bare CR, within the limit) are cut in the inner
        loop, the hot path of a busy client; anything else goes through ``next``.  In
        an IrcRunFramer, the lines from the first "PRIVMSG #room :" on may come as one Run."""
        out = Taken()
        left = total = most if most >= 0 else sys.maxsize
        runs = self._runs  # one try a take: a failed one costs a scan of the read
        while left:
            if not self._discarding and not self._after_cr:
                left -= self._ordinary(out, left, runs)
                runs = False
                if not left:
                    break
            item = self.next()
            if item is None:
                break
            out.append(item)
            left -= 1
        out.lines = total - left
        return out

    def _ordinary(self, out: Taken, left: int, runs: bool) -> int:
        """Appends up to left ordinary lines to out; how many.  With runs, the lines
        from the first "PRIVMSG #" one on may be appended as a Run (ircrun.run_at)."""
        buf = self._buf
        find = buf.find
        limit = self._limit
        pos = start = self._pos
        taken = 0
        while taken < left:
            end = find(10, pos)  # an int is a cheaper needle than b"\n" (CPython 3.11)
            if end < 0:
                break
            stop = end - 1 if end > pos and buf[end - 1] == 13 else end
            if stop - pos > limit:
                break
            line = buf[pos:stop]
            if 13 in line:  # a bare CR ends a line too: next() cuts it there
                break
            line = line if line.__class__ is bytes else bytes(line)
            if runs and line.startswith(b"PRIVMSG #"):
                runs = False
                found = run_at(line, buf, pos, left - taken, limit)
                if found is not None:
                    run, pos = found
                    out.append(run)
                    taken += len(run.texts)
                    break
            out.append(line)
            pos = end + 1
            taken += 1
        if pos != start:
            self._pos = pos
            if self._scanned < pos:  # what was scanned was handed out
                self._scanned, self._found = pos, False
        return taken

    def has_item(self) -> bool:
        """True if ``next`` would hand out an item now; what it scans is not scanned again."""
        pos = self._skip_lf()
        held = len(self._buf) - pos
        if not held:
            return False
        if self._discarding:
            span = self._chunk
        else:
            span = (self._tag_limit if self._buf[pos] == 64 else self._limit) + 1
        return held >= span or self._find(pos, pos + span) >= 0

    @property
    def buffered(self) -> int:
        """Bytes held, not handed out yet."""
        return len(self._buf) - self._pos

    def _skip_lf(self) -> int:
        """The position of the next item, past the LF of a CR LF split across reads."""
        pos = self._pos
        if self._after_cr and pos < len(self._buf):
            self._after_cr = False
            if self._buf[pos] == 10:
                pos = self._pos = pos + 1
        return pos

    def _discard(self, pos: int) -> bytes | None:
        """Drops the rest of a too long line, max_line bytes (one item) at a time."""
        end = self._find(pos, pos + self._chunk)
        if end >= 0:
            self._pos = end + 1
            self._discarding = False
            self._after_cr = self._buf[end] == 13
            return b""
        if len(self._buf) - pos < self._chunk:
            if pos:
                self._compact()
            return None
        self._pos = pos + self._chunk
        return b""

    def _find(self, pos: int, stop: int) -> int:
        """The first line end in _buf[pos:stop], or -1; remembers how far it looked."""
        stop = min(stop, len(self._buf))
        start = max(self._scanned, pos)
        if start == self._scanned and self._found:
            return start if start < stop else -1
        if start >= stop:
            return -1
        end = _find_eol(self._buf, start, stop)
        self._found = end >= 0
        self._scanned = end if self._found else stop
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
        if self._scanned < pos:  # a line end found there was handed out with its line
            self._scanned, self._found = 0, False
        else:
            self._scanned -= pos


class IrcRunFramer(IrcFramer):
    """An IrcFramer that hands a run of PRIVMSGs to one room out as one Run: for a process
    whose chat takes runs (one worker)."""

    __slots__ = ()
    _runs = True
