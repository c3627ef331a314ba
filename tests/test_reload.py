"""Reload in memory: the file is read once, and one ordered event carries the result to
every process's server (one process, or a master and its workers)."""

from __future__ import annotations

import dataclasses
import logging
import selectors
import socket

import pytest
from harness import FakeClock, Peer

from chatd import config as cfg
from chatd.bus import Hub, HubLink, decode
from chatd.config import Config
from chatd.loop import Loop
from chatd.master import Child, Master
from chatd.runner import Runner
from chatd.server import Server
from chatd.worker import Heartbeat

BASE = Config(server_name="test", flood_rate=0, motd="old motd", max_clients=50)


@pytest.fixture
def loads(monkeypatch):
    """Every config file read, by path."""
    seen: list[str] = []
    real = cfg.load

    def load(path: str) -> Config:
        seen.append(path)
        return real(path)

    monkeypatch.setattr(cfg, "load", load)
    return seen


def _write(tmp_path, text: str) -> str:
    path = tmp_path / "chatd.yaml"
    path.write_text(text)
    return str(path)


# The one function that reads.


def test_read_takes_the_file_once_with_the_command_line_over_it(tmp_path, loads):
    from chatd import reload

    path = _write(tmp_path, "motd: new\nport: 6000\nmax_clients: 9\n")
    running = dataclasses.replace(BASE, source=path)
    new = reload.read(running, {"port": 7000, "max_clients": None})
    assert new is not None
    assert (new.motd, new.port, new.max_clients, new.source) == ("new", 7000, 9, path)
    assert loads == [path]


def test_read_without_a_config_file_keeps_the_running_config(loads, caplog):
    from chatd import reload

    with caplog.at_level(logging.INFO, logger="chatd"):
        assert reload.read(BASE, {"port": 1}) is BASE
    assert loads == []
    assert [r.levelname for r in caplog.records] == ["INFO"]
    assert "no config file" in caplog.records[0].getMessage()


def test_read_of_a_bad_file_is_none_and_says_why(tmp_path, caplog):
    from chatd import reload

    path = _write(tmp_path, "max_clients: -1\n")
    with caplog.at_level(logging.INFO, logger="chatd"):
        assert reload.read(dataclasses.replace(BASE, source=path), {}) is None
    (record,) = caplog.records
    assert record.levelname == "ERROR" and "max_clients" in record.getMessage()


def test_the_event_survives_the_bus():
    from chatd import reload
    from chatd.bus import encode

    new = dataclasses.replace(BASE, motd="x", workers="auto", log_file="/tmp/x.log")
    event = decode(encode(reload.event(new)))
    assert reload.config_of(event) == new
    assert event.shared == {
        "max_clients": 50,
        "max_clients_per_ip": 20,
        "ipv6_prefix_length": 64,
        "default_room": "lobby",
    }


# Every worker applies the event at its place in the order; nobody reads a file.


class Cluster:
    def __init__(self, count: int, config: Config) -> None:
        self.hub = Hub()
        self.clocks = [FakeClock() for _ in range(count)]
        self.loops = [Loop(clock=clock) for clock in self.clocks]
        self.links = [HubLink() for _ in range(count)]
        self.servers = [
            Server(config, loop, bus=link, worker=i)
            for i, (loop, link) in enumerate(zip(self.loops, self.links, strict=True))
        ]
        for i in range(count):
            self.hub.add(i)

    def step(self, times: int = 3) -> None:
        for _ in range(times):
            for i, loop in enumerate(self.loops):
                loop.run_once(0)
                self.hub.received(i, self.links[i].take_output())
            for i, server in enumerate(self.servers):
                self.links[i].received(self.hub.take_output(i))
                server.end_of_tick()

    def connect(self, worker: int) -> Peer:
        ours, theirs = socket.socketpair()
        self.servers[worker].adopt(theirs, "10.0.0.1")
        self.step()
        return Peer(ours)

    def close(self) -> None:
        for server, loop in zip(self.servers, self.loops, strict=True):
            for conn in list(server.clients.values()):
                conn.sock.close()
            loop.close()


@pytest.fixture
def cluster():
    made: list[Cluster] = []

    def make(count: int = 2, config: Config = BASE) -> Cluster:
        made.append(Cluster(count, config))
        return made[-1]

    yield make
    for c in made:
        c.close()


def test_one_settings_event_changes_every_worker_local_and_shared_part(cluster, loads):
    from chatd import reload

    c = cluster()
    before = [c.connect(0), c.connect(1)]
    for peer in before:
        assert "*** old motd" in peer.lines()
    new = dataclasses.replace(
        BASE, motd="new motd", max_clients=3, max_line_bytes=32, idle_timeout=60
    )
    c.hub.announce(reload.event(new))
    c.step()
    assert [s.config for s in c.servers] == [new, new]
    third = c.connect(1)
    assert "*** new motd" in third.lines()
    refused = c.connect(0)
    assert refused.lines() == ["*** error: server is full (max 3 clients)"]
    before[0].send("x" * 40)
    c.step()
    assert before[0].lines()[-1].startswith("*** error: line too long")
    c.clocks[1].advance(61)
    c.step()
    assert "*** error: idle timeout" in before[1].lines()
    assert loads == []  # no worker read a file


def test_in_one_process_the_event_applies_at_once(harness):
    from chatd import reload

    h = harness(motd="old motd")
    a = h.connect()
    new = dataclasses.replace(h.config, motd="new motd", max_clients=2, flood_rate=1, flood_burst=1)
    h.server.bus.publish(reload.event(new))
    assert h.server.config == new
    assert h.server.chat.settings.max_clients == 2
    b = h.connect(read_greeting=False)
    assert "*** new motd" in b.lines()
    assert h.connect(read_greeting=False).lines()[0] == "*** error: server is full (max 2 clients)"
    a.send("one", "two", "three")
    h.step()
    assert b.lines() == ["<guest1> one"]  # flood control as reloaded holds the rest back


# The master reads once and announces; the single process reads once and publishes.


def _master_with_children(config: Config, count: int = 2) -> tuple[Master, list[socket.socket]]:
    master = Master(config, [], {})
    ends = []
    for slot in range(count):
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        child = Child(slot, -1, ours, Heartbeat(master.loop.clock()), master.loop.clock())
        master.children[slot] = child
        master.hub.add(slot)
        master.loop.register(ours, selectors.EVENT_READ, lambda mask, c=child: None)
        ends.append(theirs)
    return master, ends


def _announced(master: Master, slot: int) -> list[list]:
    from chatd.bus import FrameSplitter

    return [decode(f) for f in FrameSplitter().feed(master.hub.take_output(slot))]


def test_the_master_reads_once_and_ships_the_settings_to_every_worker(tmp_path, loads, monkeypatch):
    from chatd import reload

    killed: list[int] = []
    monkeypatch.setattr(Master, "_kill", lambda self, child, signum: killed.append(signum))
    path = _write(tmp_path, "workers: 2\nmotd: new motd\nmax_clients: 7\nport: 1\n")
    master, ends = _master_with_children(dataclasses.replace(BASE, source=path, workers=2))
    try:
        master.handle_hup()
        assert loads == [path]
        assert killed == []  # no signal: the workers re-read nothing
        for slot in (0, 1):
            (event,) = _announced(master, slot)
            shipped = reload.config_of(event)
            assert shipped is not None
            assert (shipped.motd, shipped.max_clients) == ("new motd", 7)
            assert shipped.port == BASE.port  # a new port needs a restart with workers
        assert master.chat.settings.max_clients == 7  # the master's replica, in the order
        assert master.config.motd == "new motd"
    finally:
        master.loop.close()
        for end in ends:
            end.close()


def test_without_a_config_file_the_master_still_reaches_every_worker(loads, caplog, monkeypatch):
    from chatd import reload

    monkeypatch.setattr(Master, "_kill", lambda self, child, signum: None)
    master, ends = _master_with_children(dataclasses.replace(BASE, workers=2))
    try:
        with caplog.at_level(logging.INFO, logger="chatd"):
            master.handle_hup()
            master.handle_usr1()
        assert loads == []
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        for slot in (0, 1):
            events = _announced(master, slot)
            assert [reload.config_of(e) for e in events] == [master.config, master.config]
    finally:
        master.loop.close()
        for end in ends:
            end.close()


def test_the_single_process_reads_once_and_applies_the_same_event(tmp_path, loads):
    path = _write(tmp_path, "motd: new motd\nmax_line_bytes: 100\n")
    runner = Runner(dataclasses.replace(BASE, source=path), [], {})
    try:
        runner.handle_hup()
        assert loads == [path]
        assert runner.server.config.max_line_bytes == 100
        assert runner.server.line.settings.motd == "new motd"
        assert runner.config == runner.server.config
    finally:
        runner.loop.close()


def test_a_worker_ignores_sighup_its_master_reloads(tmp_path, loads):
    path = _write(tmp_path, "motd: new motd\n")
    ours, theirs = socket.socketpair()
    runner = Runner(dataclasses.replace(BASE, source=path), [], {}, True, theirs, 1)
    try:
        runner.handle_hup()
        assert loads == []
        assert runner.server.line.settings.motd == "old motd"
    finally:
        runner.loop.close()
        ours.close()
        theirs.close()
