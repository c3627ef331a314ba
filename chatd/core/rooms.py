"""Rooms: joining and leaving, topics, kicks, invites and modes (ops, voice, bans)."""

from __future__ import annotations

from . import intents as i
from . import outcomes as o
from .masks import normalise_mask
from .model import OP, ROOM_FLAGS, TOPIC_LEN, VOICE, Room, User
from .names import fold, valid_room

Outcomes = list[o.Outcome]
MEMBER_MODES = {"o": OP, "v": VOICE}
MAX_BANS = 100


def _prefix(flags: int) -> str:
    return "@" if flags & OP else "+" if flags & VOICE else ""


class RoomPowers:
    """The room half of Chat (see chat.py)."""

    nicks: dict[str, User]
    by_id: dict[str, User]
    default_room: str

    def __init__(self) -> None:
        self.rooms: dict[str, Room] = {}  # by fold(name)

    # Helpers.

    def find_room(self, user: User, name: str) -> Room | o.Error:
        """The room name means ("" the user's current one), or the error to say."""
        if not name:
            room = user.current()
            return o.Error(user.id, "no_room") if room is None else room
        room = self.rooms.get(fold(name))
        return o.Error(user.id, "no_such_room", (name,)) if room is None else room

    def speak_in(self, user: User, name: str) -> Room | o.Error:
        """The room user may talk in, or why not: +n (outside), +m (no voice), a ban.

        A chat line's path: the common case (a member talking in its current room) is
        looked up inline."""
        if name:
            room = self.rooms.get(fold(name))
            if room is None:
                return o.Error(user.id, "no_such_room", (name,))
        elif user.rooms:
            room = next(reversed(user.rooms))
        else:
            return o.Error(user.id, "no_room")
        flags = room.members.get(user)
        if flags:  # op or voice: always
            return room
        modes = room.flags
        if (flags is None and "n" in modes) or "m" in modes or (room.bans and room.banned(user)):
            return o.Error(user.id, "cannot_send", (room.name,))
        return room

    def names(self, room: Room) -> tuple[tuple[str, str], ...]:
        if room.roster is None:
            room.roster = tuple((_prefix(f), u.nick) for u, f in room.members.items())
        return room.roster

    def enter(
        self, user: User, name: str, key: str, move: bool = False, at: float = 0.0
    ) -> Outcomes:
        """Joins user to the room called name if the room lets it in."""
        room = self.rooms.get(fold(name))
        if room is not None:
            refusal = self._join_refusal(user, room, key)
            if refusal is not None:
                return [o.Error(user.id, refusal, (room.name,))]
        out: Outcomes = []
        if move:
            current = user.current()
            if current is not None:
                out.append(o.Parted(current.name, user.id, user.nick, f"joined {name}"))
                self.drop(user, current)
        if room is None:
            room = self.rooms[fold(name)] = Room(name)
            room.created = at
            room.members[user] = OP  # the room's creator is its operator
        else:
            room.members[user] = 0
            room.invited.discard(user.id)
            if room.roster is not None:  # the newcomer comes last, as in members
                room.roster = room.roster + (("", user.nick),)
        user.rooms[room] = None
        out.append(o.Joined(room.name, user.id, user.nick))
        out.append(o.Names(user.id, room.name, self.names(room), joined=True))
        if room.topic:
            out.append(o.TopicIs(user.id, room.name, room.topic, room.topic_by, room.topic_at))
        return out

    def _join_refusal(self, user: User, room: Room, key: str) -> str | None:
        if user in room.members:
            return "already_in"
        invited = user.id in room.invited
        if room.banned(user) and not invited:
            return "banned"
        if "i" in room.flags and not invited:
            return "invite_only"
        if room.key and key != room.key and not invited:  # a line user cannot give one
            return "bad_key"
        if room.limit and len(room.members) >= room.limit and not invited:
            return "room_full"
        return None

    def drop(self, user: User, room: Room) -> None:
        del room.members[user]
        room.roster = None
        del user.rooms[room]
        if not room.members:
            del self.rooms[fold(room.name)]

    # Intents.

    def _join(self, user: User, intent: i.Join) -> Outcomes:
        name = intent.room or self.default_room
        if not valid_room(name):
            return [o.Error(user.id, "invalid_room", (name,))]
        return self.enter(user, name, intent.key, intent.move, intent.at)

    def _part(self, user: User, intent: i.Part) -> Outcomes:
        room = self.find_room(user, intent.room)
        if room.__class__ is o.Error:
            return [room]  # type: ignore[list-item]
        assert isinstance(room, Room)
        if user not in room.members:
            return [o.Error(user.id, "not_in_room", (room.name,))]
        self.drop(user, room)
        return [o.Parted(room.name, user.id, user.nick, intent.reason)]

    def _topic(self, user: User, intent: i.Topic) -> Outcomes:
        room = self.find_room(user, intent.room)
        if room.__class__ is o.Error:
            return [room]  # type: ignore[list-item]
        assert isinstance(room, Room)
        if intent.text is None:
            return [o.TopicIs(user.id, room.name, room.topic, room.topic_by, room.topic_at)]
        flags = room.members.get(user)
        if flags is None:
            return [o.Error(user.id, "not_in_room", (room.name,))]
        if "t" in room.flags and not flags & OP:
            return [o.Error(user.id, "not_op", (room.name,))]
        room.topic = intent.text[:TOPIC_LEN]
        room.topic_by, room.topic_at = (user.nick, intent.at) if room.topic else ("", 0.0)
        return [o.TopicSet(room.name, user.id, user.nick, room.topic, intent.at)]

    def _kick(self, user: User, intent: i.Kick) -> Outcomes:
        room = self._as_op(user, intent.room)
        if not isinstance(room, Room):
            return [room]
        target = self.nicks.get(fold(intent.nick))
        if target is None:
            return [o.Error(user.id, "no_such_nick", (intent.nick,))]
        if target not in room.members:
            return [o.Error(user.id, "they_not_in_room", (target.nick, room.name))]
        out: Outcomes = [
            o.Kicked(room.name, user.id, user.nick, target.id, target.nick, intent.reason)
        ]
        self.drop(target, room)
        # A user who always has a room (a line user) goes back to the default one,
        # unless that is the room it was kicked from.
        if target.lobby and not target.rooms and fold(room.name) != fold(self.default_room):
            out += self.enter(target, self.default_room, "")
        return out

    def _invite(self, user: User, intent: i.Invite) -> Outcomes:
        target = self.nicks.get(fold(intent.nick))
        if target is None:
            return [o.Error(user.id, "no_such_nick", (intent.nick,))]
        room = self.find_room(user, intent.room)
        if not isinstance(room, Room):
            return [room]
        flags = room.members.get(user)
        if flags is None:
            return [o.Error(user.id, "not_in_room", (room.name,))]
        if "i" in room.flags and not flags & OP:
            return [o.Error(user.id, "not_op", (room.name,))]
        if target in room.members:
            return [o.Error(user.id, "already_on", (target.nick, room.name))]
        room.invited.add(target.id)
        return [
            o.Invited(target.id, user.id, user.nick, room.name),
            o.Info(user.id, "inviting", (target.nick, room.name)),
        ]

    def _as_op(self, user: User, name: str) -> Room | o.Error:
        room = self.find_room(user, name)
        if not isinstance(room, Room):
            return room
        flags = room.members.get(user)
        if flags is None:
            return o.Error(user.id, "not_in_room", (room.name,))
        if not flags & OP:
            return o.Error(user.id, "not_op", (room.name,))
        return room

    # Modes.

    def _mode(self, user: User, intent: i.Mode) -> Outcomes:
        if intent.target and not intent.target.startswith("#"):
            return self._user_mode(user, intent)
        room = self.find_room(user, intent.target)
        if not isinstance(room, Room):
            return [room]
        if not intent.changes:
            letters, args = room.modes(show_key=user in room.members)
            return [o.ModeIs(user.id, room.name, letters, args, room.created)]
        if intent.changes == (("+b", ""),):
            return [o.BanList(user.id, room.name, tuple(room.bans))]
        checked = self._as_op(user, room.name)
        if not isinstance(checked, Room):
            return [checked]
        out: Outcomes = []
        done = []
        for change in intent.changes:
            result = self._room_change(room, change)
            if isinstance(result, str):
                out.append(o.Error(user.id, result, (change[0][1:], change[1], room.name)))
            elif result is not None:
                done.append(result)
        if done:
            out.insert(0, o.RoomModeChanged(room.name, user.id, user.nick, tuple(done)))
        return out

    def _room_change(self, room: Room, change: i.Change) -> i.Change | str | None:
        """The change as applied, None if it changed nothing, or an error code."""
        sign, letter, arg = change[0][:1], change[0][1:], change[1]
        on = sign == "+"
        if sign not in "+-" or len(letter) != 1 or not sign:
            return "unknown_mode"
        if letter in MEMBER_MODES:
            target = self.nicks.get(fold(arg))
            if target is None:
                return "no_such_nick"
            if target not in room.members:
                return "they_not_in_room"
            bit, flags = MEMBER_MODES[letter], room.members[target]
            new = flags | bit if on else flags & ~bit
            if new == flags:
                return None
            room.members[target] = new
            room.roster = None
            return change[0], target.nick
        if letter in ROOM_FLAGS:
            if (letter in room.flags) == on:
                return None
            room.flags = "".join(sorted(set(room.flags) ^ {letter}))
            return change[0], ""
        if letter == "k":
            if on and (not arg or " " in arg):
                return "need_arg"
            room.key = arg if on else ""
            return change[0], arg if on else "*"
        if letter == "l":
            if not on:
                room.limit = 0
                return change
            if not arg.isdigit() or not 0 < int(arg) < 1 << 31:
                return "need_arg"
            room.limit = int(arg)
            return change[0], str(room.limit)
        if letter == "b":
            return self._ban(room, on, arg)
        return "unknown_mode"

    @staticmethod
    def _ban(room: Room, on: bool, arg: str) -> i.Change | str | None:
        if not arg:
            return "need_arg"
        mask = normalise_mask(arg)
        known = [ban for ban in room.bans if fold(ban) == fold(mask)]
        if on and not known:
            if len(room.bans) >= MAX_BANS:
                return "ban_list_full"
            room.bans.append(mask)
        elif not on and known:
            room.bans.remove(known[0])
        else:
            return None
        return ("+b" if on else "-b"), mask

    def _user_mode(self, user: User, intent: i.Mode) -> Outcomes:
        target = self.nicks.get(fold(intent.target))
        if target is None:
            return [o.Error(user.id, "no_such_nick", (intent.target,))]
        if target is not user:
            return [o.Error(user.id, "users_dont_match", (intent.target,))]
        if not intent.changes:
            return [o.ModeIs(user.id, user.nick, "+i" if user.invisible else "+")]
        out: Outcomes = []
        done = []
        for name, arg in intent.changes:
            if name not in ("+i", "-i"):
                out.append(o.Error(user.id, "unknown_mode", (name[1:], arg, user.nick)))
            elif user.invisible != (name == "+i"):
                user.invisible = name == "+i"
                done.append((name, ""))
        if done:
            out.insert(0, o.UserModeChanged(user.id, user.nick, tuple(done)))
        return out
