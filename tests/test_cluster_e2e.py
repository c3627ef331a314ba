"""Several real chatd nodes serving one chat through a real redis-server on a unix socket.

Each node is its own chatd process with its own ports (a line and an IRC listener).  The
replicas are compared at the end of each test through what users see: /who on every node.
Marked ``cluster``: ``pytest -m cluster`` runs only these, ``-m "not cluster"`` all but these.
"""

from __future__ import annotations

import re
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e import Chatd, TcpPeer
from redis_server import REDIS_SERVER, SKIP_REASON, RedisServer

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.cluster,
    pytest.mark.skipif(REDIS_SERVER is None, reason=SKIP_REASON),
]

ADDRESS = re.compile(rb"listening on (.*)")
JOINED = re.compile(rb"cluster: (\S+) joined epoch")


class Node:
    """One chatd of the cluster: its line and IRC ports, and its log."""

    def __init__(self, tmp: Path, redis: RedisServer, name: str, workers: int = 1, **keys):
        lease = keys.pop("lease", 3)
        extra = "".join(f"{key}: {value}\n" for key, value in keys.items())
        config = tmp / f"{name}.yaml"
        config.write_text(
            "listen:\n  - {protocol: line, port: 0}\n  - {protocol: irc, port: 0}\n"
            f"workers: {workers}\nserver_name: {name}.test\nflood_rate: 0\n{extra}"
            f"cluster:\n  redis: {redis.socket_path}\n  node: {name}\n  lease: {lease}\n"
        )
        self.name = name
        self.chatd = Chatd("--config", str(config), any_port=False)
        where = self.chatd.wait_log(ADDRESS).group(1)
        self.line_port, self.irc_port = (int(p) for p in re.findall(rb":(\d+)", where)[:2])
        self.chatd.wait_log(JOINED)

    def line(self) -> TcpPeer:
        return TcpPeer(socket.create_connection(("127.0.0.1", self.line_port), timeout=10))

    def user(self, nick: str) -> TcpPeer:
        """A line user with nick, past its greeting and its nick change."""
        peer = self.line()
        peer.greeted()
        peer.send(f"/nick {nick}")
        peer.until(f"*** You are now {nick}", timeout=10)
        return peer

    def irc(self, nick: str) -> TcpPeer:
        peer = TcpPeer(socket.create_connection(("127.0.0.1", self.irc_port), timeout=10))
        peer.send(f"NICK {nick}", f"USER {nick} 0 * :{nick}")
        peer.until(f":{self.name}.test 422 {nick} ", timeout=10)
        return peer


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def nodes(tmp_path: Path, redis: RedisServer) -> Iterator[list[Node]]:
    made: list[Node] = []

    def add(name: str, workers: int = 1, **keys) -> Node:
        node = Node(tmp_path, redis, name, workers, **keys)
        made.append(node)
        return node

    yield add  # type: ignore[misc]
    for node in made:
        with node.chatd:
            pass
        assert b"Traceback" not in node.chatd.log, node.chatd.log.decode()


def seen(peer: TcpPeer, text: str, timeout: float = 10) -> str:
    """Reads lines until one holds text; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        line = peer.line(max(0.01, deadline - time.monotonic()))
        if text in line:
            return line


def who(peer: TcpPeer, room: str = "") -> str:
    peer.send(f"/who {room}".strip())
    return peer.until("*** ", timeout=10)[-1]


def same_who(peers: list[TcpPeer], room: str = "", timeout: float = 10) -> str:
    """/who from every peer, once they agree (an event may still be on its way)."""
    deadline = time.monotonic() + timeout
    while True:
        seen = {who(peer, room) for peer in peers}
        if len(seen) == 1 or time.monotonic() > deadline:
            assert len(seen) == 1, seen
            return seen.pop()
        time.sleep(0.2)


def members(who_line: str) -> set[str]:
    return set(who_line.split(": ", 1)[1].split(", "))


def test_two_nodes_share_one_chat_line_and_irc(nodes):
    a, b = nodes("a", workers=2), nodes("b", workers=1)
    alice, bob = a.user("alice"), b.user("bob")
    seen(alice, "is now known as bob")
    carol = b.irc("carol")
    carol.send("JOIN #lobby")
    carol.until(":b.test 366 carol #lobby ", timeout=10)
    seen(alice, "carol joined #lobby")
    alice.send("hello from a", "/me waves", "/msg bob psst", "/msg carol hi carol")
    assert bob.until("<alice> hello from a")[-1] == "<alice> hello from a"
    assert bob.line() == "* alice waves"
    assert bob.line() == "*alice* psst"
    assert carol.until(":alice!").pop().endswith("PRIVMSG #lobby :hello from a")
    assert carol.line().endswith("PRIVMSG #lobby :\x01ACTION waves\x01")
    assert carol.line().endswith("PRIVMSG carol :hi carol")
    carol.send("PRIVMSG #lobby :from irc on b", "TOPIC #lobby :one chat")
    assert alice.until("<carol> from irc on b")
    assert "one chat" in alice.line()
    bob.send("/join #side", "/nick robert")
    seen(alice, "left #lobby")
    carol.send("NICK caroline")
    assert seen(alice, "carol is now known as") == "*** carol is now known as caroline"
    alice.send("/join #side")
    alice.until("*** You joined #side")
    assert "robert" in same_who([alice, bob], "#side")
    assert same_who([alice, bob]) == same_who([alice, bob])


def test_nick_claims_racing_on_two_nodes_one_wins(nodes):
    a, b = nodes("a"), nodes("b", workers=2)
    for round in range(3):
        x, y = a.line(), b.line()
        x.greeted()
        y.greeted()
        want = f"taken{round}"
        x.send(f"/nick {want}")
        y.send(f"/nick {want}")
        answers = [seen(peer, want) for peer in (x, y)]
        wins = [answer == f"*** You are now {want}" for answer in answers]
        assert sum(wins) == 1, answers
        loser = answers[wins.index(False)]
        assert "in use" in loser or "taken" in loser, loser
        assert same_who([x, y]).count(want) == 1
        x.close()
        y.close()


def test_max_clients_holds_across_the_cluster(nodes):
    # b's file says nothing: the cluster's settings are the first node's, everywhere.
    a, b = nodes("a", max_clients=2), nodes("b", workers=2)
    first, second = a.user("one"), b.user("two")
    third = b.line()
    assert "full" in third.line(timeout=10)
    assert third.eof()
    first.close()
    seen(second, "one left")
    assert a.line().greeted()  # a place is free again, on either node


def test_a_reload_of_one_node_sets_the_shared_limits_for_all(tmp_path, nodes):
    a, b = nodes("a", workers=2), nodes("b")
    alice = a.user("alice")
    config = tmp_path / "a.yaml"
    config.write_text(config.read_text() + "max_clients: 1\n")
    a.chatd.signal(signal.SIGHUP)
    a.chatd.wait_log(b"config reloaded")
    deadline = time.monotonic() + 10
    while True:  # the reload's place in the stream comes a moment after the log line
        late = b.line()
        first = late.line(timeout=10)
        if "full" in first or time.monotonic() > deadline:
            break
        late.close()
    assert "full" in first
    alice.send("/nick still")
    assert seen(alice, "You are now still")


def test_a_killed_node_s_users_leave_within_the_lease(nodes):
    a, b = nodes("a", lease=2), nodes("b", lease=2, workers=2)
    alice = a.user("alice")
    bob = b.user("bob")  # kept: a socket let go would close, and bob leave, on its own
    seen(alice, "is now known as bob")
    killed = time.monotonic()
    b.chatd.proc.kill()
    assert seen(alice, "bob left") == "*** bob left #lobby (connection lost)"
    assert time.monotonic() - killed < 2 * 2 + 3  # the lease, a reap round, a loaded host
    assert "bob" not in who(alice)
    bob.close()


def test_a_stopped_node_s_users_leave_at_once_as_it_says(nodes):
    a, b = nodes("a", lease=30), nodes("b", lease=30, workers=2)
    alice = a.user("alice")
    bob = b.user("bob")  # kept: a socket let go would close, and bob leave, on its own
    seen(alice, "is now known as bob")
    assert b.chatd.stop() == 0
    left = seen(alice, "bob left", timeout=8)  # long before the lease of 30 s
    # The lease is given back at once: its users are dropped as a gone node's are.
    assert left == "*** bob left #lobby (connection lost)"
    assert "bob" not in who(alice)
    bob.close()


def test_a_node_started_while_others_chat_sees_the_same_chat(nodes):
    a, b = nodes("a"), nodes("b")
    alice, bob = a.user("alice"), b.user("bob")
    alice.send("/join #work", "/topic busy day")
    bob.send("/join #work")
    for n in range(20):
        alice.send(f"line {n}")
    c = nodes("c", workers=2)
    carol = c.user("carol")
    carol.send("/join #work")
    assert carol.until("*** You joined #work")[-1].count(",") == 2  # 3 users listed
    seen(bob, "carol joined #work")
    assert "busy day" in "".join(carol.until("*** ", timeout=10))
    assert members(same_who([alice, bob, carol], "#work")) == {"alice", "bob", "carol"}
    assert same_who([alice, bob, carol]) == same_who([alice, bob, carol])


def test_a_second_live_node_of_the_same_name_exits_69(tmp_path, nodes, redis):
    nodes("a")
    config = tmp_path / "again.yaml"
    config.write_text(f"port: 0\ncluster:\n  redis: {redis.socket_path}\n  node: a\n  lease: 1\n")
    twin = Chatd("--config", str(config), any_port=False)
    with twin:
        assert twin.proc.wait(15) == 69
    assert b"another live node is named 'a'" in twin.log


def test_a_redis_host_that_does_not_resolve_exits_69(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("port: 0\ncluster:\n  redis: redis://no-such-host.invalid:6379\n")
    node = Chatd("--config", str(config), any_port=False)
    with node:
        assert node.proc.wait(15) == 69
    assert b"cluster.redis: redis: cannot resolve 'no-such-host.invalid'" in node.log


def test_redis_stopped_3s_under_load_loses_and_doubles_no_line(nodes, redis):
    a, b = nodes("a", lease=8, workers=2), nodes("b", lease=8)
    sender, near, far = a.user("sender"), a.user("near"), b.user("far")
    assert members(same_who([sender, near, far])) == {"far", "near", "sender"}
    total, pad = 3000, "x" * 900  # 2.7 MB: past the 2 MiB a node holds before it pauses
    numbers: dict[str, list[int]] = {"near": [], "far": []}

    def read(name: str, peer: TcpPeer) -> None:
        while len(numbers[name]) < total:
            line = peer.line(timeout=30)
            if line.startswith("<sender> "):
                numbers[name].append(int(line.split()[1]))

    readers = [threading.Thread(target=read, args=item) for item in (("near", near), ("far", far))]
    for reader in readers:
        reader.start()
    redis.pause()
    resume = threading.Timer(3, redis.resume)
    resume.start()
    try:
        for n in range(total):
            sender.send(f"{n} {pad}")
        for reader in readers:
            reader.join(40)
    finally:
        resume.join()
    assert numbers == {"near": list(range(total)), "far": list(range(total))}
    a.chatd.wait_log(re.compile(rb"pausing(.|\n)*Redis caught up: resuming input"))
    assert members(same_who([sender, near, far])) == {"far", "near", "sender"}


def test_redis_restarted_empty_starts_a_new_epoch(nodes, redis):
    a, b = nodes("a", workers=2), nodes("b")
    alice, bob = a.user("alice"), b.user("bob")
    redis.restart()
    for peer in (alice, bob):
        lines = peer.until("*** the chat was restarted", timeout=15)
        assert lines[-1].startswith("*** the chat was restarted (its Redis lost its data)")
        assert peer.eof(timeout=10)
    for node in (a, b):
        node.chatd.wait_log(re.compile(rb"joined epoch .* from the start\n(.|\n)*joined epoch"))
    alice, bob = a.user("alice"), b.user("bob")
    alice.send("the second epoch")
    assert bob.until("<alice> the second epoch", timeout=10)
    assert members(same_who([alice, bob])) == {"alice", "bob"}
