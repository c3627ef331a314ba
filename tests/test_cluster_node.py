"""A cluster node's I/O: XADD retries and the pause with a fake Redis client, then joining
from a stored snapshot, trimming and leases against a real redis-server, in one loop."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis_server import REDIS_SERVER, SKIP_REASON, RedisServer

from chatd import cluster as cl
from chatd import codec
from chatd.clusterevents import Dropped, disconnects
from chatd.config import Cluster
from chatd.core import intents as i
from chatd.core.chat import Chat
from chatd.loop import Loop
from chatd.rediscommands import Commands, ConnectionLost

needs_redis = pytest.mark.skipif(REDIS_SERVER is None, reason=SKIP_REASON)


class Recorder:
    """The hub's side of the hooks: a chat that applies what the node delivers."""

    def __init__(self) -> None:
        self.chat = Chat()
        self.events: list[i.Intent] = []
        self.paused: list[bool] = []
        self.left: list[str] = []
        self.failed: list[tuple[int, str]] = []

    def hooks(self) -> cl.Hooks:
        return cl.Hooks(
            joined=self.joined,
            deliver=self.deliver,
            leave=self.left.append,
            congested=self.paused.append,
            chat_state=lambda: self.chat.snapshot(),
            settings=lambda: codec.encode(i.Settings({"max_clients": 50}, None)),
            fatal=lambda status, why: self.failed.append((status, why)),
        )

    def joined(self, state: dict[str, Any] | None) -> None:
        self.chat = Chat()
        if state is not None:
            self.chat.restore(state)

    def deliver(self, frames: bytes, events: list[i.Intent]) -> None:
        for event in events:
            self.events.append(event)
            if isinstance(event, Dropped):
                for disconnect in disconnects(self.chat, event):
                    self.chat.apply(disconnect)
            else:
                self.chat.apply(event)


class FakeClient(Commands):
    """Records commands; the test answers them."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[Any, ...], Callable[[Any], None] | None]] = []

    def call(self, *args: Any, callback: Any = None, block: float = 0.0) -> bool:
        self.calls.append((args, callback))
        return True

    def xadds(self) -> list[tuple[tuple[Any, ...], Any]]:
        return [(args, cb) for args, cb in self.calls if args[0] == "XADD"]


def joined_node(recorder: Recorder) -> tuple[cl.ClusterNode, FakeClient]:
    node = cl.ClusterNode(Cluster(redis="/nowhere.sock", node="n"), Loop(), recorder.hooks())
    node.writer = FakeClient()  # type: ignore[assignment]
    node.joined, node.epoch, node.source = True, "e", "n~1"
    return node, node.writer  # type: ignore[return-value]


def test_an_xadd_lost_with_the_connection_is_sent_again_with_its_sequence_number() -> None:
    node, writer = joined_node(Recorder())
    node.send([b"one"])
    node.send([b"two"])  # waits: one entry in flight
    ((args, callback),) = writer.xadds()
    assert args[-4:] == ("s", "n~1:1", "f", b"one")
    callback(ConnectionLost("dropped"))
    (_, (again, callback)) = writer.xadds()
    assert again == args
    callback(b"1-0")
    assert writer.xadds()[-1][0][-4:] == ("s", "n~1:2", "f", b"two")


def test_input_pauses_past_the_high_water_and_resumes_once_redis_takes_it() -> None:
    recorder = Recorder()
    node, writer = joined_node(recorder)
    frame = b"x" * (256 << 10)
    for _ in range(cl.HIGH_WATER // len(frame) + 1):
        node.send([frame])
    assert recorder.paused == [True]
    while len(recorder.paused) == 1:
        writer.xadds()[-1][1](b"1-0")  # Redis confirms the entry in flight
    assert recorder.paused == [True, False]
    assert node.outbox.unsent < cl.LOW_WATER


def test_nothing_is_sent_while_not_joined() -> None:
    node, writer = joined_node(Recorder())
    node.joined = False
    node.send([b"from an evicted user"])
    assert writer.calls == []


# Against redis-server.


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    yield server
    server.stop()


def run_until(loop: Loop, done: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out"
        loop.run_once(0.05)


def redis_call(loop: Loop, node: cl.ClusterNode, *args: Any) -> Any:
    got: list[Any] = []
    node.writer.call(*args, callback=got.append)
    run_until(loop, lambda: bool(got))
    return got[0]


def start(loop: Loop, redis: RedisServer, name: str, lease: float = 5) -> tuple[Any, Recorder]:
    recorder = Recorder()
    settings = Cluster(redis=redis.socket_path, node=name, lease=lease)
    node = cl.ClusterNode(settings, loop, recorder.hooks())
    node.start()
    run_until(loop, lambda: node.joined)
    return node, recorder


def connect(node: cl.ClusterNode, n: int) -> str:
    uid = f"{node.source}/0.1:{n}"
    node.send([codec.encode(i.Connect(uid, "ip", lobby=True))])
    return uid


@needs_redis
def test_a_node_joins_from_the_stored_snapshot_and_the_stream_is_trimmed_behind(redis) -> None:
    loop = Loop()
    a, seen_a = start(loop, redis, "a")
    first = [connect(a, n) for n in range(3)]
    run_until(loop, lambda: len(seen_a.chat.by_id) == 3)
    a._snapshot()
    run_until(loop, lambda: a.stored_id == a.inbox.last_id)
    kept = a.stored_id
    second = [connect(a, n) for n in range(3, 6)]
    run_until(loop, lambda: len(seen_a.chat.by_id) == 6)
    before = redis_call(loop, a, "XRANGE", a.keys.stream, "-", "+")
    assert before[0][0].decode() < kept
    a._snapshot()
    run_until(loop, lambda: a.stored_id == a.inbox.last_id)
    # Trimmed behind the snapshot replaced (kept), not behind this one.
    after = redis_call(loop, a, "XRANGE", a.keys.stream, "-", "+")
    assert after[0][0].decode() == kept
    assert after == [entry for entry in before if entry[0].decode() >= kept]

    b, seen_b = start(loop, redis, "b")
    assert set(seen_b.chat.by_id) == {*first, *second}  # from the snapshot alone
    assert seen_a.chat.settings.max_clients == seen_b.chat.settings.max_clients == 50
    assert b.inbox.last_id == a.stored_id
    later = connect(b, 1)
    run_until(loop, lambda: later in seen_a.chat.by_id and later in seen_b.chat.by_id)
    assert seen_a.chat.snapshot() == seen_b.chat.snapshot()
    a.close()
    b.close()


@needs_redis
def test_a_node_that_stops_refreshing_is_said_gone_once(redis) -> None:
    loop = Loop()
    a, seen_a = start(loop, redis, "a", lease=1)
    b, seen_b = start(loop, redis, "b", lease=1)
    user = connect(b, 1)
    run_until(loop, lambda: user in seen_a.chat.by_id)
    b_source = b.source
    b.close()  # silent from now on, like a node that was killed
    run_until(loop, lambda: user not in seen_a.chat.by_id)
    assert seen_a.events.count(Dropped(b_source + "/", "connection lost")) == 1
    assert redis_call(loop, a, "HKEYS", a.keys.nodes) == [b"a"]
    a.close()


@needs_redis
def test_a_node_that_reads_its_own_gone_evicts_and_joins_afresh(redis) -> None:
    loop = Loop()
    a, seen_a = start(loop, redis, "a")
    old = a.source
    connect(a, 1)
    run_until(loop, lambda: len(seen_a.chat.by_id) == 1)
    redis_call(loop, a, "XADD", a.keys.stream, "*", "e", a.epoch, "g", old + "/")
    run_until(loop, lambda: seen_a.left and a.joined)
    assert seen_a.left == [cl.LOST_NOTICE]
    assert a.source != old and seen_a.chat.by_id == {}
    a.close()


@needs_redis
def test_a_retried_claim_is_granted_and_another_incarnation_s_is_not(redis) -> None:
    from chatd import clusterscripts as lua

    loop = Loop()
    a, _ = start(loop, redis, "a")
    keys, incarnation = a.keys, a.source.partition("~")[2]
    claim_keys = [keys.nodes, keys.stream, keys.epoch, keys.lease]

    def claim(who: str, previous: str = "") -> Any:
        args = ["a", who, a.epoch, 5000, previous]
        return redis_call(loop, a, "EVAL", lua.CLAIM, 4, *claim_keys, *args)

    assert claim(incarnation) == 1  # the reply was lost and the claim sent again
    assert claim("0123abcd") == 0  # a second process named a
    assert claim("0123abcd", previous=incarnation) == 1  # our own next incarnation
    a.close()


@needs_redis
def test_a_redis_that_lost_the_last_entry_applied_starts_a_new_epoch(redis) -> None:
    loop = Loop()
    a, seen_a = start(loop, redis, "a")
    b, seen_b = start(loop, redis, "b")
    connect(a, 1)
    run_until(loop, lambda: len(seen_a.chat.by_id) == 1 and len(seen_b.chat.by_id) == 1)
    old_epoch, last = a.epoch, a.inbox.last_id
    redis_call(loop, a, "XDEL", a.keys.stream, last)  # as an AOF that missed its last second
    a._writer_state(True)  # what a reconnection runs
    run_until(loop, lambda: a.joined and a.epoch != old_epoch)
    assert seen_a.left == [cl.EPOCH_NOTICE]
    run_until(loop, lambda: b.joined and b.epoch == a.epoch)  # b sees it at its next refresh
    assert seen_b.left == [cl.EPOCH_NOTICE]
    assert seen_a.chat.by_id == seen_b.chat.by_id == {}
    a.close()
    b.close()


@needs_redis
def test_a_node_whose_place_in_the_stream_was_trimmed_away_joins_again_alone(redis) -> None:
    loop = Loop()
    a, seen_a = start(loop, redis, "a")
    b, seen_b = start(loop, redis, "b")
    connect(a, 1)
    run_until(loop, lambda: len(seen_b.chat.by_id) == 1)
    epoch, applied = a.epoch, a.inbox.last_id
    connect(b, 1)
    run_until(loop, lambda: len(seen_b.chat.by_id) == 2 and b.inbox.last_id != applied)
    redis_call(loop, a, "XTRIM", a.keys.stream, "MINID", b.inbox.last_id)
    a.inbox.last_id = applied  # a fell behind the trim
    a._writer_state(True)
    run_until(loop, lambda: bool(seen_a.left) and a.joined)
    assert seen_a.left == [cl.LOST_NOTICE] and a.epoch == epoch  # the chat goes on
    assert seen_b.left == []
    a.close()
    b.close()
