"""How chatd-client draws a line in a terminal: pure functions, no I/O.

A server line is classified by the protocol's line kinds (docs/protocol.md), turned into
styled fragments, and laid out for a screen width: relayed text always comes after its
sender's styled nick, runs of white space collapse to one space, and long text wraps with
a hanging indent under the text.  So no relayed text can start a screen line of its own
and pass for another user's line or for a server notice.
"""

from __future__ import annotations

import itertools
import re
import zlib
from dataclasses import dataclass
from enum import Enum

from prompt_toolkit.utils import get_cwidth

from .protocol import decode, split_command

# A style is a tuple of attributes; colours are the ones NO_COLOR takes away.
Style = tuple[str, ...]
Fragment = tuple[Style, str]

SGR: dict[str, str] = {
    "bold": "1",
    "dim": "2",
    "underline": "4",
    "reverse": "7",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "magenta": "35",
    "cyan": "36",
    "bright-green": "92",
    "bright-yellow": "93",
    "bright-blue": "94",
    "bright-magenta": "95",
    "bright-cyan": "96",
}
COLOURS = frozenset(name for name, code in SGR.items() if code[0] in "39")
# Red is left out: it means an error.
NICK_COLOURS = (
    "green",
    "yellow",
    "blue",
    "magenta",
    "cyan",
    "bright-green",
    "bright-yellow",
    "bright-blue",
    "bright-magenta",
    "bright-cyan",
)

PLAIN: Style = ()
TIME: Style = ("dim",)
NOTICE_MARK: Style = ("bold", "cyan")
ERROR_MARK: Style = ("bold", "red")
ERROR_TEXT: Style = ("red",)
BRACKET: Style = ("dim",)
OWN_NICK: Style = ("bold",)
PRIVATE_TEXT: Style = ("bold", "magenta")
SENT_PRIVATE: Style = ("magenta",)
CLIENT_TEXT: Style = ("yellow",)
HIGHLIGHT_NICK: Style = ("reverse",)
HIGHLIGHT_TEXT: Style = ("bold", "yellow")


class Kind(Enum):
    NOTICE = "notice"
    ERROR = "error"
    CHAT = "chat"
    ACTION = "action"
    PRIVATE = "private"  # *FROM* TEXT, at the recipient
    SENT_PRIVATE = "sent-private"  # -> *TO* TEXT, at the sender
    OWN_CHAT = "own-chat"  # what the user said, drawn by the client (never echoed)
    OWN_ACTION = "own-action"
    CLIENT = "client"  # the client's own news: connection lost, reconnecting
    OTHER = "other"  # not a line kind of the protocol


@dataclass(frozen=True)
class Line:
    kind: Kind
    text: str
    nick: str = ""


_NICK = r"[A-Za-z][A-Za-z0-9_-]{0,23}"
_PATTERNS = (
    (Kind.ERROR, re.compile(r"\*\*\* error: (?P<text>.*)", re.S)),
    (Kind.NOTICE, re.compile(r"\*\*\* (?P<text>.*)", re.S)),
    (Kind.SENT_PRIVATE, re.compile(rf"-> \*(?P<nick>{_NICK})\* (?P<text>.*)", re.S)),
    (Kind.PRIVATE, re.compile(rf"\*(?P<nick>{_NICK})\* (?P<text>.*)", re.S)),
    (Kind.ACTION, re.compile(rf"\* (?P<nick>{_NICK}) (?P<text>.*)", re.S)),
    (Kind.CHAT, re.compile(rf"<(?P<nick>{_NICK})> (?P<text>.*)", re.S)),
)

# What must never reach the terminal even if a server sent it: C0 and C1 controls (ESC
# would let text style or move the cursor), bidirectional overrides and isolates, line and
# paragraph separators, tag characters.  chatd removes these already; the client's layout
# must not depend on it.
_UNSAFE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029\U000e0000-\U000e007f]"
)
_SPACES = re.compile(r"\s+")


def sanitise(text: str) -> str:
    """Removes what could move the cursor or reorder text; white space runs become one."""
    return _SPACES.sub(" ", _UNSAFE.sub("", text)).strip()


def classify(line: str) -> Line:
    for kind, pattern in _PATTERNS:
        match = pattern.fullmatch(line)
        if match:
            found = match.groupdict()
            return Line(kind, found["text"], found.get("nick", ""))
    return Line(Kind.OTHER, line)


def nick_style(nick: str) -> Style:
    """The same colour for a nick every time, in every run (nicks ignore case)."""
    return (NICK_COLOURS[zlib.crc32(nick.lower().encode()) % len(NICK_COLOURS)],)


def mentions(text: str, nick: str) -> bool:
    if not nick:
        return False
    pattern = rf"(?<![A-Za-z0-9_-]){re.escape(nick)}(?![A-Za-z0-9_-])"
    return re.search(pattern, text, re.I) is not None


def fragments(line: Line, me: str = "") -> tuple[list[Fragment], list[Fragment]]:
    """(prefix, body): the prefix names who speaks, the body is what they said."""
    text = sanitise(line.text)
    nick = line.nick
    highlighted = line.kind in (Kind.CHAT, Kind.ACTION, Kind.PRIVATE) and mentions(text, me)
    body_style = HIGHLIGHT_TEXT if highlighted else PLAIN
    who = HIGHLIGHT_NICK + nick_style(nick) if highlighted else nick_style(nick)
    kind = line.kind
    if kind is Kind.ERROR:
        return [(ERROR_MARK, "***"), (PLAIN, " ")], [(ERROR_TEXT, "error: " + text)]
    if kind is Kind.NOTICE:
        return [(NOTICE_MARK, "***"), (PLAIN, " ")], [(PLAIN, text)]
    if kind is Kind.CHAT:
        prefix = [(BRACKET, "<"), (who, nick), (BRACKET, ">"), (PLAIN, " ")]
        return prefix, [(body_style, text)]
    if kind is Kind.ACTION:
        return [(("bold",), "*"), (PLAIN, " "), (who, nick), (PLAIN, " ")], [(body_style, text)]
    if kind is Kind.PRIVATE:
        prefix = [(PRIVATE_TEXT, "*"), (who + ("bold",), nick), (PRIVATE_TEXT, "*"), (PLAIN, " ")]
        return prefix, [(HIGHLIGHT_TEXT if highlighted else PRIVATE_TEXT, text)]
    if kind is Kind.SENT_PRIVATE:
        prefix = [(SENT_PRIVATE, "-> *"), (nick_style(nick), nick), (SENT_PRIVATE, "*")]
        prefix.append((PLAIN, " "))
        return prefix, [(SENT_PRIVATE, text)]
    if kind is Kind.OWN_CHAT:
        return [(BRACKET, "<"), (OWN_NICK, nick), (BRACKET, ">"), (PLAIN, " ")], [(PLAIN, text)]
    if kind is Kind.OWN_ACTION:
        return [(("bold",), "*"), (PLAIN, " "), (OWN_NICK, nick), (PLAIN, " ")], [(PLAIN, text)]
    if kind is Kind.CLIENT:
        return [(CLIENT_TEXT, "--"), (PLAIN, " ")], [(CLIENT_TEXT, text)]
    return [], [(PLAIN, text)]


def width_of(text: str) -> int:
    return sum(get_cwidth(ch) for ch in text)


def layout(prefix: list[Fragment], body: list[Fragment], width: int) -> list[list[Fragment]]:
    """Screen rows for one message; every row after the first starts with the indent.

    Rows stay one column short of the width, so the terminal never wraps them itself (a
    full row would leave the cursor in the last column, where terminals disagree).
    """
    usable = max(width - 1, 8)
    indent = width_of("".join(text for _, text in prefix))
    if indent > usable // 2:  # a long prefix on a narrow screen: keep room for the text
        indent = 4
    indent = max(indent, 2)  # even a line of no known kind never continues at the edge
    rows: list[list[Fragment]] = [list(prefix)]
    column = width_of("".join(text for _, text in prefix))
    for style, text in body:
        for word in re.split(r"( )", text):
            if not word:
                continue
            size = width_of(word)
            if word == " ":
                if column + 1 < usable:
                    rows[-1].append((style, " "))
                    column += 1
                continue
            if column + size > usable and column > indent:
                rows.append([(PLAIN, " " * indent)])
                column = indent
                if rows[-2] and rows[-2][-1][1] == " ":  # no trailing space at a break
                    rows[-2].pop()
            column = _place(rows, style, word, column, usable, indent)
    return rows


def _place(
    rows: list[list[Fragment]], style: Style, word: str, column: int, usable: int, indent: int
) -> int:
    """Puts a word on the rows, cutting it where it is wider than a whole row."""
    piece = ""
    for ch in word:
        size = get_cwidth(ch)
        if column + size > usable and column > indent:
            rows[-1].append((style, piece))
            rows.append([(PLAIN, " " * indent)])
            piece, column = "", indent
        piece += ch
        column += size
    rows[-1].append((style, piece))
    return column


def to_ansi(row: list[Fragment], colour: bool = True, styled: bool = True) -> str:
    """One row as text with SGR codes; without colour only bold, dim, underline, reverse.

    Unstyled (a dumb terminal, which would print the codes): the bare text.
    """
    if not styled:
        return "".join(text for _, text in row)
    out = []
    for style, group in itertools.groupby(row, key=lambda fragment: fragment[0]):
        text = "".join(piece for _, piece in group)
        if not text:
            continue
        codes = [SGR[a] for a in style if colour or a not in COLOURS]
        out.append(f"\x1b[{';'.join(codes)}m{text}\x1b[0m" if codes else text)
    return "".join(out)


def render(
    line: Line,
    width: int,
    me: str = "",
    stamp: str = "",
    colour: bool = True,
    styled: bool = True,
) -> str:
    """The whole message, rows joined by LF; stamp is '[HH:MM]' or empty."""
    prefix, body = fragments(line, me)
    if stamp:
        prefix = [(TIME, stamp), (PLAIN, " "), *prefix]
    return "\n".join(to_ansi(row, colour, styled) for row in layout(prefix, body, width))


def plain_text(rendered: str) -> str:
    """What the screen shows, without the SGR codes (for tests and logs)."""
    return re.sub("\x1b\\[[0-9;]*m", "", rendered)


def echo(typed: str, nick: str) -> Line | None:
    """The user's line as the server shows it to the others, or None if it shows nothing.

    The server never echoes chat or actions to their sender; the client draws them the way
    the others see them, following the server's own rules (chatd/chat.py: Chat.line).
    """
    text = sanitise_typed(typed)
    if not text or text.isspace() or not nick:
        return None
    if text.startswith("/") and not text.startswith("//"):
        name, arg = split_command(text.strip())
        return Line(Kind.OWN_ACTION, arg, nick) if name == "me" and arg else None
    if text.startswith("//"):
        text = text[1:]
    return Line(Kind.OWN_CHAT, text.rstrip(), nick)


def is_quit(typed: str) -> bool:
    text = sanitise_typed(typed).strip()
    return text.startswith("/") and split_command(text)[0] == "quit"


def sanitise_typed(typed: str) -> str:
    """What the server keeps of a typed line: controls go, as in chatd.protocol.decode."""
    return decode(typed.encode("utf-8", "replace"))
