"""IRC users in the in-memory world of tests/memory.py: the IRC front-end wired to the same
core and delivery, fed framed lines the way the server will feed them."""

from __future__ import annotations

from typing import Any

from memory import World

from chatd.delivery import Session
from chatd.proto.irc import IrcFront, IrcSettings
from chatd.proto.ircwire import IrcFramer


class IrcWorld(World):
    def __init__(self, clock: Any = lambda: 1000.0, irc: IrcSettings | None = None, **kw: Any):
        super().__init__(clock=clock, **kw)
        self.irc = IrcFront(irc or IrcSettings(server_name="chatd.test"), self.chat, clock)


class IrcClient:
    def __init__(self, world: IrcWorld, label: str = "10.0.0.1") -> None:
        self.world = world
        self.session = Session(world.new_id(), label, world.irc)
        world.delivery.add(self.session)
        world.irc.open(self.session.id, label)
        self.framer = IrcFramer()

    @property
    def id(self) -> str:
        return self.session.id

    def send(self, data: str | bytes) -> None:
        """Raw bytes as they come off the socket (CR LF included)."""
        self.framer.feed(data.encode() if isinstance(data, str) else data)
        for item in self.framer.take(-1):
            intents, replies = self.world.irc.feed(self.id, item)
            if replies:
                self.world.delivery.send_lines(self.session, replies)
            for intent in intents:
                self.world.apply(intent)

    def line(self, text: str) -> None:
        self.send(text + "\r\n")

    def take(self) -> list[str]:
        self.world.delivery.settle()  # the tick's room lines, as the writer would send them
        data = b"".join(self.session.out)
        self.session.out.clear()
        text = data.decode()
        assert text == "" or text.endswith("\r\n")
        out = text.split("\r\n")[:-1]
        for line in out:
            assert len(line.encode()) + 2 <= 512, line
        return out

    def register(self, nick: str) -> list[str]:
        self.line(f"NICK {nick}")
        self.line(f"USER {nick} 0 * :{nick} Real")
        return self.take()


def codes(lines: list[str]) -> list[str]:
    """The command or numeric of each line."""
    return [line.split(" ")[1] if line.startswith(":") else line.split(" ")[0] for line in lines]


def irc_users(world: IrcWorld, *nicks: str) -> list[IrcClient]:
    clients = []
    for nick in nicks:
        c = IrcClient(world)
        c.register(nick)
        clients.append(c)
    return clients
