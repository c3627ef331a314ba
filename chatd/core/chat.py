"""The chat: intents in, outcomes out, in the bus's order; limits, guests, snapshots.

Every replica applies the same intents in the same order and so holds the same users,
rooms, guest numbers and counts; nothing here knows which users are local, how a protocol
words an outcome, or what time it is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..peeraddr import IPV6_PREFIX_LENGTH, limit_key
from . import intents as i
from . import outcomes as o
from .model import OP, User
from .names import fold, normalise_room, valid_nick
from .rooms import RoomPowers
from .snapshot import restore, snapshot


@dataclass(frozen=True)
class CoreSettings:
    """The settings that decide shared outcomes: they change only through an ordered
    Settings intent, never by one replica alone."""

    max_clients: int = 1000
    max_clients_per_ip: int = 0  # 0: no limit
    ipv6_prefix_length: int = IPV6_PREFIX_LENGTH  # the per-IP count's IPv6 network
    default_room: str = "lobby"


REPLICATED = tuple(f.name for f in dataclasses.fields(CoreSettings))

Outcomes = list[o.Outcome]
_Say, _Said = i.Say, o.Said  # every chat line: no module lookup for them


class Chat(RoomPowers):
    def __init__(self, settings: CoreSettings | None = None) -> None:
        super().__init__()
        self.nicks: dict[str, User] = {}  # by fold(nick)
        self.by_id: dict[str, User] = {}
        self.per_ip: dict[str, int] = {}  # by limit_key of the label
        self.guests = 0
        self.settings = CoreSettings()
        self.default_room = "#lobby"
        self.reconfigure(settings or CoreSettings())
        # A user's intents, by kind: each gets the user it is about.
        self._handlers: dict[type, Callable[[User, Any], Outcomes]] = {
            i.Disconnect: self._disconnect,
            i.Quit: self._quit,
            i.Say: self._say,
            i.Act: self._act,
            i.Notice: self._notice,
            i.Private: self._private,
            i.Nick: self._nick,
            i.Join: self._join,
            i.Part: self._part,
            i.Topic: self._topic,
            i.Mode: self._mode,
            i.Kick: self._kick,
            i.Invite: self._invite,
            i.Away: self._away,
            i.Who: self._who,
            i.Rooms: self._list,
            i.Help: lambda user, intent: [o.Helped(user.id)],
            i.Reject: lambda user, intent: [o.Error(user.id, intent.code, intent.args)],
        }
        self._others: dict[type, Callable[[Any], Outcomes]] = {
            i.Connect: self._connect,
            i.Settings: self._settings,
            i.State: self._state,
            i.Gone: self._gone,
        }

    def __len__(self) -> int:
        return len(self.nicks)

    def apply(self, intent: i.Intent) -> Outcomes:
        """One intent, applied; what it caused, in order.  An intent from a user who is
        not (or no longer) connected does nothing: it raced its own disconnect."""
        if intent.__class__ is _Say and not intent.room:  # type: ignore[union-attr]
            # Every chat line: a member of an unmoderated room without bans talking in
            # its current room is let through here, one call less; anything else asks
            # _say.
            user = self.by_id.get(intent.id)  # type: ignore[union-attr]
            if user is not None and user.rooms:
                room = next(reversed(user.rooms))
                if user in room.members and "m" not in room.flags and not room.bans:
                    return [_Said(room.name, user.id, user.nick, intent.text)]  # type: ignore[union-attr]
        handler = self._handlers.get(intent.__class__)
        if handler is None:
            return self._others[intent.__class__](intent)
        user = self.by_id.get(intent.id)  # type: ignore[union-attr]
        return [] if user is None else handler(user, intent)

    def apply_run(self, uid: str, texts: tuple[str, ...], room: str = "") -> Outcomes:
        """Say(uid, room, text) for each of texts in turn, in one outcome when uid may
        talk in the room (it may for every line of the run or for none: saying changes
        nothing speak_in checks); line by line otherwise, for the same errors."""
        user = self.by_id.get(uid)
        if user is not None:
            checked = self.speak_in(user, room)
            if checked.__class__ is not o.Error:
                return [o.SaidRun(checked.name, user.id, user.nick, texts)]  # type: ignore[union-attr]
        outcomes: Outcomes = []
        for text in texts:
            outcomes += self.apply(_Say(uid, room, text))
        return outcomes

    def reconfigure(self, settings: CoreSettings) -> None:
        default = normalise_room(settings.default_room)
        if default is None:
            raise ValueError(f"invalid default room {settings.default_room!r}")
        recount = settings.ipv6_prefix_length != self.settings.ipv6_prefix_length
        self.settings = settings
        self.default_room = default
        if recount:  # the users connected now count by the new prefix, and leave by it
            self.per_ip = {}
            for user in self.by_id.values():
                self.count(user.label, 1)

    def count(self, label: str, change: int) -> None:
        """Counts a user from label in (change 1) or out (-1) of the per-address counts."""
        key = limit_key(label, self.settings.ipv6_prefix_length)
        count = self.per_ip.get(key, 0) + change
        if count > 0:
            self.per_ip[key] = count
        else:
            self.per_ip.pop(key, None)

    def snapshot(self) -> dict[str, Any]:
        """The shared state, for a worker that starts while others run."""
        return snapshot(self)

    def restore(self, state: dict[str, Any]) -> None:
        """Loads a snapshot into an empty replica."""
        restore(self, state)

    def refusal(self, label: str) -> tuple[str, tuple[str, ...]] | None:
        """Why a new user from label would be over a limit, if it would."""
        s = self.settings
        if len(self.nicks) >= s.max_clients:
            return "server_full", (str(s.max_clients),)
        if s.max_clients_per_ip:
            key = limit_key(label, s.ipv6_prefix_length)
            if self.per_ip.get(key, 0) >= s.max_clients_per_ip:
                return "per_ip", ()
        return None

    # Arriving and leaving.

    def _connect(self, intent: i.Connect) -> Outcomes:
        if intent.id in self.by_id:
            return []
        refusal = self.refusal(intent.label)
        if refusal is not None:
            return [o.Refused(intent.id, *refusal)]
        user = User(intent.id, intent.label, intent.protocol, intent.lobby, intent.ident)
        self.by_id[user.id] = user
        self.count(user.label, 1)
        user.nick = self._next_guest()
        self.nicks[fold(user.nick)] = user
        out: Outcomes = [o.Welcomed(user.id, user.nick)]
        if user.lobby:
            out += self.enter(user, self.default_room, "")
        return out

    def _disconnect(self, user: User, intent: i.Disconnect) -> Outcomes:
        return self.remove(user, intent.reason)

    def _quit(self, user: User, intent: i.Quit) -> Outcomes:
        return [o.Bye(user.id, intent.reason), *self.remove(user, intent.reason)]

    def _gone(self, intent: i.Gone) -> Outcomes:
        prefix = f"{intent.worker}:"
        out: Outcomes = []
        for user in [u for key, u in self.by_id.items() if key.startswith(prefix)]:
            out += self.remove(user, intent.reason)
        return out

    def remove(self, user: User, reason: str) -> Outcomes:
        del self.nicks[fold(user.nick)]
        del self.by_id[user.id]
        self.count(user.label, -1)
        rooms = tuple(room.name for room in user.rooms)
        for room in list(user.rooms):
            self.drop(user, room)
        return [o.Left(user.id, user.nick, reason, rooms)]

    def _next_guest(self) -> str:
        while True:
            self.guests += 1
            nick = f"guest{self.guests}"
            if nick not in self.nicks:
                return nick

    # Talking.

    def _say(self, user: User, intent: i.Say) -> Outcomes:
        checked = self.speak_in(user, intent.room)
        if checked.__class__ is o.Error:
            return [checked]  # type: ignore[list-item]
        return [o.Said(checked.name, user.id, user.nick, intent.text)]  # type: ignore[union-attr]

    def _act(self, user: User, intent: i.Act) -> Outcomes:
        room = self.speak_in(user, intent.room)
        if room.__class__ is o.Error:
            return [room]  # type: ignore[list-item]
        return [o.Acted(room.name, user.id, user.nick, intent.text)]  # type: ignore[union-attr]

    def _notice(self, user: User, intent: i.Notice) -> Outcomes:
        out = self._notice_outcomes(user, intent)
        if intent.quiet and out[0].__class__ is o.Error:
            return []
        return out

    def _notice_outcomes(self, user: User, intent: i.Notice) -> Outcomes:
        if intent.target.startswith("#"):
            room = self.speak_in(user, intent.target)
            if room.__class__ is o.Error:
                return [room]  # type: ignore[list-item]
            return [o.Noticed(room.name, "", user.id, user.nick, intent.text)]  # type: ignore[union-attr]
        target = self.nicks.get(fold(intent.target))
        if target is None:
            return [o.Error(user.id, "no_such_nick", (intent.target,))]
        return [o.Noticed("", target.id, user.id, user.nick, intent.text)]

    def _private(self, user: User, intent: i.Private) -> Outcomes:
        target = self.nicks.get(fold(intent.target))
        if target is None:
            return [o.Error(user.id, "no_such_nick", (intent.target,))]
        out: Outcomes = [o.Whispered(target.id, user.id, user.nick, target.nick, intent.text)]
        if target.away is not None:
            out.append(o.Info(user.id, "away", (target.nick, target.away)))
        return out

    # Who one is.

    def _nick(self, user: User, intent: i.Nick) -> Outcomes:
        name = intent.name
        if not valid_nick(name):
            return [o.Error(user.id, "invalid_nick", (name,))]
        holder = self.nicks.get(fold(name))
        if holder is not None and holder is not user:
            return [o.Error(user.id, "nick_taken", (name,))]
        old = user.nick
        if old == name:
            return [o.Info(user.id, "already_nick", (name,))]
        del self.nicks[fold(old)]
        self.nicks[fold(name)] = user
        user.nick = name
        for room in user.rooms:
            room.roster = None  # it names the old nick
        return [o.NickChanged(user.id, old, name, tuple(room.name for room in user.rooms))]

    def _away(self, user: User, intent: i.Away) -> Outcomes:
        user.away = intent.text or None
        return [o.AwayChanged(user.id, user.away is not None)]

    # Looking around.

    def _who(self, user: User, intent: i.Who) -> Outcomes:
        room = self.find_room(user, intent.room)
        if room.__class__ is o.Error:
            return [room]  # type: ignore[list-item]
        return [o.Names(user.id, room.name, self.names(room))]  # type: ignore[union-attr]

    def _list(self, user: User, intent: i.Rooms) -> Outcomes:
        shown = [
            (room.name, len(room.members), room.topic)
            for key, room in sorted(self.rooms.items())
            if "s" not in room.flags or room in user.rooms
        ]
        return [o.RoomList(user.id, tuple(shown))]

    # The master's.

    def _settings(self, intent: i.Settings) -> Outcomes:
        self.reconfigure(dataclasses.replace(self.settings, **intent.shared))
        return []

    def _state(self, intent: i.State) -> Outcomes:
        self.restore(intent.snapshot)
        return []

    def ops(self, room_name: str) -> list[str]:
        """The nicks of a room's operators (for tests and the logs)."""
        room = self.rooms.get(fold(room_name))
        return [] if room is None else [u.nick for u, f in room.members.items() if f & OP]
