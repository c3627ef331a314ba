"""The master's side of a cluster: its hub sends to the stream and fans out what it reads.

With a cluster, a worker's frames are checked as on one host (bus.Hub.received) but go
to the stream instead of straight to the workers; the workers, and the master's own
replica, get the stream's order back through ``ordered``.  What concerns this node alone
(a reload's whole config, Evict, Pause) goes to its workers directly.

One process (``workers: 1``) with a cluster runs as a master with one worker: the worker's
events must wait for their place in the stream's order before it applies them, which is
what a worker under a hub does already (a single process applies its own events at once,
ahead of every other node's); the one local hop costs little next to Redis's.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any, Protocol

from . import reload
from .bus import Event, Hub, encode
from .cluster import ClusterNode, Hooks
from .clusterevents import Dropped, Evict, Pause, disconnects
from .config import Config
from .core.chat import Chat
from .core.intents import Intent, Settings
from .loop import Loop
from .server import chat_settings

log = logging.getLogger("chatd.cluster")


class Master(Protocol):
    """What the hub needs of the master that owns it (chatd.master.Master): named here so
    the hub, below the master, does not import it."""

    config: Config
    loop: Loop
    chat: Chat
    children: Mapping[int, Any]

    def spawn(self, slot: int) -> None: ...

    def flush(self) -> None: ...

    def fail(self, status: int) -> None: ...


class ClusterHub(Hub):
    def __init__(self, master: Master) -> None:
        super().__init__(observe=None)  # applied in stream order, in ordered()
        self.master = master
        assert master.config.cluster is not None
        hooks = Hooks(
            joined=self._joined,
            deliver=self.ordered,
            leave=self._leave,
            congested=lambda paused: self.local(Pause(paused)),
            chat_state=lambda: master.chat.snapshot(),
            settings=lambda: encode(Settings(reload.event(master.config).shared, None)),
            fatal=self._fatal,
        )
        self.node = ClusterNode(master.config.cluster, master.loop, hooks)
        self.spawns = 0

    @property
    def joined(self) -> bool:
        return self.node.joined

    def member_prefix(self, slot: int) -> str:
        """Member ids of this spawn of a worker: unique cluster-wide, and never reused."""
        self.spawns += 1
        return self.node.member_prefix(slot, self.spawns)

    def gone(self, prefix: str) -> Dropped | None:
        """What to say of a worker that died; None for one of an earlier incarnation (its
        users left with it, and no other node would take it)."""
        if not prefix.startswith(self.node.source + "/"):
            return None
        return Dropped(prefix, "connection lost")

    # From the workers, to the stream.

    def _fan_out(self, frames: list[bytes]) -> None:
        self.node.send(frames)

    def announce(self, event: Event) -> None:
        if event.__class__ is Settings:  # the whole config is ours; only shared is theirs
            self.local(Settings({}, event.config))  # type: ignore[union-attr]
            shared = event.shared  # type: ignore[union-attr]
            settings = self.master.chat.settings
            if all(getattr(settings, key) == value for key, value in shared.items()):
                return  # nothing the cluster does not have (a log rotation, say)
            event = Settings(shared, None)
        self.node.send([encode(event)])

    # From the stream (or the hub itself), to the workers.

    def local(self, event: Event) -> None:
        Hub._fan_out(self, [encode(event)])

    def ordered(self, frames: bytes, events: list[Intent]) -> None:
        apply = self._apply
        for event in events:
            apply(event)
        Hub._fan_out(self, [frames])

    def _apply(self, event: Intent) -> None:
        chat = self.master.chat
        if event.__class__ is Dropped:
            for disconnect in disconnects(chat, event):  # type: ignore[arg-type]
                chat.apply(disconnect)
        else:
            chat.apply(event)

    # The node's word.

    def _joined(self, state: dict[str, Any] | None) -> None:
        master = self.master
        master.chat = Chat(chat_settings(master.config))
        if state is not None:
            master.chat.restore(state)
        for slot in range(master.config.worker_count()):  # the workers it lacks
            if slot not in master.children:
                master.spawn(slot)

    def _leave(self, notice: str) -> None:
        """Every worker tells its clients notice and stops; new ones start once joined."""
        self.local(Evict(notice))
        self.master.flush()

    def _fatal(self, status: int, message: str) -> None:
        print(f"chatd: {message}", file=sys.stderr)
        log.error("%s", message)
        self.master.fail(status)
