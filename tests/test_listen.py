"""The listen key: listeners by protocol, validated like every key; systemd's sockets are
tagged by LISTEN_FDNAMES; workers get a twin of every listener."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from chatd import cli, systemd
from chatd import config as cfg
from chatd.sockets import describe, open_listener, protocol_of, tag


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "chatd.yaml"
    path.write_text(text)
    return str(path)


def test_without_listen_one_line_listener_at_bind_and_port():
    c = cfg.from_mapping({"bind": "::", "port": 6001}, "f.yaml")
    assert c.listeners() == [("line", "::", 6001)]


def test_listen_entries_default_to_the_top_level_bind(tmp_path):
    path = write(
        tmp_path,
        "bind: 127.0.0.2\nlisten:\n  - {protocol: line, port: 5000}\n"
        "  - {protocol: irc, bind: '::1', port: 6667}\n",
    )
    c = cfg.load(path)
    assert c.listeners() == [("line", "127.0.0.2", 5000), ("irc", "::1", 6667)]


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("listen: 5", "listen", "must be a list of {protocol: line | irc"),
        ("listen: [5]", "listen[0]", "must be a mapping with protocol and port, got 5"),
        (
            "listen:\n  - {protocol: line, port: 1}\n  - {protocol: http, port: 2}",
            "listen[1].protocol",
            "must be one of line, irc, got 'http'",
        ),
        ("listen: [{protocol: irc}]", "listen[0]", "needs port"),
        ("listen: [{port: 1}]", "listen[0]", "needs protocol"),
        (
            "listen: [{protocol: irc, port: 70000}]",
            "listen[0].port",
            "must be a whole number from 0 to 65535, got 70000",
        ),
        ("listen: [{protocol: irc, port: 1, bind: nowhere}]", "listen[0].bind", "must be an IP"),
        ("listen: [{protocol: irc, port: 1, host: x}]", "listen[0].host", "unknown key"),
        (
            "listen:\n  - {protocol: line, port: 7000}\n  - {protocol: irc, port: 7000}",
            "listen[1]",
            "127.0.0.1 port 7000 is listen[0]'s already",
        ),
        (
            "port: 5000\nlisten: [{protocol: irc, port: 6667}]",
            "listen",
            "port (from FILE) cannot be given with listen",
        ),
    ],
)
def test_bad_listen_is_a_config_error_naming_file_key_and_entry(tmp_path, text, key, message):
    path = write(tmp_path, text + "\n")
    with pytest.raises(cfg.ConfigError) as caught:
        cfg.load(path)
    assert str(caught.value).startswith(f"{path}: {key}: "), str(caught.value)
    assert message.replace("FILE", path) in str(caught.value)


def test_check_config_exits_78_for_bad_listen(tmp_path, capsys):
    path = write(tmp_path, "listen: [{protocol: gopher, port: 70}]\n")
    assert cli.main(["--check-config", "--config", path]) == 78
    err = capsys.readouterr().err
    assert f"{path}: listen[0].protocol: must be one of line, irc" in err


def test_port_on_the_command_line_with_listen_is_refused(tmp_path):
    c = cfg.load(write(tmp_path, "listen: [{protocol: irc, port: 6667}]\n"))
    with pytest.raises(cfg.ConfigError, match="port \\(from command line\\) cannot be given"):
        cfg.override(c, {"port": 5000})


def test_two_free_ports_are_not_duplicates(tmp_path):
    text = "listen:\n  - {protocol: line, port: 0}\n  - {protocol: irc, port: 0}\n"
    assert len(cfg.load(write(tmp_path, text)).listeners()) == 2


def test_systemd_sockets_are_tagged_by_their_names():
    a, b, c = (open_listener("127.0.0.1", 0) for _ in range(3))
    fds = [os.dup(s.fileno()) for s in (a, b, c)]
    for s in (a, b, c):
        s.close()
    start = systemd.SD_LISTEN_FDS_START
    saved = []
    try:
        for n, fd in enumerate(fds):  # move them to 3, 4, 5 as systemd would
            saved.append(os.dup(start + n) if _open(start + n) else None)
            os.dup2(fd, start + n)
        env = {"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "3", "LISTEN_FDNAMES": "line:irc"}
        got = systemd.listen_fds(env)
        assert [protocol_of(s) for s in got] == ["line", "irc", "line"]  # unnamed: line
        for s in got:
            s.detach()
    finally:
        for n, old in enumerate(saved):
            if old is None:
                os.close(start + n)
            else:
                os.dup2(old, start + n)
                os.close(old)
        for fd in fds:
            os.close(fd)


def _open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_worker_slots_get_a_twin_of_every_listener_with_its_protocol():
    from chatd.master import Master

    line = open_listener("127.0.0.1", 0, reuse_port=True)
    irc = tag(open_listener("127.0.0.1", 0, reuse_port=True), "irc")
    master = Master(cfg.Config(workers=2), [line, irc], {})
    try:
        twins = master.listeners_for(1)
        assert [s.getsockname() for s in twins] == [line.getsockname(), irc.getsockname()]
        assert [protocol_of(s) for s in twins] == ["line", "irc"]
        assert twins[0] is not line
        assert master.listeners_for(0) == [line, irc]
    finally:
        for s in [line, irc, *master.slot_listeners.get(1, [])]:
            s.close()
        master.loop.close()


def test_tag_is_kept_on_the_socket_object():
    s = socket.socket()
    assert protocol_of(s) == "line"
    assert protocol_of(tag(s, "irc")) == "irc"
    s.close()


def test_describe_names_an_irc_listener_s_protocol():
    s = open_listener("127.0.0.1", 0)
    port = s.getsockname()[1]
    assert describe(s) == f"127.0.0.1:{port}"
    assert describe(tag(s, "irc")) == f"127.0.0.1:{port} (irc)"
    s.close()
