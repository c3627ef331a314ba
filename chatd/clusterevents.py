"""The events a cluster adds to the bus: who dropped out, and the hub's word to its workers.

``Dropped`` travels in the stream, so every replica on every node applies it at the same
point: it disconnects every user whose member id starts with ``prefix`` (a node that is
gone, ``node~incarnation/``, or one of its workers, ``node~incarnation/slot.spawn:``).
It is expanded into ordinary Disconnects from the replica's own state, so the chat core
needs no new rule, and applying it twice does nothing the second time.

``Evict`` and ``Pause`` never leave a node: its hub sends them to its own workers only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from .core.chat import Chat
from .core.intents import Disconnect, Intent
from .core.record import record


@record
class Dropped:
    """Every user whose id starts with prefix left, with reason."""

    prefix: str
    reason: str


@record
class Evict:
    """This node left the cluster: tell every client notice, close them, and stop."""

    notice: str


@record
class Pause:
    """Redis is not taking this node's events: stop (or resume) reading the clients."""

    paused: bool


CLUSTER_INTENTS: tuple[type, ...] = (Dropped, Evict, Pause)


def disconnects(chat: Chat, dropped: Dropped) -> Iterator[Disconnect]:
    """The Disconnects a Dropped stands for, in the replica's own (shared) order."""
    prefix, reason = dropped.prefix, dropped.reason
    for uid in [uid for uid in chat.by_id if uid.startswith(prefix)]:
        yield Disconnect(uid, reason)


def applier(chat: Chat, apply: Callable[[Intent], object]) -> Callable[[Intent], None]:
    """apply, with each Dropped expanded first (the chat core knows no Dropped)."""

    def deliver(event: Intent) -> None:
        if event.__class__ is Dropped:
            for disconnect in disconnects(chat, event):  # type: ignore[arg-type]
                apply(disconnect)
        else:
            apply(event)

    return deliver
