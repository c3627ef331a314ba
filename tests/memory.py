"""One process's chat in memory, without sockets: the core, the line front-end and
delivery, wired as the server wires them; clients are sessions whose queued bytes the
test reads."""

from __future__ import annotations

import dataclasses
from typing import Any

from chatd.core import intents as i
from chatd.core.chat import Chat, CoreSettings
from chatd.delivery import Delivery, Session
from chatd.proto.line import LineFront, LineSettings

CORE_KEYS = {f.name for f in dataclasses.fields(CoreSettings)}


class World:
    def __init__(self, clock: Any = lambda: 1000.0, **settings: Any) -> None:
        core = {k: v for k, v in settings.items() if k in CORE_KEYS}
        self.chat = Chat(CoreSettings(**core))
        line = {k: v for k, v in settings.items() if k not in CORE_KEYS}
        self.line = LineFront(LineSettings(**line), clock=clock)
        self.delivery = Delivery()
        self.quits: dict[str, str] = {}
        self.refused: dict[str, bytes] = {}
        self.delivery.on_bye = lambda s, reason: self.quits.__setitem__(s.id, reason)
        self.delivery.on_refused = lambda s, out: self.refused.__setitem__(
            s.id, s.front.refusal(out)
        )
        self._ids = 0

    def apply(self, intent: i.Intent) -> None:
        self.delivery.deliver(self.chat.apply(intent))

    def new_id(self) -> str:
        self._ids += 1
        return f"0:{self._ids}"


class Client:
    """A line user fed the way the server feeds it (sanitised text lines)."""

    def __init__(self, world: World, label: str = "test") -> None:
        self.world = world
        self.session = Session(world.new_id(), label, world.line)
        world.delivery.add(self.session)
        world.apply(i.Connect(self.session.id, label, "line", lobby=True))

    @property
    def id(self) -> str:
        return self.session.id

    @property
    def nick(self) -> str:
        user = self.world.chat.by_id.get(self.id)
        return self.session.nick if user is None else user.nick

    @property
    def quit_reason(self) -> str | None:
        return self.world.quits.get(self.id)

    def say(self, text: str) -> None:
        intent = self.world.line.parse(self.id, text)
        if intent is not None:
            self.world.apply(intent)

    def disconnect(self, reason: str) -> None:
        self.world.apply(i.Disconnect(self.id, reason))

    def take(self) -> list[str]:
        self.world.delivery.settle()  # the tick's room lines, as the writer would send them
        lines = [d.decode() for line in self.session.out for d in line.splitlines(True)]
        self.session.out.clear()
        for line in lines:
            assert line.endswith("\r\n")
        return [line[:-2] for line in lines]


def join(world: World, n: int = 1) -> list[Client]:
    clients = [Client(world) for _ in range(n)]
    for c in clients:
        c.take()
    return clients
