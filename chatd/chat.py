"""Chat state: nicks, rooms and commands, and who gets which bytes.

No sockets here.  Each member owns an output queue, a plain list of bytes objects; the
chat appends to the queues and records which members have new output in ``dirty``, and
whoever owns the sockets writes the queues out.  A line is encoded once, and a broadcast
appends that same bytes object to every recipient's queue in one pass at C speed (the
per-delivery cost is what bounds a chat server's fan-out).
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import repeat
from typing import Any

from . import protocol as p

log = logging.getLogger("chatd.chat")


@dataclass(frozen=True)
class ChatSettings:
    server_name: str = "chatd"
    motd: str = ""
    default_room: str = "lobby"
    log_messages: bool = False
    version: str = ""
    max_clients: int = 1000
    max_clients_per_ip: int = 0  # 0: no limit


class Member:
    """One user as the chat sees it (the server's connections are members).

    Every replica of the chat has a Member for every user; only the worker that holds the
    user's socket has a local one, and only local members get output.
    """

    __slots__ = ("nick", "room", "label", "out", "quit", "id", "local")

    def __init__(self, label: str = "", id: str = "", local: bool = True) -> None:
        self.id = id
        self.local = local
        self.nick = ""
        self.room: Room | None = None
        self.label = label  # where the user connects from, for the logs
        self.out: list[bytes] = []  # queued output, written by the socket's owner
        self.quit: str | None = None  # set by /quit: the owner closes after this line


class Room:
    __slots__ = ("name", "members", "queues")

    def __init__(self, name: str) -> None:
        self.name = name
        # Dicts: O(1) leave in a big room, and join order kept for /who.
        self.members: dict[Member, None] = {}
        # Local member -> its output queue: what a broadcast appends to.
        self.queues: dict[Member, list[bytes]] = {}


# Settings whose value decides shared outcomes (who is admitted, where they land): they
# change only through an ordered "settings" event, never by one replica alone.
REPLICATED = ("max_clients", "max_clients_per_ip", "default_room")

# The most characters of user text quoted inside a server line (p.quote), so that no one
# can pad it into what looks like a line of the server's own.
REASON_SHOWN = 120  # a /quit reason, in "NICK left #ROOM (REASON)"
ARG_SHOWN = 40  # a rejected nick or room name
COMMAND_SHOWN = 32  # an unknown command's name

_consume = deque(maxlen=0).extend  # runs an iterator to its end at C speed


HELP = (
    "Commands:",
    "/nick NAME        change your nick",
    "/join ROOM        leave your room and join ROOM",
    "/rooms            list the rooms and their sizes",
    "/who              list the members of your room",
    "/msg NICK TEXT    send a private message",
    "/me TEXT          send an action to your room",
    "/quit [REASON]    leave the server",
    "/help             this list",
    "//text            send text that starts with /",
)


def _users(count: int) -> str:
    # The contract's exact form, "N users", whatever N.
    return f"{count} users"


class Chat:
    """The whole chat of one server; every method takes events and sends bytes."""

    def __init__(self, settings: ChatSettings) -> None:
        self.settings = settings
        self.nicks: dict[str, Member] = {}  # by p.fold(nick)
        self.rooms: dict[str, Room] = {}  # by p.fold(room name)
        self._guests = 0
        self.dirty: set[Member] = set()  # members with output queued since the last flush
        self.by_id: dict[str, Member] = {}
        self.per_ip: dict[str, int] = {}
        self._commands: dict[str, Callable[[Member, str], None]] = {
            "help": self.cmd_help,
            "nick": self.cmd_nick,
            "join": self.cmd_join,
            "rooms": self.cmd_rooms,
            "who": self.cmd_who,
            "msg": self.cmd_msg,
            "me": self.cmd_me,
            "quit": self.cmd_quit,
        }
        self.default_room = ""
        self._welcome: list[bytes] = []
        self.reconfigure(settings)

    def __len__(self) -> int:
        return len(self.nicks)

    # Events from the server.

    # Bus events: every replica applies the same ones in the same order (see bus.py).

    def apply(
        self, event: list[Any], local: Mapping[str, Member]
    ) -> tuple[str, Member, str] | None:
        """Applies one event; tells the caller what to do for a local member:
        ("refuse", member, why), ("joined", member, ""), ("quit", member, reason)."""
        kind = event[0]
        if kind == "line":
            member = self.by_id.get(event[1])
            if member is not None and member.quit is None:
                self.line(member, event[2])
                if member.quit is not None:
                    return ("quit", member, member.quit)
        elif kind == "connect":
            member = local.get(event[1]) or Member(event[2], event[1], local=False)
            refusal = self.refusal(event[2])
            if refusal is not None:
                return ("refuse", member, refusal)
            self.connect(member)
            return ("joined", member, "")
        elif kind == "disconnect":
            member = self.by_id.get(event[1])
            if member is not None:
                self.disconnect(member, event[2])
        elif kind == "gone":  # a worker died: its users left with it
            prefix = f"{event[1]}:"
            for member in [m for i, m in self.by_id.items() if i.startswith(prefix)]:
                self.disconnect(member, event[2])
        elif kind == "settings":
            self.reconfigure(dataclasses.replace(self.settings, **event[1]))
        elif kind == "state":
            self.restore(event[1])
        return None

    def snapshot(self) -> dict[str, Any]:
        """The shared state, for a worker that starts while others run."""
        s = self.settings
        return {
            "guests": self._guests,
            "settings": {k: getattr(s, k) for k in REPLICATED},
            "rooms": [
                [room.name, [[m.id, m.label, m.nick] for m in room.members]]
                for room in self.rooms.values()
            ],
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Loads a snapshot into an empty replica (it has no local members yet)."""
        self._guests = snapshot["guests"]
        self.reconfigure(dataclasses.replace(self.settings, **snapshot["settings"]))
        for name, members in snapshot["rooms"]:
            room = self.rooms[p.fold(name)] = Room(name)
            for member_id, label, nick in members:
                member = Member(label, member_id, local=False)
                member.nick, member.room = nick, room
                room.members[member] = None
                self.nicks[p.fold(nick)] = member
                self.by_id[member_id] = member
                self.per_ip[label] = self.per_ip.get(label, 0) + 1

    def refusal(self, label: str) -> str | None:
        """Why a new user from label would be over a limit, if it would."""
        s = self.settings
        if len(self.nicks) >= s.max_clients:
            return f"server is full (max {s.max_clients} clients)"
        if s.max_clients_per_ip and self.per_ip.get(label, 0) >= s.max_clients_per_ip:
            return "too many connections from your address"
        return None

    def connect(self, member: Member) -> None:
        if member.id:
            self.by_id[member.id] = member
        self.per_ip[member.label] = self.per_ip.get(member.label, 0) + 1
        member.nick = self._next_guest()
        self.nicks[p.fold(member.nick)] = member
        for line in self._welcome:
            self.send(member, line)
        self.send(member, p.notice(f"You are {member.nick}"))
        self._enter(member, self.default_room)
        if member.local:  # one replica logs it: the one with the socket
            log.info("%s connected from %s", member.nick, member.label)

    def disconnect(self, member: Member, reason: str) -> None:
        key = p.fold(member.nick)
        if self.nicks.get(key) is not member:
            return
        del self.nicks[key]
        self.by_id.pop(member.id, None)
        count = self.per_ip.get(member.label, 1) - 1
        if count:
            self.per_ip[member.label] = count
        else:
            self.per_ip.pop(member.label, None)
        self._leave(member, reason)
        if member.local:
            log.info("%s disconnected (%s)", member.nick, reason)

    def line(self, member: Member, text: str) -> None:
        """One decoded, sanitised line from a member."""
        if not text or text.isspace():
            return
        if text.startswith("/") and not text.startswith("//"):
            name, arg = p.split_command(text.strip())
            command = self._commands.get(name)
            if command is None:
                shown = p.quote(name, COMMAND_SHOWN) or "/"
                self.send(member, p.error(f"unknown command /{shown} (try /help)"))
            else:
                command(member, arg)
            return
        if text.startswith("//"):
            text = text[1:]
        self.say(member, text.rstrip())

    def reconfigure(self, settings: ChatSettings) -> None:
        """New server name, motd, default room or logging; members stay where they are."""
        default = p.normalise_room(settings.default_room)
        if default is None:
            raise ValueError(f"invalid default room {settings.default_room!r}")
        self.settings = settings
        self.default_room = default
        self._welcome = self._build_welcome()

    def shutdown(self) -> None:
        line = p.notice("server shutting down")
        for member in self.nicks.values():
            self.send(member, line)

    def send(self, member: Member, data: bytes) -> None:
        if member.local:
            member.out.append(data)
            self.dirty.add(member)

    # What members do.

    def say(self, member: Member, text: str) -> None:
        room = member.room
        assert room is not None
        if self.settings.log_messages and member.local:
            log.info("%s <%s> %s", room.name, member.nick, text)
        self._broadcast(room, p.chat(member.nick, text), member)

    def cmd_help(self, member: Member, arg: str) -> None:
        for text in HELP:
            self.send(member, p.notice(text))

    def cmd_nick(self, member: Member, arg: str) -> None:
        if not arg:
            self.send(member, p.error("usage: /nick NAME"))
            return
        if not p.valid_nick(arg):
            self.send(
                member,
                p.error(
                    f"invalid nick {p.quote(arg, ARG_SHOWN)} (1-24 letters, digits, _ or -, "
                    "starting with a letter)"
                ),
            )
            return
        holder = self.nicks.get(p.fold(arg))
        if holder is not None and holder is not member:
            self.send(member, p.error(f"nick {arg} is taken"))
            return
        old = member.nick
        if old == arg:
            self.send(member, p.notice(f"You are already {arg}"))
            return
        del self.nicks[p.fold(old)]
        self.nicks[p.fold(arg)] = member
        member.nick = arg
        self.send(member, p.notice(f"You are now {arg}"))
        assert member.room is not None
        self._broadcast(member.room, p.notice(f"{old} is now known as {arg}"), member)
        if member.local:
            log.info("%s is now known as %s", old, arg)

    def cmd_join(self, member: Member, arg: str) -> None:
        if not arg:
            self.send(member, p.error("usage: /join ROOM"))
            return
        name = p.normalise_room(arg)
        if name is None:
            self.send(
                member,
                p.error(
                    f"invalid room {p.quote(arg, ARG_SHOWN)} (1-32 letters, digits, _ or -, "
                    "starting with a letter, after an optional #)"
                ),
            )
            return
        assert member.room is not None
        if p.fold(name) == p.fold(member.room.name):
            self.send(member, p.error(f"you are already in {member.room.name}"))
            return
        self._leave(member, f"joined {name}")
        self._enter(member, name)

    def cmd_rooms(self, member: Member, arg: str) -> None:
        for key in sorted(self.rooms):
            room = self.rooms[key]
            self.send(member, p.notice(f"{room.name} ({_users(len(room.members))})"))

    def cmd_who(self, member: Member, arg: str) -> None:
        room = member.room
        assert room is not None
        names = ", ".join(m.nick for m in room.members)
        self.send(member, p.notice(f"{_users(len(room.members))} in {room.name}: {names}"))

    def cmd_msg(self, member: Member, arg: str) -> None:
        nick, _, text = arg.partition(" ")
        text = text.strip()
        if not nick or not text:
            self.send(member, p.error("usage: /msg NICK TEXT"))
            return
        target = self.nicks.get(p.fold(nick))
        if target is None:
            self.send(member, p.error(f"no such nick {p.quote(nick, ARG_SHOWN)}"))
            return
        if self.settings.log_messages and member.local:
            log.info("*%s* -> *%s* %s", member.nick, target.nick, text)
        self.send(target, p.private(member.nick, text))
        self.send(member, p.private_echo(target.nick, text))

    def cmd_me(self, member: Member, arg: str) -> None:
        if not arg:
            self.send(member, p.error("usage: /me TEXT"))
            return
        assert member.room is not None
        self._broadcast(member.room, p.action(member.nick, arg), member)

    def cmd_quit(self, member: Member, arg: str) -> None:
        self.send(member, p.notice("Bye"))
        member.quit = p.quote(arg, REASON_SHOWN) or "quit"

    # Rooms.

    def _enter(self, member: Member, name: str) -> None:
        key = p.fold(name)
        room = self.rooms.get(key)
        if room is None:
            room = self.rooms[key] = Room(name)
        self._broadcast(room, p.notice(f"{member.nick} joined {room.name}"))
        room.members[member] = None
        if member.local:
            room.queues[member] = member.out
        member.room = room
        names = ", ".join(m.nick for m in room.members)
        self.send(
            member, p.notice(f"You joined {room.name} ({_users(len(room.members))}: {names})")
        )

    def _leave(self, member: Member, reason: str) -> None:
        room = member.room
        if room is None:
            return
        del room.members[member]
        room.queues.pop(member, None)
        member.room = None
        if room.members:
            self._broadcast(room, p.notice(f"{member.nick} left {room.name} ({reason})"))
        else:
            del self.rooms[p.fold(room.name)]

    def _broadcast(self, room: Room, data: bytes, skip: Member | None = None) -> None:
        """Queues data for everyone in room but skip: one pass, no call per recipient."""
        queues = room.queues
        _consume(map(list.append, queues.values(), repeat(data)))
        if skip is not None and skip in queues:
            skip.out.pop()  # its own copy, appended last a moment ago
        self.dirty.update(queues)

    def _build_welcome(self) -> list[bytes]:
        s = self.settings
        version = f" (chatd {s.version})" if s.version else ""
        lines = [p.notice(p.sanitise(f"Welcome to {s.server_name}{version}"))]
        # Split where the wire would (LF, or CR LF); any other line break is sanitised away.
        motd = (p.sanitise(t) for t in s.motd.split("\n"))
        lines += [p.notice(t) for t in motd if t and not t.isspace()]
        lines.append(p.notice("Type /help for the commands, /nick NAME to pick a nick."))
        return lines

    def _next_guest(self) -> str:
        while True:
            self._guests += 1
            nick = f"guest{self._guests}"
            if nick not in self.nicks:
                return nick
