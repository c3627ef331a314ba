"""The relay's logic without Redis: an in-memory stream, two replicas, retries, gone nodes."""

from __future__ import annotations

from typing import Any

from chatd import clusterstream as cs
from chatd import codec
from chatd.clusterevents import Dropped, Evict, disconnects
from chatd.clusterstream import Inbox, Outbox
from chatd.core import intents as i
from chatd.core.chat import Chat


class MemoryStream:
    """XADD and XREAD over a list: ids "N-0", entries as Redis returns them."""

    def __init__(self) -> None:
        self.entries: list[list[Any]] = []

    def xadd(self, **fields: str | bytes) -> str:
        entry_id = f"{len(self.entries) + 1}-0"
        flat = []
        for key, value in fields.items():
            flat += [key.encode(), value if isinstance(value, bytes) else value.encode()]
        self.entries.append([entry_id.encode(), flat])
        return entry_id

    def after(self, last_id: str) -> list[list[Any]]:
        n = int(last_id.partition("-")[0])
        return self.entries[n:]


class Replica:
    """A node's ordering half: an outbox to the stream, an inbox, and a chat."""

    def __init__(self, stream: MemoryStream, source: str, epoch: str = "e1") -> None:
        self.stream, self.source, self.epoch = stream, source, epoch
        self.outbox, self.inbox, self.chat = Outbox(), Inbox(epoch), Chat()

    def publish(self, *events: i.Intent) -> None:
        self.outbox.add([codec.encode(e) for e in events])

    def xadd(self, ack: bool = True) -> None:
        entry = self.outbox.inflight or self.outbox.next_entry()
        assert entry is not None
        seq, payload = entry
        self.stream.xadd(e=self.epoch, s=f"{self.source}:{seq}", f=payload)
        if ack:
            self.outbox.acked()

    def read(self) -> list[i.Intent]:
        applied: list[i.Intent] = []
        for _, events in self.inbox.take(self.stream.after(self.inbox.last_id)):
            for event in events:
                if isinstance(event, Dropped):
                    for disconnect in disconnects(self.chat, event):
                        self.chat.apply(disconnect)
                else:
                    self.chat.apply(event)
                applied.append(event)
        return applied


def test_every_replica_applies_the_stream_s_order_not_its_own() -> None:
    stream = MemoryStream()
    a, b = Replica(stream, "a~1"), Replica(stream, "b~1")
    a.publish(i.Connect("a~1/0.1:1", "10.0.0.1", lobby=True))
    b.publish(i.Connect("b~1/0.1:1", "10.0.0.2", lobby=True))
    b.xadd()  # b's entry lands first: b's user is guest1 everywhere, a's own replica too
    a.xadd()
    a.publish(i.Nick("a~1/0.1:1", "alice"))
    b.publish(i.Nick("b~1/0.1:1", "alice"))  # the same nick, both claimed
    a.xadd()
    b.xadd()
    a.read()
    b.read()
    assert a.chat.snapshot() == b.chat.snapshot()
    assert a.chat.by_id["b~1/0.1:1"].nick == "guest1"
    assert a.chat.by_id["a~1/0.1:1"].nick == "alice"  # a's XADD came first
    assert b.chat.by_id["b~1/0.1:1"].nick == "guest1"  # b's claim lost


def test_a_retried_xadd_that_had_landed_counts_once() -> None:
    stream = MemoryStream()
    a, b = Replica(stream, "a~1"), Replica(stream, "b~1")
    a.publish(i.Connect("a~1/0.1:1", "ip", lobby=True))
    a.xadd()
    a.publish(i.Say("a~1/0.1:1", "", "once"))
    a.xadd(ack=False)  # it landed, but the connection dropped before the reply
    a.xadd()  # the same entry again, same seq
    a.publish(i.Say("a~1/0.1:1", "", "twice"))
    a.xadd()
    said = [e.text for e in b.read() if isinstance(e, i.Say)]
    assert said == ["once", "twice"]
    assert [e.text for e in a.read() if isinstance(e, i.Say)] == ["once", "twice"]


def test_outbox_keeps_one_entry_in_flight_and_batches_the_rest() -> None:
    box = Outbox()
    box.add([b"1", b"22"])
    assert box.next_entry() == (1, b"122")
    box.add([b"333"])
    assert box.next_entry() is None  # one in flight
    assert box.unsent == 6
    box.acked()
    assert box.next_entry() == (2, b"333")
    box.acked()
    assert box.next_entry() is None and box.unsent == 0


def test_outbox_entries_stay_under_the_cap_and_a_long_frame_goes_alone(monkeypatch) -> None:
    monkeypatch.setattr(cs, "MAX_ENTRY", 10)
    box = Outbox()
    box.add([b"a" * 6, b"b" * 6, b"c" * 30, b"d"])
    sizes = []
    while (entry := box.next_entry()) is not None:
        sizes.append(len(entry[1]))
        box.acked()
    assert sizes == [6, 6, 30, 1]


def test_outbox_reset_forgets_the_old_incarnation() -> None:
    box = Outbox()
    box.add([b"x"])
    box.next_entry()
    box.add([b"y"])
    box.reset()
    assert (box.unsent, box.next_entry()) == (0, None)
    box.add([b"z"])
    assert box.next_entry() == (1, b"z")


def test_a_gone_node_s_users_leave_once_and_its_late_entries_count_for_nothing() -> None:
    stream = MemoryStream()
    a, b = Replica(stream, "a~1"), Replica(stream, "b~1")
    a.publish(i.Connect("a~1/0.1:1", "ip", lobby=True))
    a.xadd()
    b.publish(i.Connect("b~1/0.1:1", "ip", lobby=True))
    b.xadd()
    stream.xadd(e="e1", g="a~1/")
    stream.xadd(e="e1", g="a~1/")  # two nodes reaped at once: harmless
    a.publish(i.Connect("a~1/0.1:2", "ip", lobby=True))  # a, cut off, did not know yet
    a.xadd()
    events = b.read()
    assert events.count(Dropped("a~1/", "connection lost")) == 1
    assert list(b.chat.by_id) == ["b~1/0.1:1"]
    assert b.inbox.seen["a~1"] == cs.GONE


def test_entries_of_another_epoch_or_speaking_for_others_are_skipped_by_all() -> None:
    stream = MemoryStream()
    bad = [
        i.Connect("b~1/0.1:1", "ip"),  # a's entry, about b's user
        Dropped("b~1/", "x"),  # a dropping b
        i.State({}),  # the hub's own word, never the stream's
        Evict("go"),
        i.Settings({"max_clients": 1}, {"port": 1}),  # another node's whole config
    ]
    for n, event in enumerate(bad):
        stream.xadd(e="e1", s=f"a~1:{n + 1}", f=codec.encode(event))
    stream.xadd(e="e0", s="a~1:9", f=codec.encode(i.Connect("a~1/0.1:1", "ip")))
    stream.xadd(e="e1", s="a~1:10", f=b"\x00\x00\x00\x02\x01[")  # not an intent
    stream.xadd(e="e1", s="nonsense", f=b"")
    stream.xadd(e="e1", s="a~1:11", f=codec.encode(i.Settings({"max_clients": 7}, None)))
    reader = Replica(stream, "c~1")
    assert reader.read() == [i.Settings({"max_clients": 7}, None)]
    assert reader.inbox.last_id == f"{len(stream.entries)}-0"


def test_a_replica_from_a_snapshot_and_the_rest_of_the_stream_equals_one_from_the_start():
    stream = MemoryStream()
    a = Replica(stream, "a~1")
    for n in range(5):
        a.publish(i.Connect(f"a~1/0.1:{n}", "ip", lobby=True), i.Nick(f"a~1/0.1:{n}", f"u{n}"))
        a.xadd()
    a.read()
    taken = {"chat": a.chat.snapshot(), **a.inbox.state()}
    a.publish(i.Disconnect("a~1/0.1:0", "bye"), i.Join("a~1/0.1:1", "#side", move=True))
    a.xadd()
    a.read()
    late = Replica(stream, "b~1")
    late.chat.restore(taken["chat"])
    late.inbox = Inbox("e1", taken["id"], taken["seen"])
    late.read()
    assert late.chat.snapshot() == a.chat.snapshot()
