"""chatd-client in a pseudo-terminal against the real chatd: what a person sees.

The client's output is fed to pyte, a terminal emulator, so the tests read the screen as
drawn (rows, columns, colours), not only the bytes.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import socket
import struct
import subprocess
import termios
import time

import pytest
from e2e import BIN, Chatd

pyte = pytest.importorskip("pyte", reason="pyte (a test dependency) draws the screen")

pytestmark = pytest.mark.e2e

COLS, ROWS = 80, 40
STAMP = re.compile(r"\[\d\d:\d\d\] ")


class Term:
    """chatd-client on a pty of COLS x ROWS, its screen drawn by pyte."""

    def __init__(self, port: int, *args: str, env: dict[str, str] | None = None) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        base = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
        self.proc = subprocess.Popen(
            [str(BIN / "chatd-client"), *args, "127.0.0.1", str(port)],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**base, "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1", **(env or {})},
        )
        os.close(slave)
        self.fd = master
        self.raw = b""
        self.screen = pyte.Screen(COLS, ROWS)
        self.stream = pyte.ByteStream(self.screen)

    def rows(self) -> list[str]:
        return [row.rstrip() for row in self.screen.display]

    def text(self) -> str:
        return "\n".join(self.rows())

    def wait(self, pattern: str, timeout: float = 10) -> re.Match[str]:
        """Reads until the screen shows pattern (a regex)."""
        regex = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while not (match := regex.search(self.text())):
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.fd], [], [], max(0, left))
            if not ready:
                raise AssertionError(f"{pattern!r} never shown; screen:\n{self.text()}")
            self._read()
        return match

    def _read(self) -> None:
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the client has gone
            data = b""
        if not data:
            raise AssertionError(f"the client exited; screen:\n{self.text()}")
        self.raw += data
        self.stream.feed(data)

    def prompt_ready(self, mark: int = 0, timeout: float = 10) -> None:
        """Waits for a prompt after raw[mark]: keys typed between prompts go to the cooked tty."""
        deadline = time.monotonic() + timeout
        while PROMPT_READY not in self.raw[mark:]:
            if not select.select([self.fd], [], [], max(0, deadline - time.monotonic()))[0]:
                raise AssertionError(f"no prompt; screen:\n{self.text()}")
            self._read()

    def type(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def line(self, text: str) -> None:
        """Types a line and Enter, then waits for the next prompt."""
        mark = len(self.raw)
        self.type(text.encode() + b"\r")
        self.prompt_ready(mark)

    def finish(self, timeout: float = 10) -> int:
        """Waits for the client to exit, reading what it still draws."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            if select.select([self.fd], [], [], 0.05)[0]:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:
                    data = b""
                self.raw += data
                self.stream.feed(data)
        return self.proc.wait(max(0.1, deadline - time.monotonic()))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        os.close(self.fd)


PROMPT_READY = b"\x1b[?2004h"  # prompt_toolkit turns bracketed paste on for each prompt


@pytest.fixture
def server():
    with Chatd() as chatd:
        yield chatd
        chatd.stop()


@pytest.fixture
def terms():
    started: list[Term] = []
    yield started
    for term in started:
        term.close()


def start(terms: list[Term], port: int, *args: str, **kw: object) -> Term:
    term = Term(port, *args, **kw)  # type: ignore[arg-type]
    terms.append(term)
    term.wait(r"You joined #lobby")
    term.prompt_ready()
    return term


def test_lines_are_styled_on_a_tty_and_plain_in_a_pipe(server, terms):
    watcher = server.connect()
    watcher.greeted()
    term = start(terms, server.port)
    watcher.until("*** guest2 joined")
    watcher.send("hello guest2, how are you", "/me waves", "/msg guest2 psst")
    term.wait(r"\*guest1\* psst")
    row = term.wait(r"^\[\d\d:\d\d\] <guest1> hello guest2, how are you$")
    y = term.rows().index(row.group(0))
    nick_cell = term.screen.buffer[y][len("[00:00] <")]
    assert nick_cell.data == "g" and nick_cell.reverse  # mentions me: highlighted
    text_cell = term.screen.buffer[y][len("[00:00] <guest1> ")]
    assert text_cell.bold and text_cell.fg == "brown"  # pyte's name for SGR 33
    assert b"\x1b[1;36m***" in term.raw  # notices
    assert "* guest1 waves" in term.text()

    result = subprocess.run(
        [str(BIN / "chatd-client"), "127.0.0.1", str(server.port)],
        input=b"/who\n/quit\n",
        capture_output=True,
        timeout=20,
    )
    assert b"users in #lobby" in result.stdout
    assert b"\x1b" not in result.stdout  # never styled in a pipe
    assert STAMP.search(result.stdout.decode()) is None  # nor stamped


def test_no_color_keeps_the_text_and_drops_the_colours(server, terms):
    term = start(terms, server.port, env={"NO_COLOR": "1"})
    term2 = start(terms, server.port, "--no-color", "--no-timestamps")
    term2.line("hi there")
    term.wait(r"guest2 joined #lobby")
    term.wait(r"<guest2> hi there")
    for t in (term, term2):
        assert re.search(rb"\x1b\[(?:\d+;)*(?:3[0-7]|9[0-7])[;m]", t.raw) is None
    assert STAMP.search(term.text()) and not STAMP.search(term2.text())


def test_a_padded_spoof_is_drawn_as_one_message_of_its_sender(server, terms):
    mallory = server.connect()
    mallory.greeted()
    mallory.send("/nick mallory")
    mallory.until("*** You are now mallory")
    term = start(terms, server.port, "--no-timestamps")
    mallory.until("*** guest2 joined")
    mallory.send("hi" + " " * 70 + "<bob> fake", "hi" + " " * 70 + "*** bob left #lobby (quit)")
    mallory.send("long " * 30 + "end")
    term.wait(r"end$")
    rows = term.rows()
    assert "<mallory> hi <bob> fake" in rows
    assert "<mallory> hi *** bob left #lobby (quit)" in rows
    assert not any(r.lstrip().startswith(("<bob>", "*** bob")) for r in rows)
    first = next(i for i, r in enumerate(rows) if r.startswith("<mallory> long"))
    indent = " " * len("<mallory> ")
    assert rows[first + 1].startswith(indent + "long")  # under the text, not the nick
    assert rows[first + 2].startswith(indent + "long") and rows[first + 2].endswith("end")


def test_own_messages_are_shown_once_in_order(server, terms):
    watcher = server.connect()
    watcher.greeted()
    term = start(terms, server.port, "--no-timestamps")
    watcher.until("*** guest2 joined")
    term.line("first of mine")
    assert watcher.line() == "<guest2> first of mine"
    watcher.send("an answer")
    term.wait(r"<guest1> an answer")
    term.line("/me nods")
    assert watcher.line() == "* guest2 nods"
    term.wait(r"^\* guest2 nods$")  # drawn by the client too, not only sent
    term.line("/msg guest1 quietly")
    term.wait(r"-> \*guest1\* quietly")
    term.wait(r"\A(?![\s\S]*/msg guest1 quietly)")  # the typed line is erased once sent
    rows = [r for r in term.rows() if r]
    mine = ["<guest2> first of mine", "<guest1> an answer", "* guest2 nods"]
    assert [r for r in rows if r in mine] == mine  # each once, in order
    assert not any("> first of mine" in r and not r.startswith("<") for r in rows)
    assert sum("quietly" in r for r in rows) == 1


def test_tab_completes_a_nick_seen_in_a_join_notice(server, terms):
    term = start(terms, server.port)
    joiner = server.connect()
    joiner.greeted()
    term.wait(r"\*\*\* guest2 joined #lobby")
    term.type(b"GUE\t")
    term.wait(r"^> guest2:$")
    term.type(b"hello\r")
    assert joiner.line() == "<guest1> guest2: hello"


def test_ctrl_r_searches_the_history(server, terms):
    watcher = server.connect()
    watcher.greeted()
    term = start(terms, server.port)
    watcher.until("*** guest2 joined")
    term.line("the first thing")
    term.line("something else")
    # Both lines shown and the prompt back empty: the client reads keys again (a ^R that
    # arrives while it redraws is taken as text by the terminal).
    term.wait(r"<guest2> something else$")
    term.wait(r"^>$")  # rows are shown without trailing spaces
    term.type(b"\x12fir")
    term.wait(r"^\(reverse-i-search\)`fir': the first thing$")
    term.type(b"\r")  # takes what was found into the line
    term.wait(r"^> the first thing$")
    term.type(b"\r")
    assert watcher.line() == "<guest2> the first thing"
    assert watcher.line() == "<guest2> something else"
    assert watcher.line() == "<guest2> the first thing"


@pytest.mark.parametrize("key", [b"\x03", b"\x04"], ids=["ctrl-c", "ctrl-d"])
def test_ctrl_c_or_d_quits_without_blaming_the_server(server, terms, key):
    watcher = server.connect()
    watcher.greeted()
    term = start(terms, server.port)
    term.type(key)
    assert watcher.until("*** guest2 left") == [
        "*** guest2 joined #lobby",
        "*** guest2 left #lobby (quit)",
    ]
    assert term.finish() == 0
    assert "closed the connection" not in term.text()
    assert "reconnect" not in term.text()


def test_reconnects_after_a_restart_with_nick_and_room(terms):
    with Chatd() as first:
        port = first.port
        term = start(terms, port)
        term.line("/nick alice")
        term.line("/join #den")
        term.wait(r"You joined #den")
        first.stop()
    term.wait(r"-- the server closed the connection; reconnecting in 1 s$")
    term.line("said into the void")
    term.wait(r"-- not connected: line not sent$")
    assert "<alice> said into the void" not in term.text()
    with Chatd("--port", str(port), any_port=False) as second:
        term.wait(r"-- connected to 127.0.0.1 port \d+\n(.*\n)*.*You are now alice", timeout=15)
        term.wait(r"connected to(.*\n)*.*You joined #den \(1 user: alice\)")
        watcher = second.connect()
        watcher.greeted()
        watcher.send("/join den")
        assert (
            watcher.until("*** You joined #den")[-1]
            == "*** You joined #den (2 users: alice, guest2)"
        )
        watcher.send("welcome back")
        term.wait(r"<guest2> welcome back")
        second.stop()


def test_no_reconnect_exits_when_the_server_goes(terms):
    with Chatd() as chatd:
        term = start(terms, chatd.port, "--no-reconnect")
        chatd.stop()
        assert term.finish() == 0
    assert "the server closed the connection; not reconnecting" in term.text()


def test_reconnect_says_when_the_nick_is_taken(terms):
    with Chatd() as first:
        port = first.port
        term = start(terms, port)
        term.line("/nick alice")
        term.wait(r"You are now alice")  # the server has it before it stops
        first.stop()
    term.wait(r"reconnecting in 1 s")
    term.proc.send_signal(signal.SIGSTOP)  # so the thief is surely first, however slow
    try:
        second = Chatd("--port", str(port), any_port=False)
        thief = second.connect()
        thief.greeted()
        thief.send("/nick alice")
        thief.until("*** You are now alice")
    finally:
        term.proc.send_signal(signal.SIGCONT)
    with second:
        term.wait(r"your nick alice is taken; you are guest2")
        second.stop()


def test_a_server_that_refuses_at_once_gets_ever_longer_waits(terms):
    """Backoff starts again at 1 s only after a connection that got as far as a room."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)
        term = Term(listener.getsockname()[1])
        terms.append(term)
        for delay in (1, 2, 4):
            peer, _ = listener.accept()
            peer.sendall(b"*** error: server is full (max 1 clients)\r\n")
            peer.close()
            term.wait(rf"-- the server closed the connection; reconnecting in {delay} s$")
        rows = term.rows()
        assert sum("server is full" in r for r in rows) == 3


def test_an_endless_line_ends_the_connection_not_the_client(terms):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)
        term = Term(listener.getsockname()[1])
        terms.append(term)
        peer, _ = listener.accept()
        with peer:
            peer.sendall(b"*** hello\r\n")
            peer.sendall(b"x" * (5 << 20))
            term.wait(r"-- a line from the server over 4 MiB; reconnecting in 1 s$")
        assert term.proc.poll() is None
