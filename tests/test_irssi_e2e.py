"""A real IRC client: irssi, in a tmux pane, joins #lobby on chatd's IRC listener next to
a line user; each sees the other's message on its own screen."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest
from test_irc_e2e import dial, start

pytestmark = pytest.mark.skipif(
    shutil.which("irssi") is None or shutil.which("tmux") is None,
    reason="needs the irssi and tmux programs (Debian packages irssi, tmux)",
)


class Pane:
    """One tmux server of our own (its own socket name), one window running a command."""

    def __init__(self, command: list[str]) -> None:
        self.socket = f"chatd-test-{os.getpid()}"
        self.tmux("new-session", "-d", "-x", "160", "-y", "40", "-s", "t", *command)

    def tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def keys(self, text: str) -> None:
        self.tmux("send-keys", "-t", "t", "-l", text)
        self.tmux("send-keys", "-t", "t", "Enter")

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "t")

    def wait_for(self, text: str, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)  # a screen gives nothing to wait on
        raise AssertionError(f"{text!r} not on irssi's screen:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)


def test_irssi_and_a_line_user_talk_in_lobby(tmp_path):
    chatd, line_port, irc_port = start(tmp_path, 1)
    with chatd:
        line = dial(line_port)
        nick = line.greeted()
        home = tmp_path / "irssi"
        home.mkdir()
        command = ["irssi", "--home", str(home), "-c", "127.0.0.1", "-p", str(irc_port)]
        pane = Pane([*command, "-n", "ircfan"])
        try:
            pane.wait_for("Welcome")  # 001 arrived: registered
            pane.keys("/join #lobby")
            assert line.until("*** ircfan")[-1] == "*** ircfan joined #lobby"
            pane.wait_for(nick)  # the names list shows the line user
            line.send("hello from the line side")
            pane.wait_for("hello from the line side")
            pane.keys("hello from irssi")
            assert line.until("<ircfan>")[-1] == "<ircfan> hello from irssi"
            pane.keys("/quit leaving")
            assert "leaving" in line.until("*** ircfan")[-1]  # its quit reason
        finally:
            pane.close()
        line.close()
        assert chatd.stop() == 0
