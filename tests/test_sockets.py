"""Socket set-up: one chat per port, and the options a client socket gets."""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from chatd import sockets
from chatd.sockets import claim_port, open_listener, tune_client_socket


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_port_is_claimed_by_one_process_at_a_time():
    port = _free_port()
    first = claim_port(port)
    try:
        with pytest.raises(OSError) as refused:
            claim_port(port)
        assert refused.value.errno == errno.EADDRINUSE
        assert "another chatd is serving this port" in str(refused.value)
        claim_port(port + 1 if port < 65535 else port - 1).close()  # other ports are free
    finally:
        first.close()
    claim_port(port).close()  # free again once its holder is gone


def test_a_listener_on_any_free_port_claims_the_port_it_got():
    listener = open_listener("127.0.0.1", 0, claim=True)
    port = listener.getsockname()[1]
    try:
        with pytest.raises(OSError):
            claim_port(port)
        listener.close()
        listener = open_listener("0.0.0.0", port, claim=True)  # ours already: no refusal
    finally:
        listener.close()
        sockets.release_claims(keep=-1)
    claim_port(port).close()  # released


def test_twin_listeners_do_not_claim():
    listener = open_listener("127.0.0.1", 0, reuse_port=True)
    twin = open_listener("127.0.0.1", listener.getsockname()[1], reuse_port=True)
    try:
        claim_port(listener.getsockname()[1]).close()
    finally:
        twin.close()
        listener.close()


def _accepted() -> tuple[socket.socket, socket.socket, socket.socket]:
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname()[:2])
    server_side, _ = listener.accept()
    return listener, client, server_side


def test_a_client_socket_gives_up_on_unacknowledged_data_like_keepalive_does():
    listener, client, conn = _accepted()
    try:
        tune_client_socket(conn)
        get = conn.getsockopt
        tcp = socket.IPPROTO_TCP
        assert get(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        idle, interval, count = (
            get(tcp, socket.TCP_KEEPIDLE),
            get(tcp, socket.TCP_KEEPINTVL),
            get(tcp, socket.TCP_KEEPCNT),
        )
        assert (idle, interval, count) == (60, 10, 6)
        # The same two minutes whether the peer vanished idle or while being sent lines.
        assert get(tcp, socket.TCP_USER_TIMEOUT) == (idle + interval * count) * 1000 == 120_000
        assert get(tcp, socket.TCP_NODELAY) == 1
    finally:
        for s in (listener, client, conn):
            s.close()


def _private_network_missing() -> str | None:
    """Why the vanished-peer test cannot run here, if it cannot."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return "needs root on Linux: a private network namespace and ip rules"
    for program in ("unshare", "ip"):
        if shutil.which(program) is None:
            return f"needs {program} (util-linux, iproute2)"
    trial = subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10)
    if trial.returncode != 0:
        return f"cannot make a network namespace: {trial.stderr.decode().strip()}"
    return None


@pytest.mark.e2e
def test_a_peer_that_vanished_while_being_sent_lines_is_dropped():
    """In a private network namespace, packets to one client's address are blackholed
    while its room keeps talking: with the user timeout (shortened to 1 s here) the server
    drops it; a chatd without the option still counts it after three seconds."""
    reason = _private_network_missing()
    if reason:
        pytest.skip(reason)
    script = Path(__file__).with_name("netns_vanished.py")
    result = subprocess.run(
        ["unshare", "-n", sys.executable, str(script)], capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stderr.decode()
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["left"] == "*** guest2 left #lobby (connection error: Connection timed out)"
    assert 1.0 <= report["elapsed"] < 3.0
    assert report["control_who"] == "*** 2 users in #lobby: guest1, guest2"


def test_a_listener_that_fails_gives_its_claim_back():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError) as failed:
            open_listener("127.0.0.1", port, claim=True)
        assert failed.value.errno == errno.EADDRINUSE
    claim_port(port).close()  # not left claimed
