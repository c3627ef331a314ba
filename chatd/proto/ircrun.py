"""A talking IRC client's read, framed at once: from a "PRIVMSG #room :text" line to the
last line end held, the lines are very often that same command to the same room.  When
each is that head and printable ASCII text (nothing to sanitise, no CTCP), the framer
hands them out as one Run of their texts, cut with one decode and one split, rather than
as lines that are each cut, sliced and read again.

A Run stands for exactly the lines it was read from (``lines()``), so whoever cannot
use it as a run reads those lines one by one and gets what the framer would have given."""

from __future__ import annotations

# Deleted from the run's bytes, their count says the lines are printable ASCII joined by
# CR LF: every byte but the printable ASCII ones.
_NOT_PLAIN = bytes(range(32)) + bytes(range(127, 256))


class Run:
    """Lines that were each ``head`` + text, in order: PRIVMSGs to one room."""

    __slots__ = ("head", "texts", "room")

    def __init__(self, head: bytes, texts: list[str]) -> None:
        self.head = head  # b"PRIVMSG #room :"
        self.texts = texts
        self.room = head[8:-2].decode()  # printable ASCII, no space or comma

    def lines(self) -> list[bytes]:
        """The lines, as the framer hands them out one by one."""
        head = self.head
        return [head + text.encode() for text in self.texts]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Run) and (self.head, self.texts) == (other.head, other.texts)

    def __repr__(self) -> str:
        return f"Run({self.head!r}, {self.texts!r})"


def run_at(
    first: bytes, buf: bytes | bytearray, pos: int, most: int, limit: int
) -> tuple[Run, int] | None:
    """The lines of buf from pos to its last LF as a Run of first's head, and where it
    ends (just past that LF), if there are at most ``most`` of them and each is that head
    and printable ASCII text, ends CR LF and holds at most ``limit`` bytes; else None.

    ``first`` is the line at pos, framed already; a Run needs "PRIVMSG #room :text" to
    one room there."""
    head, colon, _ = first.partition(b" :")
    target = head[8:]
    if not colon or 32 in target or 44 in target:  # space, comma
        return None
    end = buf.rfind(10, pos)
    if buf[end - 1] != 13:
        return None
    chunk = buf[pos : end - 1]
    joins = chunk.count(b"\r\n")
    if joins >= most or len(chunk.translate(None, _NOT_PLAIN)) != len(chunk) - 2 * joins:
        return None  # too many for the flood budget; a control, a bare CR or LF, non-ASCII
    head += b" :"
    start = head.decode()
    texts = chunk.decode()[len(start) :].split("\r\n" + start)
    if len(texts) != joins + 1 or "" in texts or len(head) + max(map(len, texts)) > limit:
        return None  # a line with another start, one with no text, one too long
    return Run(head, texts), end + 1
