"""A line client's way in: its first lines looked at, and the password asked for.

Before a line client's lines reach the chat as usual, two things may stand in the way:
its first lines may show an IRC client or a web browser on the line port (they are told
where to go and closed; nothing they sent is relayed), and with ``server_password`` set
it must give ``/pass PASSWORD`` first (``/quit`` works too; anything else gets an error
and goes nowhere; three wrong tries close the connection).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .admission import ADMIT, QUIT, TRIES, USAGE, WRONG, Pending, line_gate
from .core import intents as i
from .proto import linedetect as detect
from .proto import linetext
from .proto.line import LineFront
from .protocol import TextRun

if TYPE_CHECKING:
    from .connection import Connection

Items = list[Any]  # the line parser's: str lines, LineTooLong markers and TextRuns


class LineDoor:
    def __init__(
        self,
        line: LineFront,
        pending: Pending,
        publish: Callable[[i.Intent], None],
        irc_port: Callable[[], int | None],
    ) -> None:
        self.line = line
        self.pending = pending
        self.publish = publish
        self.irc_port = irc_port  # the IRC listener's port, if this server has one
        self.secret: str | None = None  # server_password, set by the server's config
        # Connections whose first lines are still looked at, with the line held back
        # meanwhile ("NICK x" alone: the next line tells).
        self.sniffing: dict[Connection, str | None] = {}

    def open(self, conn: Connection) -> None:
        """A new line connection: asked for the password, or connected at once."""
        self.sniffing[conn] = None
        if conn in self.pending:
            conn.send(b"".join(self.line.ask_password(conn.id)))
        else:
            self.publish(i.Connect(conn.id, conn.ip, self.line.protocol, lobby=True))

    def watching(self, conn: Connection) -> bool:
        return conn in self.sniffing or conn in self.pending

    def forget(self, conn: Connection) -> None:
        self.sniffing.pop(conn, None)
        self.line.forget(conn.id)

    def items(self, conn: Connection, items: Items) -> Items | None:
        """What is left of items for the chat; None: the client is leaving."""
        items = [
            x for item in items for x in (item.items if item.__class__ is TextRun else (item,))
        ]
        if conn in self.sniffing:
            items = self._sniff(conn, items)  # type: ignore[assignment]
            if items is None:
                return None
        if conn in self.pending:
            return self._gate(conn, items)
        return items

    def _sniff(self, conn: Connection, items: Items) -> Items | None:
        held = self.sniffing[conn]
        for index, item in enumerate(items):
            if item.__class__ is str and not item.strip():
                continue  # a blank line says nothing either way
            if item.__class__ is not str:  # too long: no IRC or HTTP line is
                verdict = detect.CHAT
            else:
                verdict = detect.look(held, item) if held is not None else detect.look(item, None)
            if verdict == detect.MORE:
                held = self.sniffing[conn] = item
                continue
            del self.sniffing[conn]
            if verdict != detect.CHAT:
                self._send_away(conn, verdict)
                return None
            return ([] if held is None else [held]) + items[index:]
        return []

    def _send_away(self, conn: Connection, verdict: str) -> None:
        """An IRC client or a browser on the line port: one line saying so, then a close
        (an IRC client would only retry for ever)."""
        if verdict == detect.IRC:
            text, reason = detect.irc_port_text(self.irc_port()), detect.IRC_REASON
        else:
            text, reason = detect.HTTP_TEXT, detect.HTTP_REASON
        conn.send(self.line.error(text))
        conn.close(reason)

    def _gate(self, conn: Connection, items: Items) -> Items | None:
        """A line client that owes the password: /pass or /quit, nothing else."""
        secret = self.secret
        waiting = self.pending.get(conn)
        if not secret or waiting is None:  # a reload took the password away
            self._admit(conn)
            return items
        error = self.line.error
        for index, item in enumerate(items):
            if item.__class__ is not str:
                conn.send(self.line.too_long(conn.parser.max_line))  # type: ignore[union-attr]
                continue
            what = line_gate(item, secret)
            if what is None:
                continue
            if what == ADMIT:
                self._admit(conn)
                return items[index + 1 :]
            if what == QUIT:
                conn.send(self.line.notice("Bye"))
                conn.close("quit")
                return None
            if what == WRONG:
                waiting.tries += 1
                if waiting.tries >= TRIES:
                    conn.send(error(linetext.PASS_CLOSING))
                    conn.close("wrong password")
                    return None
                conn.send(error(linetext.wrong_password(TRIES - waiting.tries)))
            elif what == USAGE:
                conn.send(error(linetext.ERRORS["usage"]("pass")))
            else:
                conn.send(error(linetext.PASS_FIRST))
        return []

    def _admit(self, conn: Connection) -> None:
        self.pending.discard(conn)
        self.publish(i.Connect(conn.id, conn.ip, self.line.protocol, lobby=True))
