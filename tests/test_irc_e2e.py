"""The real chatd with a line listener and an IRC listener (listen key): raw IRC sockets
and line sockets in one chat, with one process and with workers."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import pytest
from e2e import Chatd, TcpPeer, chatd_command

LISTEN = "listen:\n  - {protocol: line, port: 0}\n  - {protocol: irc, port: 0}\n"
ADDRESS = re.compile(rb"listening on (.*)")


def start(tmp_path: Path, workers: int, extra: str = "") -> tuple[Chatd, int, int]:
    config = tmp_path / "chatd.yaml"
    config.write_text(LISTEN + f"workers: {workers}\nserver_name: irc.test\n" + extra)
    chatd = Chatd("--config", str(config), any_port=False)
    where = chatd.wait_log(ADDRESS).group(1)
    line_port, irc_port = (int(p) for p in re.findall(rb":(\d+)", where)[:2])
    assert f"127.0.0.1:{irc_port} (irc)".encode() in where
    return chatd, line_port, irc_port


def dial(port: int) -> TcpPeer:
    return TcpPeer(socket.create_connection(("127.0.0.1", port), timeout=5))


def register(peer: TcpPeer, nick: str) -> list[str]:
    peer.send(f"NICK {nick}", f"USER {nick} 0 * :{nick} Real")
    return peer.until(f":irc.test 422 {nick} ")  # no motd: the burst ends with 422


@pytest.mark.parametrize("workers", [1, 2])
def test_irc_and_line_users_see_each_other(tmp_path, workers):
    chatd, line_port, irc_port = start(tmp_path, workers)
    with chatd:
        line = dial(line_port)
        nick = line.greeted()
        irc = dial(irc_port)
        burst = register(irc, "alice")
        assert burst[0].startswith(":irc.test 001 alice ")
        irc.send("JOIN #lobby")
        names = irc.until(":irc.test 366 alice #lobby ")
        assert any(nick in x for x in names if " 353 " in x)  # the line user is there
        assert "alice" in line.line()  # the join, as the line protocol says it
        irc.send("PRIVMSG #lobby :hello from irc", "PRIVMSG #lobby :\x01ACTION waves\x01")
        assert line.line() == "<alice> hello from irc"
        assert line.line() == "* alice waves"
        line.send("hello from line", "/me nods")
        source = f":{nick}!line@127.0.0.1"  # a line user's IRC source names its protocol
        assert irc.line() == f"{source} PRIVMSG #lobby :hello from line"
        assert irc.line() == f"{source} PRIVMSG #lobby :\x01ACTION nods\x01"
        irc.close()
        line.close()
        assert chatd.stop() == 0


def test_too_long_irc_line_gets_417_and_the_connection_stays(tmp_path):
    chatd, _, irc_port = start(tmp_path, 1)
    with chatd:
        irc = dial(irc_port)
        register(irc, "bob")
        irc.send("PRIVMSG #lobby :" + "x" * 700, "PING :alive")
        assert irc.line().startswith(":irc.test 417 bob ")
        assert irc.line() == ":irc.test PONG irc.test alive"
        irc.close()
        assert chatd.stop() == 0


def test_a_line_user_s_nick_is_taken_for_irc(tmp_path):
    chatd, line_port, irc_port = start(tmp_path, 2)
    with chatd:
        line = dial(line_port)
        line.greeted()
        line.send("/nick Carol")
        assert "carol" in line.line().lower()
        irc = dial(irc_port)
        irc.send("NICK carol", "USER c 0 * :C")  # case-insensitively the same nick
        assert irc.line().startswith(":irc.test 433 * carol ")
        irc.send("NICK dave")
        assert irc.until(":irc.test 001 ")[-1].startswith(":irc.test 001 dave ")
        irc.close()
        line.close()
        assert chatd.stop() == 0


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        ("listen: [{protocol: smtp, port: 25}]\n", "listen[0].protocol: must be one of line, irc"),
        (
            "listen:\n  - {protocol: line, port: 7001}\n  - {protocol: irc, port: 7001}\n",
            "listen[1]: 127.0.0.1 port 7001 is listen[0]'s already",
        ),
        ("listen: [{protocol: irc, port: -1}]\n", "listen[0].port: must be a whole number"),
        ("port: 5000\n" + LISTEN, "listen: port (from "),
    ],
)
def test_check_config_refuses_bad_listen_entries(tmp_path, text, wanted):
    config = tmp_path / "chatd.yaml"
    config.write_text(text)
    result = subprocess.run(
        chatd_command("--check-config", "--config", str(config)),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 78
    assert f"{config}: {wanted}" in result.stderr


@pytest.mark.parametrize("workers", [1, 2])
def test_socket_activation_serves_each_socket_by_its_name(tmp_path, workers):
    irc_sock = socket.create_server(("127.0.0.1", 0))
    line_sock = socket.create_server(("127.0.0.1", 0))
    config = tmp_path / "chatd.yaml"
    config.write_text(f"workers: {workers}\nserver_name: irc.test\n")
    command = " ".join(chatd_command("--config", str(config)))

    def as_systemd() -> None:  # fd 3 is named irc, fd 4 line: the order is the units'
        os.dup2(irc_sock.fileno(), 3)
        os.dup2(line_sock.fileno(), 4)

    proc = subprocess.Popen(
        ["sh", "-c", f"LISTEN_PID=$$ LISTEN_FDS=2 LISTEN_FDNAMES=irc:line exec {command}"],
        preexec_fn=as_systemd,
        stderr=subprocess.DEVNULL,
        close_fds=False,
    )
    try:
        line = dial(line_sock.getsockname()[1])
        nick = line.greeted()
        irc = dial(irc_sock.getsockname()[1])
        register(irc, "erin")
        irc.send(f"PRIVMSG {nick} :psst")
        assert line.line() == "*erin* psst"  # a private message, line-style
        irc.close()
        line.close()
        proc.terminate()
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        proc.wait()
        irc_sock.close()
        line_sock.close()


def test_an_irc_port_in_use_exits_69_naming_it(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "chatd.yaml"
        config.write_text(
            f"listen:\n  - {{protocol: line, port: 0}}\n  - {{protocol: irc, port: {port}}}\n"
        )
        result = subprocess.run(
            chatd_command("--config", str(config)), capture_output=True, timeout=20
        )
    assert result.returncode == 69
    assert f"cannot listen on 127.0.0.1 port {port}".encode() in result.stderr


def test_sighup_with_a_changed_listen_keeps_the_listeners(tmp_path):
    chatd, line_port, irc_port = start(tmp_path, 1)
    with chatd:
        (tmp_path / "chatd.yaml").write_text("listen: [{protocol: irc, port: 0}]\n")
        chatd.signal(signal.SIGHUP)
        chatd.wait_log(b"a change of listen (or to or from it) takes a restart")
        irc = dial(irc_port)
        irc.send("NICK frank", "USER f 0 * :F")
        assert " 001 frank " in irc.line()  # still IRC, still there
        line = dial(line_port)
        line.greeted()
        irc.close()
        line.close()
        assert chatd.stop() == 0
