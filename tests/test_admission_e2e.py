"""The real chatd: server_password on both ports (one process and workers, a SIGHUP that
changes it, a debug log that never shows it), the IRC registration and ping timeouts with
short values, and IRC clients and browsers spotted on the line port."""

from __future__ import annotations

import re
import signal
import socket
import time
from pathlib import Path

import pytest
from e2e import Chatd, TcpPeer

LISTEN = "listen:\n  - {protocol: line, port: 0}\n  - {protocol: irc, port: 0}\n"
ADDRESS = re.compile(rb"listening on (.*)")
SECRET = "Tr0ub4dor-and-3"


def start(tmp_path: Path, extra: str, log_file: Path | None = None) -> tuple[Chatd, int, int]:
    config = tmp_path / "chatd.yaml"
    config.write_text(LISTEN + "server_name: irc.test\n" + extra)
    chatd = Chatd("--config", str(config), any_port=False, log_file=log_file)
    where = chatd.wait_log(ADDRESS).group(1)
    line_port, irc_port = (int(p) for p in re.findall(rb":(\d+)", where)[:2])
    return chatd, line_port, irc_port


def dial(port: int) -> TcpPeer:
    return TcpPeer(socket.create_connection(("127.0.0.1", port), timeout=5))


def irc_register(port: int, nick: str, password: str | None) -> tuple[TcpPeer, list[str]]:
    peer = dial(port)
    words = [f"PASS {password}"] if password is not None else []
    peer.send(*words, f"NICK {nick}", f"USER {nick} 0 * :Real")
    return peer, peer.until((":irc.test 422 ", "ERROR "))  # type: ignore[arg-type]


def line_login(port: int, password: str) -> tuple[TcpPeer, list[str]]:
    peer = dial(port)
    prompt = peer.until("*** This server needs a password")
    peer.send(f"/pass {password}")
    return peer, prompt


def until_any(peer: TcpPeer, prefixes: tuple[str, ...]) -> list[str]:
    seen = []
    while not seen or not seen[-1].startswith(prefixes):
        seen.append(peer.line())
    return seen


@pytest.mark.parametrize("workers", [1, 2])
def test_server_password_on_both_ports_and_a_reload_that_changes_it(tmp_path, workers):
    log = tmp_path / "chatd.log"
    extra = f"workers: {workers}\nlog_level: debug\nserver_password: {SECRET}\n"
    chatd, line_port, irc_port = start(tmp_path, extra, log)
    with chatd:
        line, prompt = line_login(line_port, SECRET)
        assert prompt[0].startswith("*** Welcome to irc.test")
        nick = line.greeted()
        irc, lines = irc_register(irc_port, "alice", SECRET)
        assert lines[0].startswith(":irc.test 001 alice ")
        bad, lines = irc_register(irc_port, "mallory", "guess-1")
        assert lines[-2:] == [
            ":irc.test 464 * :Password incorrect",
            "ERROR :Closing link: 127.0.0.1 (Bad password)",
        ]
        assert bad.eof()
        none, lines = irc_register(irc_port, "eve", None)
        assert lines[-2] == ":irc.test 464 * :Password incorrect"
        wrong, _ = line_login(line_port, "guess-2")
        assert wrong.line() == "*** error: wrong password (2 tries left)"
        wrong.send("/pass guess-3", "/pass guess-4")
        assert wrong.line() == "*** error: wrong password (1 try left)"
        assert wrong.line() == "*** error: wrong password; closing the connection"
        assert wrong.eof()

        (tmp_path / "chatd.yaml").write_text(
            LISTEN + "server_name: irc.test\n" + extra.replace(SECRET, "N3w-pass-word")
        )
        chatd.signal(signal.SIGHUP)
        chatd.wait_log(b"SIGHUP: config reloaded")
        line.send("/who")  # the running users stay
        assert line.line() == f"*** 1 users in #lobby: {nick}"
        # Each worker takes the new password when the reload's event reaches it.
        deadline = time.monotonic() + 10
        for n in range(100):
            old, old_lines = irc_register(irc_port, f"bob{n}", SECRET)
            new, new_lines = irc_register(irc_port, f"carol{n}", "N3w-pass-word")
            fresh, _ = line_login(line_port, "N3w-pass-word")
            admitted = fresh.line().startswith("*** You are guest")
            for peer in (old, new, fresh):
                peer.close()
            if old_lines[-1].startswith("ERROR ") and " 001 " in new_lines[0] and admitted:
                break
            assert time.monotonic() < deadline, (old_lines, new_lines)
        for peer in (line, irc, none):
            peer.close()
        assert chatd.stop() == 0
    text = log.read_text()
    assert "connected from" in text
    for secret in (SECRET, "N3w-pass-word", "guess-1", "guess-2", "guess-3", "guess-4"):
        assert secret not in text


def test_registration_timeout_closes_an_unregistered_irc_connection(tmp_path):
    chatd, _, irc_port = start(tmp_path, "registration_timeout: 1\n")
    with chatd:
        irc = dial(irc_port)
        irc.send("NICK alice")
        assert irc.line(timeout=10) == "ERROR :Closing link: 127.0.0.1 (Registration timeout)"
        assert irc.eof()
        assert chatd.stop() == 0


@pytest.mark.parametrize("workers", [1, 2])
def test_ping_timeout_closes_a_silent_irc_user_and_the_room_sees_it(tmp_path, workers):
    # 2 s: the test has 4 s to JOIN after registering, however loaded the machine.
    chatd, line_port, irc_port = start(tmp_path, f"workers: {workers}\nirc_ping_interval: 2\n")
    with chatd:
        line = dial(line_port)
        line.greeted()
        irc, _ = irc_register(irc_port, "alice", None)
        irc.send("JOIN #lobby")
        irc.until(":irc.test 366 alice #lobby ")
        assert line.line() == "*** alice joined #lobby"
        assert irc.line(timeout=10) == "PING irc.test"
        # No answer: closed within one more interval, and the room hears why.
        assert irc.line(timeout=10) == "ERROR :Closing link: 127.0.0.1 (Ping timeout)"
        assert irc.eof()
        assert line.line(timeout=10) == "*** alice left #lobby (Ping timeout)"
        line.close()
        assert chatd.stop() == 0


def test_an_irc_user_that_answers_pings_stays(tmp_path):
    chatd, _, irc_port = start(tmp_path, "irc_ping_interval: 2\n")  # 2 s to answer each
    with chatd:
        irc, _ = irc_register(irc_port, "alice", None)
        for _ in range(2):
            assert irc.line(timeout=10) == "PING irc.test"
            irc.send("PONG :irc.test")
        irc.send("PING :still-here")
        assert irc.until(":irc.test PONG ")[-1] == ":irc.test PONG irc.test still-here"
        irc.close()
        assert chatd.stop() == 0


@pytest.mark.parametrize("workers", [1, 2])
def test_irc_client_and_browser_on_the_line_port_are_sent_away(tmp_path, workers):
    chatd, line_port, irc_port = start(tmp_path, f"workers: {workers}\n")
    with chatd:
        bystander = dial(line_port)
        bystander.greeted()
        irc = dial(line_port)
        irc.greeted()
        irc.send("CAP LS 302", "NICK alice", "USER alice 0 * :Alice")
        # (With workers, guest2 may yet hear of the others; its one error is the last line.)
        assert irc.until("*** error: ")[-1] == (
            f"*** error: this is chatd's line-protocol port; IRC clients connect to port {irc_port}"
        )
        assert irc.eof()
        web = dial(line_port)
        web.greeted()
        web.send("GET / HTTP/1.1", "Host: localhost", "")
        assert web.until("*** error: ")[-1] == (
            "*** error: this is a chat server (chatd line protocol), not a web server"
        )
        assert web.eof()
        # It sees them come and go, and nothing of what they sent (with workers, in the
        # order their workers' events reached the master).
        expected = {
            "*** guest2 joined #lobby",
            "*** guest2 left #lobby (IRC client on the line port)",
            "*** guest3 joined #lobby",
            "*** guest3 left #lobby (HTTP request on the line port)",
        }
        seen = [bystander.line(timeout=10) for _ in expected]
        assert set(seen) == expected
        bystander.send("/who")
        assert bystander.line() == "*** 1 users in #lobby: guest1"
        bystander.close()
        assert chatd.stop() == 0
