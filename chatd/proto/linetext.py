"""The line protocol's English: errors and notices by code, /help, mode strings."""

from __future__ import annotations

from collections.abc import Callable

from .. import protocol as p
from ..core.intents import Change, mode_words

# The most characters of user text quoted inside a server line (p.quote), so that no one
# can pad it into what looks like a line of the server's own.
REASON_SHOWN = 120  # a /quit or /kick reason
ARG_SHOWN = 40  # a rejected nick or room name
TEXT_SHOWN = 300  # a topic, an away message

HELP = (
    "Commands:",
    "/nick NAME        change your nick",
    "/join ROOM        leave your room and join ROOM",
    "/rooms            list the rooms and their sizes",
    "/who              list the members of your room",
    "/msg NICK TEXT    send a private message",
    "/me TEXT          send an action to your room",
    "/topic [TEXT]     show or set your room's topic",
    "/kick NICK [WHY]  put NICK out of your room (room operators)",
    "/invite NICK      let NICK into your room even if it is invite only",
    "/mode [CHANGES]   show or change your room's modes, e.g. +t, +o NICK, +b MASK",
    "/away [TEXT]      mark yourself away (no TEXT: back)",
    "/quit [REASON]    leave the server",
    "/help             this list",
    "//text            send text that starts with /",
)

USAGE = {
    "nick": "/nick NAME",
    "join": "/join ROOM",
    "msg": "/msg NICK TEXT",
    "me": "/me TEXT",
    "kick": "/kick NICK [REASON]",
    "invite": "/invite NICK [ROOM]",
    "mode": "/mode [+-MODES [ARGS]]",
    "pass": "/pass PASSWORD",
}

# server_password: what a line client sees before it gives the password.
PASS_PROMPT = "This server needs a password: send /pass PASSWORD"
PASS_FIRST = "send the password first: /pass PASSWORD"
PASS_CLOSING = "wrong password; closing the connection"


def wrong_password(left: int) -> str:
    return f"wrong password ({left} {'try' if left == 1 else 'tries'} left)"


def _q(text: str) -> str:
    return p.quote(text, ARG_SHOWN)


ERRORS: dict[str, Callable[..., str]] = {
    "server_full": lambda most: f"server is full (max {most} clients)",
    "per_ip": lambda: "too many connections from your address",
    "usage": lambda command: f"usage: {USAGE[command]}",
    "unknown_command": lambda name: f"unknown command /{name} (try /help)",
    "invalid_nick": lambda name: (
        f"invalid nick {_q(name)} (1-24 letters, digits, _ or -, starting with a letter)"
    ),
    "nick_taken": lambda name: f"nick {name} is taken",
    "invalid_room": lambda name: (
        f"invalid room {_q(name)} (1-32 letters, digits, _ or -, "
        "starting with a letter, after an optional #)"
    ),
    "already_in": lambda room: f"you are already in {room}",
    "no_such_nick": lambda nick: f"no such nick {_q(nick)}",
    "no_such_room": lambda room: f"no such room {_q(room)}",
    "no_room": lambda: "you are in no room (try /join ROOM)",
    "not_in_room": lambda room: f"you are not in {room}",
    "not_op": lambda room: f"you are not an operator of {room}",
    "they_not_in_room": lambda nick, room: f"{nick} is not in {room}",
    "already_on": lambda nick, room: f"{nick} is already in {room}",
    "cannot_send": lambda room: f"you cannot talk in {room} (it is moderated, or you are banned)",
    "banned": lambda room: f"you are banned from {room}",
    "invite_only": lambda room: f"{room} is invite only (ask an operator for /invite)",
    "bad_key": lambda room: f"{room} needs a key",
    "room_full": lambda room: f"{room} is full",
    "unknown_mode": lambda letter, arg, target: f"unknown mode {_q(letter)}",
    "need_arg": lambda letter, arg, target: f"mode {_q(letter)} needs a valid argument",
    "ban_list_full": lambda letter, arg, room: f"the ban list of {room} is full",
    "users_dont_match": lambda nick: "you can change only your own modes",
    "needless_pass": lambda: "this server needs no password",
    "pass_given": lambda: "you gave the password already",
}

INFO: dict[str, Callable[..., str]] = {
    "already_nick": lambda name: f"You are already {name}",
    "inviting": lambda nick, room: f"You invited {nick} to {room}",
    "away": lambda nick, text: f"{nick} is away: {p.quote(text, TEXT_SHOWN)}",
}


def modes_text(changes: tuple[Change, ...]) -> str:
    """(("+o", "bob"), ("+t", "")) -> "+ot bob", as IRC writes it."""
    letters, args = mode_words(changes)
    return " ".join([letters, *map(_q, args)])
