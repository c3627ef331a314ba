"""chatd-client in a terminal: the line editor, styled lines, reconnects.

Server lines are drawn above the line being typed (prompt_toolkit's patch_stdout), styled
by chatd.clientview; what the user says is drawn the way the others see it, since the
server never echoes it.  When the connection drops without the user asking, the client
says so, connects again with backoff and restores the nick and the room.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import ssl
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

from prompt_toolkit import PromptSession
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.patch_stdout import patch_stdout

from . import clientview as view
from .clientnicks import GUEST, ChatCompleter, Roster
from .tls import describe

BACKOFF_MAX = 30.0
QUIT_WAIT = 5.0  # for the server's *** Bye and close after /quit
CLOSED = "the server closed the connection"
HANDSHAKE_TIMEOUT = 10.0
LINE_LIMIT = 1 << 22  # longest server line read; chatd's own are far shorter
Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@dataclass(frozen=True)
class Options:
    host: str
    port: int
    colour: bool
    styled: bool  # False on a dumb terminal: not even bold
    timestamps: bool
    reconnect: bool
    tls: ssl.SSLContext | None = None  # verified against options.host, on every connection


class Terminal:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.roster = Roster()
        self.writer: asyncio.StreamWriter | None = None
        self.quitting = asyncio.Event()
        self.session: PromptSession[str] = PromptSession(
            "> ",
            completer=ChatCompleter(self.roster),
            complete_while_typing=False,
            key_bindings=cycling_tab_keys(),
            erase_when_done=True,  # the line comes back drawn as the others see it
        )
        self._wanted: tuple[str, str] | None = None  # (nick, room) to restore once greeted
        self._asked_nick = ""  # the nick asked back, until the server answers
        self.greeted = False  # this connection got as far as joining a room

    async def run(self, sock: socket.socket) -> int:
        with patch_stdout(raw=True):
            network = asyncio.create_task(self.network(sock))
            typing = asyncio.create_task(self.typing())
            done, _ = await asyncio.wait({network, typing}, return_when=asyncio.FIRST_COMPLETED)
            if typing in done:  # the user quit: let the server say Bye and close
                try:
                    await asyncio.wait_for(network, QUIT_WAIT)
                except TimeoutError:
                    network.cancel()
            else:  # the server went and we do not reconnect: end the prompt
                if self.session.app.is_running:
                    self.session.app.exit(result=None)
                else:  # between two prompts
                    typing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await typing
        if self.writer is not None:
            self.writer.close()
        if typing.done() and not typing.cancelled():
            typing.result()  # a fault in the prompt is shown, not swallowed
        return network.result() if network.done() and not network.cancelled() else 0

    # What the user types.

    async def typing(self) -> None:
        while True:
            try:
                text = await self.session.prompt_async()
            except (EOFError, KeyboardInterrupt):
                text = "/quit"
            if text is None:  # the network side ended the prompt
                return
            if view.is_quit(text):
                self.quitting.set()
            await self.send(text)
            if self.quitting.is_set():
                return

    async def send(self, text: str) -> None:
        if self.writer is None:
            if not self.quitting.is_set():
                self.note("not connected: line not sent")
            return
        own = view.echo(text, self.roster.nick)
        if own is not None:
            self.show(own)
        self.writer.write(text.encode("utf-8") + b"\n")
        with contextlib.suppress(ConnectionError):  # the reading side reports the loss
            await self.writer.drain()

    # The connection, and the next ones.

    async def network(self, sock: socket.socket) -> int:
        sock.setblocking(False)
        # A certificate problem here ends the client (chatd.client says it in one line);
        # on a reconnect it is one more reason to try again later.
        streams = await self.open(sock=sock)
        waits = delays()
        while True:
            self.greeted = False
            reason = await self.converse(*streams)
            if self.greeted:  # a server that takes us and then closes at once is not up
                waits = delays()
            if self.quitting.is_set():
                return 0
            if not self.options.reconnect:
                self.note(f"{reason}; not reconnecting (--no-reconnect)")
                return 0 if reason == CLOSED else 1
            if self._wanted is None:  # not yet restored after an earlier drop: keep that
                self._wanted = (self.roster.nick, self.roster.room)
            next_streams = await self.reconnect(reason, waits)
            if next_streams is None:
                return 0
            streams = next_streams

    async def reconnect(self, reason: str, waits: Iterator[float]) -> Streams | None:
        """Tries again after 1, 2, 4 ... 30 s; None if the user quits meanwhile."""
        delay = next(waits)
        self.note(f"{reason}; reconnecting in {delay:g} s")
        while True:
            try:
                await asyncio.wait_for(self.quitting.wait(), delay)
                return None
            except TimeoutError:
                pass
            address = (self.options.host, self.options.port)
            try:
                streams = await asyncio.wait_for(self.open(*address), 10 + HANDSHAKE_TIMEOUT)
            except (OSError, TimeoutError) as exc:
                delay = next(waits)
                why = why_not_connected(exc)
                self.note(f"cannot connect: {why}; retrying in {delay:g} s")
                continue
            self.note(f"connected to {address[0]} port {address[1]}")
            return streams

    async def open(self, *address: str | int, sock: socket.socket | None = None) -> Streams:
        """A connection, with the TLS handshake done when the options say TLS."""
        tls = self.options.tls
        if tls is None:
            return await asyncio.open_connection(*address, sock=sock, limit=LINE_LIMIT)
        return await asyncio.open_connection(
            *address,
            sock=sock,
            limit=LINE_LIMIT,
            ssl=tls,
            server_hostname=self.options.host,
            ssl_handshake_timeout=HANDSHAKE_TIMEOUT,
        )

    async def converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
        """Shows what the server sends until it closes; returns why it ended."""
        self.writer = writer
        try:
            while line := await reader.readline():
                self.received(line.decode("utf-8", "replace").rstrip("\r\n"))
            return CLOSED
        except (ConnectionError, OSError) as exc:
            return f"connection lost: {exc.strerror or exc}"
        except ValueError:  # asyncio's word for a line over the limit
            return f"a line from the server over {LINE_LIMIT >> 20} MiB"
        finally:
            self.writer = None
            writer.close()

    def received(self, text: str) -> None:
        self.roster.observe(text)
        line = view.classify(text)
        self.show(line)
        if line.kind is view.Kind.ERROR and self._asked_nick:
            if line.text == f"nick {self._asked_nick} is taken":
                self.note(f"your nick {self._asked_nick} is taken; you are {self.roster.nick}")
                self._asked_nick = ""
        elif line.kind is view.Kind.NOTICE:
            self.greeted = self.greeted or line.text.startswith("You joined ")
            if self._asked_nick and line.text.startswith("You are now "):
                self._asked_nick = ""
            if self._wanted is not None and line.text.startswith("You joined "):
                self._restore(*self._wanted)

    def _restore(self, nick: str, room: str) -> None:
        """Once greeted again: the old nick (unless it was a guest's) and the old room."""
        self._wanted = None
        commands = []
        if nick and not GUEST.fullmatch(nick) and nick.lower() != self.roster.nick.lower():
            commands.append(f"/nick {nick}")
            self._asked_nick = nick
        if room and room.lower() != self.roster.room.lower():
            commands.append(f"/join {room}")
        if commands and self.writer is not None:
            self.note("restoring: " + ", ".join(commands))
            self.writer.write("".join(c + "\n" for c in commands).encode())

    # Drawing.

    def show(self, line: view.Line) -> None:
        stamp = time.strftime("[%H:%M]") if self.options.timestamps else ""
        width = shutil.get_terminal_size().columns
        me = self.roster.nick
        drawn = view.render(line, width, me, stamp, self.options.colour, self.options.styled)
        sys.stdout.write(drawn + "\n")
        sys.stdout.flush()

    def note(self, text: str) -> None:
        self.show(view.Line(view.Kind.CLIENT, text))


def why_not_connected(exc: OSError | TimeoutError) -> str:
    """'Connection refused', not asyncio's 'Connect call failed (address)'."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {describe(exc)}"
    return os.strerror(exc.errno) if exc.errno else str(exc)


def delays() -> Iterator[float]:
    """Seconds between attempts to reconnect: 1, 2, 4 ... then BACKOFF_MAX for good."""
    delay = 1.0
    while True:
        yield delay
        delay = min(delay * 2, BACKOFF_MAX)


def cycling_tab_keys() -> KeyBindings:
    """Tab completes at once and then cycles (Shift-Tab back), as in IRC clients."""
    keys = KeyBindings()

    @keys.add("tab")
    def _next(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        if buffer.complete_state:
            buffer.complete_next()
        else:
            buffer.start_completion(select_first=True)

    @keys.add("s-tab")
    def _previous(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        if buffer.complete_state:
            buffer.complete_previous()
        else:
            buffer.start_completion(select_last=True)

    return keys
