"""The line protocol front-end: a sanitised line -> an intent, an outcome -> the contract's
exact bytes (docs/protocol.md).

A line user has one current room; its intents name the room "" (the current one) so that
what a line means is decided in the chat's order, never from a guess of it here.  Input
the front-end refuses (a usage error) still travels as a Reject intent, so its error comes
after the answers to what the user sent before it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import protocol as p
from ..core import intents as i
from ..core import outcomes as o
from ..core.intents import Intent
from ..core.outcomes import Outcome
from .linetext import ERRORS, HELP, INFO, PASS_PROMPT, REASON_SHOWN, TEXT_SHOWN, modes_text

PROTOCOL = "line"
_Say = i.Say  # made for every chat line: no module lookup for it
COMMAND_SHOWN = 32  # an unknown command's name
EMPTY: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class LineSettings:
    server_name: str = "chatd"
    motd: str = ""
    version: str = ""
    password: bool = False  # a server password is set (the front-end never sees it)


def _users(count: int) -> str:
    # The contract's exact form for /who and /rooms, "N users", whatever N.
    return f"{count} users"


def _joined_count(count: int) -> str:
    # The contract's join line alone says "1 user" when alone.
    return "1 user" if count == 1 else f"{count} users"


class LineFront:
    """Parsing and rendering for every line user of one process (it holds no per-user
    state: the chat knows each user's room)."""

    protocol = PROTOCOL

    def __init__(
        self, settings: LineSettings | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.clock = clock  # the wall clock a topic is stamped with
        self.settings = LineSettings()
        self._welcome: list[bytes] = []
        self.asked: set[str] = set()  # asked for the password: greeted in part already
        self.reconfigure(settings or LineSettings())
        self._commands: dict[str, Callable[[str, str], Intent]] = {
            "help": lambda uid, arg: i.Help(uid),
            "nick": self._nick,
            "join": self._join,
            "rooms": lambda uid, arg: i.Rooms(uid),
            "who": lambda uid, arg: i.Who(uid, ""),
            "msg": self._msg,
            "me": self._me,
            "quit": lambda uid, arg: i.Quit(uid, p.quote(arg, REASON_SHOWN) or "quit"),
            "topic": self._topic,
            "kick": self._kick,
            "invite": self._invite,
            "away": lambda uid, arg: i.Away(uid, arg or None),
            "mode": self._mode,
            "pass": lambda uid, arg: i.Reject(
                uid, "pass_given" if self.settings.password else "needless_pass", ()
            ),
        }
        self._own: dict[type, Callable[[Any], list[bytes]]] = {
            o.Welcomed: self._welcomed,
            o.Error: lambda out: [p.error(_word(ERRORS, out.code, out.args))],
            o.Info: lambda out: [p.notice(_word(INFO, out.code, out.args))],
            o.Noticed: lambda out: [p.private(out.nick, out.text)],
            o.Joined: lambda out: EMPTY,  # Names says it: "You joined ..."
            o.Names: self._names,
            o.Parted: lambda out: EMPTY,
            o.Left: lambda out: EMPTY,
            o.Bye: lambda out: [p.notice("Bye")],
            o.NickChanged: lambda out: [p.notice(f"You are now {out.new}")],
            o.TopicIs: self._topic_is,
            o.Invited: lambda out: [
                p.notice(f"{out.nick} invites you to {out.room} (/join {out.room})")
            ],
            o.UserModeChanged: lambda out: [p.notice(f"Your modes: {modes_text(out.changes)}")],
            o.ModeIs: lambda out: [
                p.notice(" ".join((f"Modes of {out.target}:", out.modes, *out.args)))
            ],
            o.BanList: self._ban_list,
            o.AwayChanged: lambda out: [
                p.notice("You are marked away" if out.away else "You are no longer away")
            ],
            o.RoomList: lambda out: [
                p.notice(f"{name} ({_users(count)})") for name, count, _ in out.rooms
            ],
            o.Helped: lambda out: [p.notice(text) for text in HELP],
        }
        self._room: dict[type, Callable[[Any], bytes]] = {
            o.Said: lambda out: p.chat(out.nick, out.text),
            o.SaidRun: lambda out: p.chats(out.nick, out.texts),
            o.Acted: lambda out: p.action(out.nick, out.text),
            o.Noticed: lambda out: p.chat(out.nick, out.text),
            o.Joined: lambda out: p.notice(f"{out.nick} joined {out.room}"),
            # The contract's "(REASON)" is never empty: an IRC PART may have no message.
            o.Parted: lambda out: p.notice(f"{out.nick} left {out.room} ({out.reason or 'part'})"),
            o.NickChanged: lambda out: p.notice(f"{out.old} is now known as {out.new}"),
            o.TopicSet: self._topic_set,
            o.Kicked: self._kicked,
            o.RoomModeChanged: lambda out: p.notice(
                f"{out.nick} set mode {modes_text(out.changes)} on {out.room}"
            ),
        }

    def reconfigure(self, settings: LineSettings) -> None:
        self.settings = settings
        self._welcome = self._build_welcome()

    # Input.

    def parse(self, uid: str, text: str) -> Intent | None:
        """One decoded, sanitised line of user uid; None for one that carries nothing."""
        if not text or text.isspace():
            return None
        if text[0] == "/":
            if not text.startswith("//"):
                return self._command(uid, text)
            text = text[1:]
        return _Say(uid, "", text.rstrip())

    def _command(self, uid: str, text: str) -> Intent:
        name, arg = p.split_command(text.strip())
        command = self._commands.get(name)
        if command is None:
            shown = p.quote(name, COMMAND_SHOWN) or "/"
            return i.Reject(uid, "unknown_command", (shown,))
        return command(uid, arg)

    @staticmethod
    def _nick(uid: str, arg: str) -> Intent:
        return i.Nick(uid, arg) if arg else i.Reject(uid, "usage", ("nick",))

    @staticmethod
    def _join(uid: str, arg: str) -> Intent:
        if not arg:
            return i.Reject(uid, "usage", ("join",))
        name = p.normalise_room(arg)
        if name is None:
            return i.Reject(uid, "invalid_room", (arg,))
        return i.Join(uid, name, "", move=True)

    @staticmethod
    def _msg(uid: str, arg: str) -> Intent:
        nick, _, text = arg.partition(" ")
        text = text.strip()
        if not nick or not text:
            return i.Reject(uid, "usage", ("msg",))
        return i.Private(uid, nick, text)

    @staticmethod
    def _me(uid: str, arg: str) -> Intent:
        return i.Act(uid, "", arg) if arg else i.Reject(uid, "usage", ("me",))

    def _topic(self, uid: str, arg: str) -> Intent:
        return i.Topic(uid, "", arg or None, self.clock())

    @staticmethod
    def _kick(uid: str, arg: str) -> Intent:
        nick, _, reason = arg.partition(" ")
        if not nick:
            return i.Reject(uid, "usage", ("kick",))
        return i.Kick(uid, "", nick, p.quote(reason, REASON_SHOWN))

    @staticmethod
    def _invite(uid: str, arg: str) -> Intent:
        nick, _, room = arg.partition(" ")
        if not nick:
            return i.Reject(uid, "usage", ("invite",))
        name = p.normalise_room(room.strip()) if room.strip() else ""
        if name is None:
            return i.Reject(uid, "invalid_room", (room.strip(),))
        return i.Invite(uid, nick, name)

    @staticmethod
    def _mode(uid: str, arg: str) -> Intent:
        """/mode [+t-n+o NICK ...]: IRC's mode string, on the current room."""
        words = arg.split()
        if not words:
            return i.Mode(uid, "", ())
        changes: list[i.Change] = []
        args = iter(words[1:])
        sign = ""
        for letter in words[0]:
            if letter in "+-":
                sign = letter
            elif not sign:
                return i.Reject(uid, "usage", ("mode",))
            else:
                takes = letter in "ovb" or (sign == "+" and letter in "kl") or letter == "k"
                changes.append((sign + letter, next(args, "") if takes else ""))
        if not changes or len(changes) > 16:
            return i.Reject(uid, "usage", ("mode",))
        return i.Mode(uid, "", tuple(changes))

    # Output.

    def room(self, out: Outcome) -> bytes | None:
        """The bytes every line user in the outcome's room gets (the front-end's caller
        skips the actor where the outcome says so); None: nothing to say to the room."""
        if out.__class__ is o.Said:  # the chat line: one call less
            return p.chat(out.nick, out.text)  # type: ignore[union-attr]
        render = self._room.get(out.__class__)
        return None if render is None else render(out)

    def own(self, out: Outcome, uid: str) -> list[bytes] | tuple[bytes, ...]:
        """The lines the one user uid gets of an outcome addressed to it."""
        if out.__class__ is o.Whispered:
            return self._whispered(out, uid)  # type: ignore[arg-type]
        render = self._own.get(out.__class__)
        return EMPTY if render is None else render(out)

    def refusal(self, out: o.Refused) -> bytes:
        return p.error(self.refusal_text(out))

    @staticmethod
    def refusal_text(out: o.Refused) -> str:
        """Why a connection was refused, in English (the logs say it the same way)."""
        return _word(ERRORS, out.code, out.args)

    def error(self, text: str) -> bytes:
        return p.error(text)

    def notice(self, text: str) -> bytes:
        return p.notice(text)

    def too_long(self, max_line: int) -> bytes:
        return p.too_long(max_line)

    def ask_password(self, uid: str) -> list[bytes]:
        """The greeting up to where the password comes in: server name, motd, then the
        prompt; the rest ("You are", "You joined") once the password is given."""
        self.asked.add(uid)
        return [*self._welcome, p.notice(PASS_PROMPT)]

    def forget(self, uid: str) -> None:
        self.asked.discard(uid)

    def _welcomed(self, out: o.Welcomed) -> list[bytes]:
        you = p.notice(f"You are {out.nick}")
        if self.asked and out.to in self.asked:
            self.asked.discard(out.to)
            return [you]
        return [*self._welcome, you]

    @staticmethod
    def _whispered(out: o.Whispered, uid: str = "") -> list[bytes]:
        lines = []
        if uid == out.to:
            lines.append(p.private(out.nick, out.text))
        if uid == out.by:
            lines.append(p.private_echo(out.to_nick, out.text))
        return lines

    @staticmethod
    def _names(out: o.Names) -> list[bytes]:
        names = ", ".join(nick for _, nick in out.members)
        if out.joined:
            count = _joined_count(len(out.members))
            return [p.notice(f"You joined {out.room} ({count}: {names})")]
        return [p.notice(f"{_users(len(out.members))} in {out.room}: {names}")]

    @staticmethod
    def _topic_is(out: o.TopicIs) -> list[bytes]:
        if not out.text:
            return [p.notice(f"{out.room} has no topic")]
        text = p.quote(out.text, TEXT_SHOWN)
        return [p.notice(f"Topic of {out.room}: {text} (set by {out.setter})")]

    @staticmethod
    def _ban_list(out: o.BanList) -> list[bytes]:
        if not out.masks:
            return [p.notice(f"{out.room} bans no one")]
        return [p.notice(f"{out.room} bans {mask}") for mask in out.masks]

    @staticmethod
    def _topic_set(out: o.TopicSet) -> bytes:
        if not out.text:
            return p.notice(f"{out.nick} cleared the topic of {out.room}")
        return p.notice(f"{out.nick} set the topic of {out.room}: {p.quote(out.text, TEXT_SHOWN)}")

    @staticmethod
    def _kicked(out: o.Kicked) -> bytes:
        why = f" ({out.reason})" if out.reason else ""
        return p.notice(f"{out.target_nick} was kicked from {out.room} by {out.nick}{why}")

    def _build_welcome(self) -> list[bytes]:
        s = self.settings
        version = f" (chatd {s.version})" if s.version else ""
        lines = [p.notice(p.sanitise(f"Welcome to {s.server_name}{version}"))]
        # Split where the wire would (LF, or CR LF); any other line break is sanitised away.
        motd = (p.sanitise(t) for t in s.motd.split("\n"))
        lines += [p.notice(t) for t in motd if t and not t.isspace()]
        lines.append(p.notice("Type /help for the commands, /nick NAME to pick a nick."))
        return lines


def _word(table: dict[str, Callable[..., str]], code: str, args: tuple[str, ...]) -> str:
    word = table.get(code)
    if word is None:  # a code this front-end does not know yet: still say something
        return " ".join((code.replace("_", " "), *(p.quote(a, TEXT_SHOWN) for a in args)))
    return word(*args)
