"""The master's bookkeeping, without forking: children are socketpairs made by hand."""

from __future__ import annotations

import selectors
import signal
import socket

from chatd.config import Config
from chatd.master import Child, Master
from chatd.worker import Heartbeat


def _child(master: Master, slot: int, pid: int, first: bytes = b"") -> tuple[Child, socket.socket]:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    child = Child(slot, pid, ours, Heartbeat(master.loop.clock()), master.loop.clock())
    master.children[slot] = child
    master.hub.add(slot, first=first)
    master.loop.register(ours, selectors.EVENT_READ, lambda mask: master._on_child(child, mask))
    return child, theirs


def test_a_reaped_workers_late_readiness_does_not_touch_its_successor():
    """A select batch can hold readiness for a worker reaped earlier in the same turn;
    by then its slot may belong to the replacement, whose first frame is its state."""
    master = Master(Config(server_name="test"), [], {})
    try:
        old, old_end = _child(master, 0, 101)
        master._reap(101, signal.SIGKILL)  # as waitpid reports a SIGKILLed child
        new, new_end = _child(master, 0, 102, first=b"\0\0\0\2[]")
        master._on_child(old, selectors.EVENT_READ | selectors.EVENT_WRITE)
        master.flush()
        new_end.setblocking(False)
        assert new_end.recv(100).startswith(b"\0\0\0\2[]")  # the successor's state arrived
        assert master.children[0] is new
    finally:
        master.loop.close()


class Kills:
    """Stands in for os.kill: the children here are socketpairs, their pids made up."""

    def __init__(self, master: Master) -> None:
        self.sent: list[tuple[int, int]] = []
        master._kill = lambda child, signum: self.sent.append((child.pid, signum))  # type: ignore[method-assign]


def test_a_bad_frame_from_a_worker_replaces_it_and_the_master_goes_on():
    from chatd.bus import FrameSplitter, decode, encode
    from chatd.codec import HEADER
    from chatd.core.intents import Connect, Gone, Say

    short = b'\x01["say","1:1"]'  # a Say without its room and text

    master = Master(Config(server_name="test", workers=2), [], {})
    kills = Kills(master)
    try:
        bad, bad_end = _child(master, 1, 201)
        good, good_end = _child(master, 0, 202)
        good_end.setblocking(False)
        good_end.send(encode(Connect("0:1", "10.0.0.1")))
        master._on_child(good, selectors.EVENT_READ)
        bad_end.send(encode(Connect("1:1", "10.0.0.2")) + HEADER.pack(len(short)) + short)
        master._on_child(bad, selectors.EVENT_READ)  # a short intent: refused, not applied
        assert kills.sent == [(201, signal.SIGKILL)]
        assert 1 not in master.hub.outboxes  # nothing more to or from it
        good_end.send(encode(Say("0:1", "", "still here")))
        master._on_child(good, selectors.EVENT_READ)
        master.flush()
        master._reap(201, signal.SIGKILL)  # its users leave as when a worker dies
        master.flush()
        events = [decode(f) for f in FrameSplitter().feed(good_end.recv(1 << 16))]
        assert events == [
            Connect("0:1", "10.0.0.1"),
            Connect("1:1", "10.0.0.2"),
            Say("0:1", "", "still here"),
            Gone(1, "connection lost"),
        ]
        assert sorted(m.id for m in master.chat.nicks.values()) == ["0:1"]
    finally:
        master.loop.close()
