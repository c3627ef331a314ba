"""Socket set-up: one chat per port."""

from __future__ import annotations

import errno
import socket

import pytest

from chatd import sockets
from chatd.sockets import claim_port, open_listener


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
    before = len(sockets._claims)
    listener = open_listener("127.0.0.1", 0, claim=True)
    try:
        port = listener.getsockname()[1]
        with pytest.raises(OSError):
            claim_port(port)
    finally:
        listener.close()
        for lock in sockets._claims[before:]:
            lock.close()
        del sockets._claims[before:]


def test_twin_listeners_do_not_claim():
    listener = open_listener("127.0.0.1", 0, reuse_port=True)
    twin = open_listener("127.0.0.1", listener.getsockname()[1], reuse_port=True)
    try:
        claim_port(listener.getsockname()[1]).close()
    finally:
        twin.close()
        listener.close()
