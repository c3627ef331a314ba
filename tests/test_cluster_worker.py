"""A cluster node's worker: what it makes of the hub's Dropped, Pause and Evict, step by step."""

from __future__ import annotations

import socket

from harness import Peer

from chatd.clusterevents import Dropped, Evict, Pause
from chatd.config import Config
from chatd.core import intents as i
from chatd.runner import Runner

PREFIX = "n~1/0.1:"


def worker() -> tuple[Runner, socket.socket]:
    ours, theirs = socket.socketpair()
    runner = Runner(Config(flood_rate=0), [], {}, True, theirs, 0, None, PREFIX)
    return runner, ours


def client(runner: Runner) -> Peer:
    mine, theirs = socket.socketpair()
    conn = runner.server.adopt(theirs, "10.0.0.1")
    assert conn is not None
    runner.server.apply(i.Connect(conn.id, "10.0.0.1", lobby=True))  # as the stream says
    runner.loop.run_once(0)
    return Peer(mine)


def test_member_ids_carry_the_node_s_prefix() -> None:
    runner, _ = worker()
    client(runner)
    assert list(runner.server.chat.by_id) == [PREFIX + "1"]


def test_a_dropped_prefix_disconnects_those_users_in_every_replica() -> None:
    runner, _ = worker()
    watcher = client(runner)
    deliver = runner.server.bus.deliver
    deliver(i.Connect("m~2/0.3:1", "10.0.0.2", lobby=True))
    deliver(i.Connect("m~2/1.4:1", "10.0.0.3", lobby=True))
    runner.loop.run_once(0)
    watcher.lines()
    deliver(Dropped("m~2/", "connection lost"))
    runner.loop.run_once(0)
    assert list(runner.server.chat.by_id) == [PREFIX + "1"]
    assert watcher.lines() == [
        "*** guest2 left #lobby (connection lost)",
        "*** guest3 left #lobby (connection lost)",
    ]
    deliver(Dropped("m~2/", "connection lost"))  # twice: nothing more
    runner.loop.run_once(0)
    assert watcher.lines() == []


def test_input_resumes_only_when_neither_the_bus_nor_redis_holds_it_back() -> None:
    runner, _ = worker()
    deliver, server = runner.server.bus.deliver, runner.server
    deliver(Pause(True))
    assert server.input_paused
    runner._bus_congested(True)
    deliver(Pause(False))
    assert server.input_paused  # the bus to the master is still backed up
    runner._bus_congested(False)
    assert not server.input_paused


def test_evict_tells_every_client_once_and_closes_them() -> None:
    runner, _ = worker()
    user = client(runner)
    user.lines()
    runner.server.bus.deliver(Evict("this node lost touch"))
    for _ in range(3):
        runner.loop.run_once(0)
    assert user.lines() == ["*** this node lost touch"]
    assert user.sock.recv(10) == b""
    assert runner.server.shutting_down
