"""The shipped unit files and the shipped config agree, and chatd says when they do not."""

from __future__ import annotations

import socket
from pathlib import Path

import yaml

from chatd import systemd

ROOT = Path(__file__).resolve().parents[1]


def _listen_stream() -> tuple[str, int]:
    for line in (ROOT / "systemd" / "chatd.socket").read_text().splitlines():
        if line.startswith("ListenStream="):
            host, _, port = line.split("=", 1)[1].rpartition(":")
            return host.strip("[]"), int(port)
    raise AssertionError("chatd.socket has no ListenStream=")


def test_socket_unit_listens_where_the_shipped_config_binds():
    config = yaml.safe_load((ROOT / "etc" / "chatd.yaml").read_text())
    assert _listen_stream() == (config["bind"], config["port"])


def test_service_leaves_the_log_destination_to_the_config():
    unit = (ROOT / "systemd" / "chatd.service").read_text()
    (exec_start,) = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    assert "--log-file" not in exec_start
    assert "--config /etc/chatd.yaml" in exec_start


def _listener(host: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind((host, 0))
    sock.listen()
    return sock


def test_an_inherited_socket_on_the_configured_address_is_no_mismatch():
    with _listener("127.0.0.1") as sock:
        port = sock.getsockname()[1]
        assert systemd.address_mismatch([sock], "127.0.0.1", port) is None


def test_an_inherited_socket_elsewhere_is_named_with_the_config_it_contradicts():
    with _listener("127.0.0.1") as sock:
        port = sock.getsockname()[1]
        why = systemd.address_mismatch([sock], "127.0.0.1", port + 1 if port < 65535 else 1)
        assert why is not None
        assert f"127.0.0.1:{port}" in why and "bind 127.0.0.1 port" in why
        assert systemd.address_mismatch([sock], "0.0.0.0", port) is not None


def test_an_ipv6_inherited_socket_compares_by_address_not_spelling():
    try:
        sock = _listener("::1")
    except OSError:
        import pytest

        pytest.skip("no IPv6 loopback on this machine")
    with sock:
        port = sock.getsockname()[1]
        assert systemd.address_mismatch([sock], "0:0:0:0:0:0:0:1", port) is None


def _activated_stderr(tmp_path: Path, config_text: str, listener: socket.socket) -> bytes:
    """chatd started as systemd would with listener as fd 3; its log until it serves."""
    import signal

    from e2e import TcpPeer, socket_activated

    config = tmp_path / "chatd.yaml"
    config.write_text(config_text)
    proc = socket_activated(listener, "--config", str(config))
    try:
        port = listener.getsockname()[1]
        peer = TcpPeer(socket.create_connection(("127.0.0.1", port), timeout=5))
        assert peer.greeted() == "guest1"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        return proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()


def test_chatd_says_at_start_when_the_socket_unit_and_config_disagree(tmp_path):
    with _listener("127.0.0.1") as listener:
        port = listener.getsockname()[1]
        other = port + 1 if port < 65535 else 1
        log = _activated_stderr(tmp_path, f"bind: 127.0.0.1\nport: {other}\n", listener)
        assert log.count(b"the socket unit listens on") == 1
        assert f"127.0.0.1:{port} but the config says bind 127.0.0.1 port {other}".encode() in log
        log = _activated_stderr(tmp_path, f"bind: 127.0.0.1\nport: {port}\n", listener)
        assert b"the socket unit listens on" not in log
