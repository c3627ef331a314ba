"""TLS sockets passed by systemd: FileDescriptorName=line-tls / irc-tls, the key read as a
credential from $CREDENTIALS_DIRECTORY, and a TLS socket without a pair refused (78)."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
from pathlib import Path

import pytest
from e2e import TcpPeer, chatd_command
from tlspki import NAME, Pki

from chatd import systemd
from chatd.config import EX_CONFIG

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("name", "wanted"),
    [
        ("line", ("line", False)),
        ("irc", ("irc", False)),
        ("line-tls", ("line", True)),
        ("irc-tls", ("irc", True)),
        ("chatd.socket", ("line", False)),  # systemd's default name: the unit's
        ("irc-tlsx", ("line", False)),
        ("", ("line", False)),
    ],
)
def test_a_socket_units_name_says_protocol_and_tls(name, wanted):
    assert systemd.protocol_named(name) == wanted


def _activated(sockets: list[socket.socket], names: str, env: str, *args: str):
    command = " ".join(chatd_command(*args))

    def as_systemd() -> None:
        for n, sock in enumerate(sockets):
            os.dup2(sock.fileno(), 3 + n)

    return subprocess.Popen(
        [
            "sh",
            "-c",
            f"{env} LISTEN_PID=$$ LISTEN_FDS={len(sockets)} LISTEN_FDNAMES={names} exec {command}",
        ],
        preexec_fn=as_systemd,
        stderr=subprocess.PIPE,
        close_fds=False,
    )


def test_tls_sockets_from_systemd_serve_tls_with_the_key_as_a_credential(tmp_path: Path):
    pki = Pki(tmp_path)
    cert, key, _ = pki.pair("server")
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "chatd.key").write_bytes(Path(key).read_bytes())
    config = tmp_path / "chatd.yaml"
    config.write_text(f"server_name: irc.test\ntls_cert: {cert}\ntls_key: credential:chatd.key\n")
    line_tls, irc_tls, plain = (socket.create_server(("127.0.0.1", 0)) for _ in range(3))
    proc = _activated(
        [line_tls, irc_tls, plain],
        "line-tls:irc-tls:line",
        f"CREDENTIALS_DIRECTORY={credentials}",
        "--config",
        str(config),
    )
    context = ssl.create_default_context(cafile=pki.cafile)
    try:
        raw = socket.create_connection(("127.0.0.1", line_tls.getsockname()[1]), timeout=10)
        secure = TcpPeer(context.wrap_socket(raw, server_hostname=NAME))
        nick = secure.greeted()
        clear = TcpPeer(socket.create_connection(("127.0.0.1", plain.getsockname()[1]), 10))
        other = clear.greeted()
        secure.until(f"*** {other} joined #lobby")
        clear.send("hello from the clear")
        assert secure.line() == f"<{other}> hello from the clear"
        raw = socket.create_connection(("127.0.0.1", irc_tls.getsockname()[1]), timeout=10)
        irc = TcpPeer(context.wrap_socket(raw, server_hostname=NAME))
        irc.send("NICK erin", "USER erin 0 * :Erin")
        assert irc.until(":irc.test 001 erin ")  # registered over TLS
        irc.send(f"PRIVMSG {nick} :psst")
        assert secure.line() == "*erin* psst"
        for peer in (secure, clear, irc):
            peer.close()
        proc.terminate()
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        proc.wait()
        for sock in (line_tls, irc_tls, plain):
            sock.close()


def test_a_tls_socket_from_systemd_without_a_pair_is_a_config_error(tmp_path: Path):
    config = tmp_path / "chatd.yaml"
    config.write_text("server_name: irc.test\n")
    sock = socket.create_server(("127.0.0.1", 0))
    proc = _activated([sock], "irc-tls", "", "--config", str(config))
    try:
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
        sock.close()
    assert proc.returncode == EX_CONFIG
    assert f"{config}: tls_cert:".encode() in err
    assert b"FileDescriptorName=line-tls or irc-tls" in err
