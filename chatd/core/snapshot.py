"""The whole chat as plain JSON data, and back: a new worker starts from it."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from .model import Room, User
from .names import fold

if TYPE_CHECKING:
    from .chat import Chat

VERSION = 2


def snapshot(chat: Chat) -> dict[str, Any]:
    s = chat.settings
    return {
        "version": VERSION,
        "guests": chat.guests,
        "settings": dataclasses.asdict(s),
        "users": [
            [u.id, u.label, u.protocol, u.lobby, u.nick, u.invisible, u.away]
            + [[room.name for room in u.rooms]]
            for u in chat.by_id.values()
        ],
        "rooms": [
            [
                room.name,
                [room.topic, room.topic_by, room.topic_at, room.created],
                [room.flags, room.key, room.limit, list(room.bans), sorted(room.invited)],
                [[u.id, flags] for u, flags in room.members.items()],
            ]
            for room in chat.rooms.values()
        ],
    }


def restore(chat: Chat, state: dict[str, Any]) -> None:
    if state.get("version") != VERSION:
        raise ValueError(f"a chat snapshot of version {state.get('version')}, not {VERSION}")
    chat.guests = state["guests"]
    chat.reconfigure(dataclasses.replace(chat.settings, **state["settings"]))
    rooms: dict[str, Room] = {}
    for name, (topic, by, at, *created), (flags, key, limit, bans, invited), _ in state["rooms"]:
        room = rooms[name] = chat.rooms[fold(name)] = Room(name)
        room.topic, room.topic_by, room.topic_at = topic, by, at
        room.created = created[0] if created else 0.0  # older snapshots do not say
        room.flags, room.key, room.limit = flags, key, limit
        room.bans, room.invited = list(bans), set(invited)
    for uid, label, protocol, lobby, nick, invisible, away, joined in state["users"]:
        user = User(uid, label, protocol, lobby)
        user.nick, user.invisible, user.away = nick, invisible, away
        chat.by_id[uid] = user
        chat.nicks[fold(nick)] = user
        chat.count(label, 1)
        user.rooms = {rooms[name]: None for name in joined}
    for name, _, _, members in state["rooms"]:
        room = rooms[name]
        room.members = {chat.by_id[uid]: flags for uid, flags in members}
