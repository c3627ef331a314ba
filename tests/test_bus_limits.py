"""What the bus must carry and what it must refuse: the longest line chatd accepts, a
whole-chat snapshot, and every kind of malformed frame a worker could send."""

from __future__ import annotations

import json
import socket
import time

import pytest
from harness import Peer, parse
from hypothesis import given
from hypothesis import strategies as st
from test_bus import LinkedWorker

from chatd.bus import (
    HEADER,
    MAX_FRAME,
    MAX_LINE_BYTES,
    BusError,
    FrameSplitter,
    Hub,
    HubLink,
    decode,
    encode,
)
from chatd.config import VALIDATORS
from chatd.core.intents import Connect, Disconnect, Say, State
from chatd.proto.line import LineFront


def test_the_bus_bound_is_the_top_of_max_line_bytes_range():
    assert VALIDATORS["max_line_bytes"](MAX_LINE_BYTES) == MAX_LINE_BYTES
    with pytest.raises(ValueError):
        VALIDATORS["max_line_bytes"](MAX_LINE_BYTES + 1)


def _line_event(raw: bytes, max_line: int = MAX_LINE_BYTES) -> Say:
    """What a worker publishes for one client line (the longest member id it can have)."""
    (text,) = parse(raw + b"\n", max_line)
    return Say("255:18446744073709551615", "", text)


@pytest.mark.parametrize("byte", [b"\xfe", b"\x80", b"\\", b'"', b"\t", b"\xe2\x82"])
def test_the_longest_line_fits_in_a_frame_however_it_grows(byte):
    raw = (byte * MAX_LINE_BYTES)[: MAX_LINE_BYTES - 1] + b"x"  # not blank, even for tabs
    frame = encode(_line_event(raw))
    assert FrameSplitter().feed(frame) == [frame]  # the master's splitter takes it


@pytest.mark.parametrize(
    "command",
    [b"", b"/me ", b"/nick ", b"/msg bob ", b"/msg ", b"/topic ", b"/kick ", b"/kick bob ",
     b"/invite ", b"/away ", b"/quit ", b"/join ", b"/mode +ovbkl ", b"/x"],
)  # fmt: skip
@pytest.mark.parametrize("byte", [b"\xfe", b'"', b"a", b"a "])
def test_the_longest_line_fits_in_a_frame_whatever_command_it_is(command, byte):
    raw = command + (byte * MAX_LINE_BYTES)[: MAX_LINE_BYTES - len(command) - 1] + b"x"
    (text,) = parse(raw + b"\n", MAX_LINE_BYTES)
    intent = LineFront().parse("255:18446744073709551615", text)
    assert intent is not None
    frame = encode(intent)
    assert FrameSplitter().feed(frame) == [frame]


@pytest.mark.parametrize("value", range(256))
def test_no_byte_grows_more_than_threefold_on_the_bus(value):
    raw = bytes([value]) * 100 if value not in (10, 13) else b"x" * 100
    lines = parse(raw + b"\n", 1000)
    for text in lines:
        body = json.dumps(text, ensure_ascii=False).encode()
        assert len(body) - 2 <= 3 * len(raw)


@given(st.binary(min_size=1, max_size=2000))
def test_no_line_grows_more_than_threefold_on_the_bus(data):
    raw = data.replace(b"\n", b"") or b"x"
    for text in parse(raw + b"\n", 4096):
        assert len(json.dumps(text, ensure_ascii=False).encode()) - 2 <= 3 * len(raw)


def _two_workers() -> Hub:
    hub = Hub()
    hub.add(0)
    hub.add(1)
    return hub


GOOD = encode(Say("0:1", "", "before"))


def _raw(body: bytes, version: bytes = b"\x01") -> bytes:
    return HEADER.pack(len(version + body)) + version + body


BAD_FRAMES = {
    "oversized": HEADER.pack(MAX_FRAME + 1),
    "no version": _raw(b'["say","0:1","","x"]', version=b""),
    "a later version": _raw(b'["say","0:1","","x"]', version=b"\x02"),
    "not JSON": _raw(b'["say", '),
    "not UTF-8": _raw(b'["say","0:1","","\xff"]'),
    "deeply nested": _raw(b"[" * 100_000 + b"]" * 100_000),
    "not a list": _raw(b'{"say": 1}'),
    "empty": _raw(b"[]"),
    "unknown kind": _raw(b'["shout","0:1","x"]'),
    "kind not a string": _raw(b'[1,"0:1","x"]'),
    "too short": _raw(b'["say","0:1",""]'),
    "too long": _raw(b'["say","0:1","","x","y"]'),
    "text not a string": _raw(b'["say","0:1","",5]'),
    "address not a string": _raw(b'["connect","0:1",null]'),
    "flag not a boolean": _raw(b'["connect","0:1","::1","line",1]'),
    "time not a number": _raw(b'["topic","0:1","","x","now"]'),
    "a mode change not a pair": _raw(b'["mode","0:1","#a",[["+o"]]]'),
    "too many mode changes": _raw(b'["mode","0:1","#a",[' + b",".join([b'["+t",""]'] * 65) + b"]]"),
    "id not a string": _raw(b'["disconnect",1,"closed"]'),
    "another worker's member": _raw(b'["say","1:1","","x"]'),
    "a prefix that is not its slot": _raw(b'["say","01:1","","x"]'),
    "the master's gone": _raw(b'["gone",1,"connection lost"]'),
    "the master's settings": _raw(b'["settings",{"max_clients":1}]'),
    "the master's state": _raw(b'["state",{"version":2,"guests":0,"settings":{},"rooms":[]}]'),
}


@pytest.mark.parametrize("bad", BAD_FRAMES.values(), ids=BAD_FRAMES.keys())
def test_a_bad_frame_is_its_workers_fault_and_the_rest_keep_flowing(bad):
    seen: list = []
    hub = Hub(observe=seen.append)
    hub.add(0)
    hub.add(1)
    with pytest.raises(BusError):
        hub.received(0, GOOD + bad + encode(Say("0:2", "", "after")))
    # What came before the bad frame is that worker's too, and went out in order.
    assert hub.take_output(1) == GOOD
    assert seen == [decode(GOOD)]
    hub.remove(0)  # as the master does: the worker is replaced
    other = encode(Say("1:7", "", "still flowing"))
    hub.received(1, other)
    assert hub.take_output(1) == other
    assert seen[-1] == Say("1:7", "", "still flowing")


def test_the_events_a_worker_publishes_pass():
    hub = _two_workers()
    events = [Connect("1:3", "::1"), Say("1:3", "", "hi"), Disconnect("1:3", "bye")]
    hub.received(1, b"".join(map(encode, events)))
    assert [decode(f) for f in FrameSplitter().feed(hub.take_output(0))] == events


def _big_snapshot(users: int) -> dict:
    ip = "2001:db8::1234:5678"
    return {
        "version": 2,
        "guests": users,
        "settings": {"max_clients": 10**6},
        "users": [
            [f"1:{i}", ip, "line", True, f"user{i:018d}", False, None, ["#crowd"]]
            for i in range(users)
        ],
        "rooms": [
            [
                "#crowd",
                ["", "", 0.0],
                ["n", "", 0, [], []],
                [[f"1:{i}", 0] for i in range(users)],
            ]
        ],
    }


def test_a_snapshot_larger_than_any_worker_frame_reaches_a_new_worker():
    snapshot = _big_snapshot(80_000)
    first = encode(State(snapshot))
    assert len(first) > MAX_FRAME
    hub = Hub(max_backlog=1 << 20)
    hub.add(0, first=first)
    assert hub.stuck() == []  # its own state does not count against a new worker
    link = HubLink()
    got: list = []
    link.deliver = got.append
    data = hub.take_output(0)
    for start in range(0, len(data), 1 << 20):  # as the worker reads it
        link.received(data[start : start + (1 << 20)])
    assert got == [State(snapshot)]


def test_a_worker_restores_a_large_snapshot_over_its_socket():
    w = LinkedWorker()
    try:
        snapshot = _big_snapshot(80_000)
        w.hub.remove(0)
        w.hub.add(0, first=encode(State(snapshot)))
        for _ in range(200):
            w.serve()
            if len(w.worker.server.chat.nicks) == 80_000:
                break
        assert not w.link.lost
        assert w.worker.server.chat.nicks["user000000000000079999"].id == "1:79999"
        ours, theirs = socket.socketpair()  # and it goes on serving
        w.worker.server.adopt(theirs, "10.0.0.1")
        peer = Peer(ours)
        for _ in range(3):
            w.serve()
        assert peer.lines()[-2:] == [
            "*** You are guest80001",
            "*** You joined #lobby (1 user: guest80001)",
        ]
        ours.close()
        theirs.close()
    finally:
        w.close()


def test_a_long_frame_arriving_in_small_pieces_costs_linear_time():
    frame = encode(Say("0:1", "", "x" * (16 << 20)))
    splitter = FrameSplitter(max_frame=None)
    started = time.process_time()
    frames = []
    for start in range(0, len(frame), 4096):
        frames += splitter.feed(frame[start : start + 4096])
    assert frames == [frame]
    # Copying what is buffered on every piece would move 4096 times 8 MiB on average.
    assert time.process_time() - started < 2


def test_a_worker_that_cannot_read_the_master_stops_cleanly():
    w = LinkedWorker()
    try:
        w.master.send(_raw(b'["line", "0:1", "cut sho'))  # a broken master: nothing to trust
        w.worker.loop.run_once(0)
        assert w.link.lost and w.worker.server.shutting_down
    finally:
        w.close()
