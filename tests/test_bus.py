"""The bus in memory: framing, the hub's one order, and two workers' replicas of the chat
joined by an in-memory hub (every cross-worker behaviour, stepped, no processes)."""

from __future__ import annotations

import dataclasses
import selectors
import socket

import pytest
from harness import FakeClock, Peer
from hypothesis import given
from hypothesis import strategies as st

from chatd.bus import BusError, FrameSplitter, Hub, HubLink, decode, encode
from chatd.config import Config
from chatd.core.intents import Connect, Gone, Say, Settings, State
from chatd.loop import Loop
from chatd.server import Server
from chatd.worker import Heartbeat, LinkSocket

EVENTS = st.lists(
    st.one_of(
        st.builds(Say, st.text(max_size=5), st.text(max_size=5), st.text(max_size=40)),
        st.builds(Connect, st.text(max_size=5), st.just("10.0.0.1")),
    ),
    max_size=20,
)


@given(EVENTS, st.lists(st.integers(min_value=0, max_value=2000), max_size=10))
def test_any_split_of_the_bus_stream_yields_the_same_events(events, cuts):
    stream = b"".join(encode(e) for e in events)
    points = sorted({min(c, len(stream)) for c in cuts})
    splitter = FrameSplitter()
    frames = []
    for a, b in zip([0, *points], [*points, len(stream)], strict=True):
        frames += splitter.feed(stream[a:b])
    assert [decode(f) for f in frames] == events
    assert splitter.buffered == 0


def test_text_survives_the_bus_exactly():
    event = Say("0:1", "", "héllo \t☃ \ufffd")
    assert decode(encode(event)) == event


def test_an_oversized_frame_is_refused():
    with pytest.raises(BusError):
        FrameSplitter().feed(b"\xff\xff\xff\xff")
    assert FrameSplitter(max_frame=None).feed(b"\xff\xff\xff\xff") == []  # waits for it


def test_hub_sends_every_frame_to_every_worker_in_one_order():
    hub = Hub()
    for worker in (0, 1, 2):
        hub.add(worker)
    a, b = encode(Say("0:1", "", "first")), encode(Say("1:1", "", "second"))
    hub.received(0, a[:3])
    hub.received(1, b)
    hub.received(0, a[3:])
    for worker in (0, 1, 2):
        assert hub.take_output(worker) == b + a


def test_hub_backlog_is_capped_not_unbounded():
    hub = Hub(max_backlog=100)
    hub.add(0)
    hub.add(1)
    frame = encode(Say("0:1", "", "x" * 40))
    hub.received(0, frame)
    hub.put_back(0, hub.take_output(0))  # worker 0 could not take it
    assert hub.stuck() == []
    hub.received(0, frame * 3)
    hub.take_output(1)
    hub.put_back(1, b"")
    assert hub.stuck() == [0]  # worker 0 stopped reading; worker 1 kept up


class Worker:
    def __init__(self, index: int, **settings: object) -> None:
        base = {"server_name": "test", "flood_rate": 0, **settings}
        self.config = dataclasses.replace(Config(), **base)  # type: ignore[arg-type]
        self.loop = Loop(clock=FakeClock())
        self.link = HubLink()
        self.server = Server(self.config, self.loop, bus=self.link, worker=index)
        self.index = index


class Cluster:
    """Workers and a hub in one process; step() moves every byte once around."""

    def __init__(self, count: int = 2, **settings: object) -> None:
        self.hub = Hub()
        self.workers = [Worker(i, **settings) for i in range(count)]
        for w in self.workers:
            self.hub.add(w.index)

    def step(self, times: int = 3) -> None:
        for _ in range(times):
            for w in self.workers:
                w.loop.run_once(0)
                self.hub.received(w.index, w.link.take_output())
            for w in self.workers:
                w.link.received(self.hub.take_output(w.index))
                w.server.end_of_tick()

    def connect(self, worker: int, read_greeting: bool = True) -> Peer:
        ours, theirs = socket.socketpair()
        self.workers[worker].server.adopt(theirs, "10.0.0.1")
        peer = Peer(ours)
        self.step()
        if read_greeting:
            peer.lines()
        return peer

    def close(self) -> None:
        for w in self.workers:
            for conn in list(w.server.clients.values()):
                conn.sock.close()
            w.loop.close()


@pytest.fixture
def cluster():
    made: list[Cluster] = []

    def make(count: int = 2, **settings: object) -> Cluster:
        made.append(Cluster(count, **settings))
        return made[-1]

    yield make
    for c in made:
        c.close()


def test_chat_crosses_workers_and_guest_numbers_are_global(cluster):
    c = cluster()
    a = c.connect(0, read_greeting=False)
    b = c.connect(1, read_greeting=False)
    assert "*** You are guest1" in a.lines()
    greeting = b.lines()
    assert greeting[-2:] == [
        "*** You are guest2",
        "*** You joined #lobby (2 users: guest1, guest2)",
    ]
    a.send("hello over there")
    c.step()
    assert b.lines() == ["<guest1> hello over there"]
    assert a.lines() == []


def test_msg_me_who_rooms_across_workers(cluster):
    c = cluster()
    a, b = c.connect(0), c.connect(1)
    a.lines()
    b.send("/nick bob")
    c.step()
    a.lines(), b.lines()
    a.send("/msg BOB psst", "/me waves", "/who", "/join dev", "/rooms")
    c.step()
    assert b.lines() == ["*guest1* psst", "* guest1 waves", "*** guest1 left #lobby (joined #dev)"]
    assert a.lines() == [
        "-> *bob* psst",
        "*** 2 users in #lobby: guest1, bob",
        "*** You joined #dev (1 user: guest1)",
        "*** #dev (1 users)",
        "*** #lobby (1 users)",
    ]


def test_a_nick_is_unique_across_workers_even_when_both_ask_at_once(cluster):
    c = cluster()
    a, b = c.connect(0), c.connect(1)
    a.lines()
    a.send("/nick Alice")
    b.send("/nick aLiCe")
    c.step()
    answers = a.lines() + b.lines()
    assert sum(line.startswith("*** You are now ") for line in answers) == 1
    assert sum(line.startswith("*** error: nick ") for line in answers) == 1
    nicks = [sorted(w.server.chat.nicks) for w in c.workers]
    assert nicks[0] == nicks[1]  # the replicas agree


def test_limits_hold_for_the_whole_server(cluster):
    c = cluster(max_clients=2, max_clients_per_ip=0)
    kept = [c.connect(0), c.connect(1)]
    third = c.connect(0, read_greeting=False)
    assert third.lines() == ["*** error: server is full (max 2 clients)"]
    assert all(not peer.closed() for peer in kept)
    assert third.closed()
    c2 = cluster(max_clients_per_ip=1)
    c2.connect(1)
    other = c2.connect(0, read_greeting=False)
    assert other.lines() == ["*** error: too many connections from your address"]


def test_one_senders_lines_arrive_in_order_everywhere(cluster):
    c = cluster(3)
    sender, x, y = c.connect(0), c.connect(1), c.connect(2)
    sender.lines(), x.lines()
    sender.send("".join(f"line {i}\n" for i in range(300)).encode())
    c.step(5)
    expected = [f"<guest1> line {i}" for i in range(300)]
    assert x.lines() == expected and y.lines() == expected


def test_a_gone_worker_users_leave_their_rooms(cluster):
    c = cluster()
    a, _b = c.connect(0), c.connect(1)
    a.lines()
    c.hub.announce(Gone(1, "connection lost"))
    c.step()
    assert a.lines() == ["*** guest2 left #lobby (connection lost)"]
    assert list(c.workers[0].server.chat.nicks) == ["guest1"]


def test_quit_and_disconnect_cross_workers(cluster):
    c = cluster()
    a, b = c.connect(0), c.connect(1)
    a.lines()
    b.send("/quit bye now")
    c.step()
    assert b.lines() == ["*** Bye"]
    assert a.lines() == ["*** guest2 left #lobby (bye now)"]
    assert b.closed()


def test_a_late_worker_gets_the_chat_as_it_stands(cluster):
    from chatd.bus import encode
    from chatd.core.chat import Chat

    c = cluster()
    a, b = c.connect(0), c.connect(1)
    a.lines()
    a.send("/nick alice", "/join dev")
    c.step()
    # What the master does for a new worker: its own replica's snapshot comes first.
    master = Chat()
    for w in c.workers[:1]:
        master.restore(w.server.chat.snapshot())
    late = Worker(2)
    c.workers.append(late)
    c.hub.add(2, first=encode(State(master.snapshot())))
    newcomer = c.connect(2, read_greeting=False)
    greeting = newcomer.lines()
    assert greeting[-2:] == [
        "*** You are guest3",
        "*** You joined #lobby (2 users: guest2, guest3)",
    ]
    newcomer.send("/who", "/rooms", "/nick ALICE", "/msg alice hi")
    c.step()
    assert newcomer.lines() == [
        "*** 2 users in #lobby: guest2, guest3",
        "*** #dev (1 users)",
        "*** #lobby (2 users)",
        "*** error: nick ALICE is taken",
        "-> *alice* hi",
    ]
    assert a.lines()[-1] == "*guest3* hi"
    assert b.lines()[-1] == "*** guest3 joined #lobby"


def test_shared_settings_change_in_the_event_order(cluster):
    c = cluster(max_clients=10)
    kept = [c.connect(0), c.connect(1)]
    for w in c.workers:  # a local reload alone must not change a shared outcome
        w.server.reconfigure(dataclasses.replace(w.config, max_clients=2))
    assert all(w.server.chat.settings.max_clients == 10 for w in c.workers)
    shared = {"max_clients": 2, "max_clients_per_ip": 0, "default_room": "lobby"}
    c.hub.announce(Settings(shared))
    c.step()
    third = c.connect(1, read_greeting=False)
    assert third.lines() == ["*** error: server is full (max 2 clients)"]
    assert all(not peer.closed() for peer in kept)


class LinkedWorker:
    """One worker whose bus is a real socketpair; the test plays the master's hub."""

    def __init__(self) -> None:
        self.worker = Worker(0)
        self.master, theirs = socket.socketpair()
        self.master.setblocking(False)
        self.hub = Hub()
        self.hub.add(0)
        server = self.worker.server
        self.link = LinkSocket(
            self.worker.loop, theirs, self.worker.link, server.shutdown, server.pause_input
        )
        self.frames: list[bytes] = []
        self.splitter = FrameSplitter()

    def serve(self) -> None:
        """The master reads what the worker sent and sends back the hub's order."""
        while True:
            try:
                data = self.master.recv(1 << 20)
            except BlockingIOError:
                break
            self.frames += self.splitter.feed(data)
            self.hub.received(0, data)
        data = self.hub.take_output(0)
        try:
            sent = self.master.send(data) if data else 0
        except BlockingIOError:
            sent = 0
        self.hub.put_back(0, data[sent:])
        self.worker.loop.run_once(0)

    def close(self) -> None:
        self.master.close()
        self.worker.loop.close()


def _pushed(peer: Peer, line: bytes, rounds: int, step) -> int:
    """Writes as many lines as the socket takes, stepping between attempts."""
    sent = 0
    for _ in range(rounds):
        try:
            while True:
                peer.sock.send(line)
                sent += 1
        except BlockingIOError:
            pass
        step()
    return sent


def test_a_master_that_stops_reading_pauses_input_instead_of_growing_the_worker():
    w = LinkedWorker()
    try:
        ours, theirs = socket.socketpair()
        conn = w.worker.server.adopt(theirs, "10.0.0.1")
        peer = Peer(ours)
        for _ in range(3):
            w.serve()
        assert any(line.startswith("*** You joined") for line in peer.lines())

        # The master stops reading; the client sends far more than the high-water mark.
        line = b"x" * 2000 + b"\n"
        sent = _pushed(peer, line, 400, lambda: w.worker.loop.run_once(0))
        assert w.link.congested
        assert not conn.events & selectors.EVENT_READ  # TCP pushes back on the client
        # Bounded: the high-water mark plus what one tick can read, not what was sent.
        assert w.link.backlog < LinkSocket.HIGH_WATER + (1 << 20)
        assert sent * len(line) > LinkSocket.HIGH_WATER

        for _ in range(200):  # the master reads again: input resumes, nothing is lost
            w.serve()
            if not w.link.congested:
                break
        assert conn.events & selectors.EVENT_READ
        for _ in range(500):
            w.serve()
            if len([f for f in w.frames if isinstance(decode(f), Say)]) == sent:
                break
        texts = [decode(f).text for f in w.frames if isinstance(decode(f), Say)]
        assert texts == ["x" * 2000] * sent
    finally:
        w.close()


def test_heartbeat_silence_counts_from_the_last_change_the_master_saw():
    heartbeat = Heartbeat(now=100.0)
    assert heartbeat.silence(100.5) == 0.5
    heartbeat.beat()
    assert heartbeat.silence(100.75) == 0.0
    assert heartbeat.silence(101.0) == 0.25
    heartbeat.cell[:] = bytes(8)  # a read that raced a write is one more beat
    assert heartbeat.silence(101.25) == 0.0
    assert heartbeat.silence(101.5) == 0.25
    # The master itself was stopped for a minute: it cannot blame the worker for that.
    assert heartbeat.silence(161.5) == 0.0
    heartbeat.close()


def test_a_client_gone_before_its_connect_comes_back_harms_no_one(cluster):
    """With workers a connect is applied a round trip after accept; the client may be
    gone by then, and its descriptor already reused by the next client."""
    c = cluster(1, max_clients=1)
    w = c.workers[0]
    first = c.connect(0)  # the server is now full
    ours, theirs = socket.socketpair()
    early = w.server.adopt(theirs, "10.0.0.1")
    ours.close()  # gone before the hub has seen its connect
    w.loop.run_once(0)  # EOF: closed, its descriptor free again
    assert early.sock.fileno() == -1
    ours, theirs = socket.socketpair()
    late = w.server.adopt(theirs, "10.0.0.1")
    assert late.fd == early.fd  # the same number, another client
    peer = Peer(ours)
    c.step()  # both connects come back refused: the server is full
    assert peer.lines() == ["*** error: server is full (max 1 clients)"]
    assert peer.closed()
    registered = {key.fd for key in w.loop.selector.get_map().values()}
    assert late.fd not in registered and w.server.clients.keys() == {first_fd(w)}
    for _ in range(3):  # the next clients get the same descriptor without trouble
        ours, theirs = socket.socketpair()
        w.server.adopt(theirs, "10.0.0.1")
        c.step()
        assert Peer(ours).lines() == ["*** error: server is full (max 1 clients)"]
        ours.close()
    first.send("/who")  # the first client is still served, and the refused never joined
    c.step()
    assert first.lines() == ["*** 1 users in #lobby: guest1"]


def first_fd(w: Worker) -> int:
    (fd,) = [fd for fd, conn in w.server.clients.items() if conn.reason is None]
    return fd
