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
