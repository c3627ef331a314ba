"""A node of a cluster: this host's hub joined to the others through one Redis stream.

The hub (the master, also with one worker) hands its workers' events to ``send``; they
are XADDed to ``<name>:events`` (chatd.clusterstream: one entry in flight, retried with
the same sequence number) and come back, with every other node's, from ``XREAD BLOCK``
on a second connection, in the stream's order: ``deliver`` gives them to the workers.
Both connections are chatd.redisclient's, in the hub's own loop: nothing here blocks.

Joining (and joining again): the epoch (a new one if Redis lost its data), a lease on
``<name>:node:<node>`` (a live node of the same name makes this one exit 69), the latest
snapshot with the stream id it was taken at, then the stream from there.  While joined,
every lease/3 seconds the lease is refreshed and expired nodes are said gone (one
script, chatd.clusterscripts), and every SNAPSHOT_EVERY seconds a snapshot is stored.
Reading its own gone (it was cut off longer than its lease), losing its lease, or finding
a new epoch, a node evicts its clients with one notice and joins again, afresh.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import clusterscripts as lua
from .clusterevents import Dropped
from .clusterstream import Inbox, Outbox, parse_id
from .config import Cluster
from .core.intents import Intent
from .loop import Loop
from .redisclient import RedisClient
from .rediscommands import ConnectionLost
from .redisurl import parse_target

log = logging.getLogger("chatd.cluster")

EX_UNAVAILABLE = 69
SNAPSHOT_EVERY = 10.0  # seconds between snapshots (jittered), when the stream moved
FINISH_GRACE = 2.0  # seconds a stopping node waits for Redis to take its last events
RETRY = 0.5  # seconds before a refused or failed step of joining is tried again
HIGH_WATER = 2 << 20  # unconfirmed bytes past which the workers stop reading clients
LOW_WATER = 512 << 10
# Entries per XREAD: each holds at most about 1 MiB (clusterstream.MAX_ENTRY), so a reply
# stays under the client's max_reply (64 MiB).
READ_COUNT = 50
LOST_NOTICE = "this node lost touch with the cluster; reconnect to carry on"
EPOCH_NOTICE = "the chat was restarted (its Redis lost its data); reconnect to carry on"


@dataclass
class Hooks:
    """What the node asks of the hub it serves."""

    joined: Callable[[dict[str, Any] | None], None]  # a snapshot of the chat, or none
    deliver: Callable[[bytes, list[Intent]], None]  # frames and their events, in order
    leave: Callable[[str], None]  # evict every client with this notice
    congested: Callable[[bool], None]
    chat_state: Callable[[], dict[str, Any]]
    settings: Callable[[], bytes]  # the frame of the shared settings, for a new epoch
    fatal: Callable[[int, str], None]


class ClusterNode:
    def __init__(self, settings: Cluster, loop: Loop, hooks: Hooks) -> None:
        self.settings, self.loop, self.hooks = settings, loop, hooks
        self.keys = lua.Keys(settings.name, settings.node)
        target = parse_target(settings.redis)
        self.writer = RedisClient(target, loop, on_state=self._writer_state, log=log.warning)
        self.reader = RedisClient(target, loop, log=log.debug)
        loop.on_tick(self.writer.tick)
        loop.on_tick(self.reader.tick)
        self.epoch = ""
        self.source = ""  # node~incarnation: the start of every member id of ours
        self.previous = ""
        self.joined = False
        self.paused = False
        self.generation = 0  # a reply for an earlier incarnation is dropped on arrival
        self.outbox = Outbox()
        self.inbox = Inbox("")
        self.stored_id = "0-0"
        self._deadline: float | None = None
        self._refreshing = False

    @property
    def lease_ms(self) -> int:
        return int(self.settings.lease * 1000)

    def member_prefix(self, slot: int, spawn: int) -> str:
        return f"{self.source}/{slot}.{spawn}:"

    # Starting, joining, leaving.

    def start(self) -> None:
        try:
            self.writer.start()
            self.reader.start()
        except ConnectionError as exc:
            self.hooks.fatal(EX_UNAVAILABLE, f"cluster.redis: {exc}")
            return
        self._join()

    def finish(self, done: Callable[[], None]) -> None:
        """A clean stop: the workers' last events (their users leaving) reach the stream
        first, then the lease is released, within FINISH_GRACE; done() after."""
        deadline = self.loop.clock() + FINISH_GRACE

        def wait() -> None:
            if self.joined and self.outbox.unsent and self.loop.clock() < deadline:
                self.loop.call_later(0.05, wait)
            elif not self.joined:
                done()
            else:
                self.joined = False
                self.generation += 1  # no lease refresh or read may start a rejoin now
                keys, incarnation = self.keys, self.source.partition("~")[2]
                release_keys = [keys.lease, keys.nodes, keys.stream, keys.epoch]
                args = [self.settings.node, incarnation, self.epoch]
                self.writer.eval(lua.RELEASE, release_keys, args, lambda reply: done())
                self.loop.call_later(max(0.1, deadline - self.loop.clock()), done)

        wait()

    def close(self) -> None:
        self.generation += 1  # every timer and reply still due finds nothing to do
        self.joined = False
        self.writer.close()
        self.reader.close()

    def _join(self, new_epoch: bool = False) -> None:
        self.generation += 1
        self.joined = False
        self.previous = self.source.partition("~")[2]  # its lease may still be there
        self.source = f"{self.settings.node}~{secrets.token_hex(4)}"
        self.outbox.reset()
        self._set_paused(False)
        self._deadline = None  # set by the first refusal of the lease
        self._epoch_step(force=new_epoch)

    def _step(self, run: Callable[[], None]) -> Callable[[Any], bool]:
        """A join step's reply check: False (and the step again, later) for a failure."""
        generation = self.generation

        def ok(reply: Any) -> bool:
            if generation != self.generation:
                return False
            if isinstance(reply, ConnectionLost):
                run()  # queued until the client is back
                return False
            if isinstance(reply, Exception):
                log.error("cluster: Redis refused a step of joining: %s", reply)
                self._later(RETRY * 2, run, generation)
                return False
            return True

        return ok

    def _epoch_step(self, force: bool) -> None:
        check = self._step(lambda: self._epoch_step(force))
        keys = self.keys
        fresh = secrets.token_hex(8)

        def done(reply: Any) -> None:
            if not check(reply):
                return
            epoch = reply.decode()
            if self.joined:  # a check while joined: any change means a new chat
                if epoch != self.epoch:
                    log.warning("cluster: a new chat epoch (Redis lost its data)")
                    self._leave(EPOCH_NOTICE)
                return
            self.epoch = epoch
            self._claim_step()

        all_keys = [keys.epoch, keys.stream, keys.snapshot, keys.snapshot_id, keys.nodes]
        args = [self.epoch, fresh, "1" if force else "0", self.hooks.settings()]
        self.writer.eval(lua.EPOCH, all_keys, args, done)

    def _claim_step(self) -> None:
        check = self._step(self._claim_step)
        keys, incarnation = self.keys, self.source.partition("~")[2]

        def done(reply: Any) -> None:
            if not check(reply):
                return
            if reply == 0 and self._deadline is None:  # perhaps our own, before a restart
                self._deadline = self.loop.clock() + self.settings.lease + 1.0
            if reply == -1:
                self._epoch_step(force=False)
            elif reply == 0 and self.loop.clock() < self._deadline:  # type: ignore[operator]
                self._later(RETRY, self._claim_step, self.generation)
            elif reply == 0:
                self.hooks.fatal(
                    EX_UNAVAILABLE,
                    f"cluster.node: another live node is named {self.settings.node!r} "
                    f"(it keeps refreshing {keys.lease}); give every node its own name",
                )
            else:
                self._load_step()

        node_keys = [keys.nodes, keys.stream, keys.epoch, keys.lease]
        args = [self.settings.node, incarnation, self.epoch, self.lease_ms, self.previous]
        self.writer.eval(lua.CLAIM, node_keys, args, done)

    def _load_step(self) -> None:
        check = self._step(self._load_step)

        def done(reply: Any) -> None:
            if not check(reply):
                return
            stored = json.loads(reply) if reply is not None else None
            if stored is not None and stored.get("epoch") != self.epoch:
                stored = None
            if stored is None:
                self.inbox = Inbox(self.epoch)
            else:
                self.inbox = Inbox(self.epoch, stored["id"], stored["seen"])
            self.stored_id = self.inbox.last_id
            self.joined = True
            where = "the start" if stored is None else f"snapshot {self.inbox.last_id}"
            log.info("cluster: %s joined epoch %s from %s", self.source, self.epoch, where)
            self.hooks.joined(None if stored is None else stored["chat"])
            self._read(self.generation)
            self._refresh(self.generation)
            self._later(SNAPSHOT_EVERY * random.uniform(0.5, 1), self._snapshot, self.generation)

        self.writer.get(self.keys.snapshot, done)

    def _leave(self, notice: str, new_epoch: bool = False) -> None:
        log.warning("cluster: %s leaves: %s", self.source, notice)
        self.generation += 1
        self.joined = False
        self.hooks.leave(notice)
        self._join(new_epoch)

    def _later(self, delay: float, step: Callable[[], None], generation: int) -> None:
        def run() -> None:
            if generation == self.generation:
                step()

        self.loop.call_later(delay, run)

    # The stream.

    def send(self, frames: list[bytes]) -> None:
        """The hub's events for the stream; nothing while not joined (their users went)."""
        if not self.joined or not frames:
            return
        self.outbox.add(frames)
        self._pump()

    def _pump(self) -> None:
        entry = self.outbox.next_entry()
        if entry is not None:
            self._xadd(entry)
        self._check_congestion()

    def _xadd(self, entry: tuple[int, bytes]) -> None:
        generation, (seq, payload) = self.generation, entry
        fields = [("e", self.epoch), ("s", f"{self.source}:{seq}"), ("f", payload)]

        def done(reply: Any) -> None:
            if generation != self.generation:
                return
            if isinstance(reply, ConnectionLost):
                self._xadd(entry)  # the same seq: a copy that did land counts once
            elif isinstance(reply, Exception):
                log.error("cluster: Redis refused an XADD (%s); retrying", reply)
                self._later(RETRY * 2, lambda: self._xadd(entry), generation)
            else:
                self.outbox.acked()
                self._pump()

        self.writer.xadd(self.keys.stream, fields, done)

    def _check_congestion(self) -> None:
        unsent = self.outbox.unsent
        if not self.paused and unsent > HIGH_WATER:
            log.warning("cluster: Redis is not keeping up (%d bytes unsent): pausing", unsent)
            self._set_paused(True)
        elif self.paused and unsent < LOW_WATER:
            log.info("cluster: Redis caught up: resuming input")
            self._set_paused(False)

    def _set_paused(self, paused: bool) -> None:
        if paused != self.paused:
            self.paused = paused
            self.hooks.congested(paused)

    def _read(self, generation: int) -> None:
        def done(reply: Any) -> None:
            if generation != self.generation:
                return
            if isinstance(reply, ConnectionLost):
                self._read(generation)
            elif isinstance(reply, Exception):
                log.error("cluster: Redis refused an XREAD (%s); retrying", reply)
                self._later(RETRY * 2, lambda: self._read(generation), generation)
            else:
                if reply and self._apply(reply[0][1]) is False:
                    return
                self._read(generation)

        streams = {self.keys.stream: self.inbox.last_id}
        self.reader.xread(streams, done, block_ms=1000, count=READ_COUNT)

    def _apply(self, entries: list[Any]) -> bool:
        own = self.source + "/"
        for frames, events in self.inbox.take(entries):
            if any(e.__class__ is Dropped and e.prefix == own for e in events):  # type: ignore[union-attr]
                self._leave(LOST_NOTICE)
                return False
            self.hooks.deliver(frames, events)
        return True

    # Leases, gone nodes, snapshots, a Redis that comes back.

    def _refresh(self, generation: int) -> None:
        self._later(self.settings.lease / 3, lambda: self._refresh(generation), generation)
        if self._refreshing:
            return  # the last one has not come back: Redis is slow, do not pile up
        self._refreshing = True
        keys = self.keys

        def refreshed(reply: Any) -> None:
            self._refreshing = False
            if generation != self.generation or isinstance(reply, Exception):
                return
            if reply == -1:
                self._leave(EPOCH_NOTICE)
            elif reply == 0:
                self._leave(LOST_NOTICE)

        def reaped(reply: Any) -> None:
            if isinstance(reply, int) and reply > 0:
                log.info("cluster: %d node(s) stopped refreshing their lease: said gone", reply)

        incarnation = self.source.partition("~")[2]
        args = [incarnation, self.lease_ms, self.epoch]
        self.writer.eval(lua.REFRESH, [keys.lease, keys.epoch], args, refreshed)
        reap_keys = [keys.nodes, keys.stream, keys.epoch]
        self.writer.eval(lua.REAP, reap_keys, [keys.lease_prefix, self.epoch], reaped)

    def _snapshot(self) -> None:
        generation = self.generation
        self._later(SNAPSHOT_EVERY * random.uniform(0.8, 1.2), self._snapshot, generation)
        last = self.inbox.last_id
        if last in ("0-0", self.stored_id):
            return
        blob = {"epoch": self.epoch, **self.inbox.state(), "chat": self.hooks.chat_state()}
        keys = self.keys

        def done(reply: Any) -> None:
            if generation == self.generation and reply == 1:
                self.stored_id = last

        text = json.dumps(blob, ensure_ascii=False, separators=(",", ":"))
        snap_keys = [keys.snapshot, keys.snapshot_id, keys.stream, keys.epoch]
        self.writer.eval(lua.SNAPSHOT, snap_keys, [last, text, self.epoch], done)

    def _writer_state(self, up: bool) -> None:
        """Back after a drop: did Redis keep its data?  Its epoch must be ours, and the
        last entry we applied must still be there (unless trimmed, being old)."""
        if not up or not self.joined:
            return
        self._epoch_step(force=False)
        generation, applied = self.generation, self.inbox.last_id
        if applied == "0-0":
            return
        found: list[Any] = []

        def first(reply: Any) -> None:
            if generation != self.generation or not isinstance(reply, list) or found[0]:
                return
            oldest = reply[0][0].decode() if reply else None
            if oldest is not None and _before(oldest, applied):
                log.warning("cluster: entry %s is gone from the stream: Redis lost data", applied)
                self._leave(EPOCH_NOTICE, new_epoch=True)
            else:  # trimmed away: this node fell too far behind, the chat is fine
                self._leave(LOST_NOTICE)

        stream = self.keys.stream
        self.writer.call("XRANGE", stream, applied, applied, callback=found.append)
        self.writer.call("XRANGE", stream, "-", "+", "COUNT", 1, callback=first)


def _before(a: str, b: str) -> bool:
    return parse_id(a) < parse_id(b)
