"""The IRC front-end: registration and commands -> the chat's intents, outcomes -> IRC lines.

One IrcFront serves every IRC user of a process; it keeps each connection's registration
state in an IrcSession (IRC has a state before the chat knows the user: PASS, NICK, USER,
CAP).  ``feed`` takes one framed line and gives the intents for the chat and the replies
that cannot wait for it (PONG, CAP, errors before registration).  Errors the front-end
finds after registration travel as Reject intents (code "irc", a numeric and its
parameters), so they come in the user's order after the answers to what it sent before.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .. import protocol as p
from ..admission import matches
from ..core import intents as i
from ..core.chat import Chat
from ..core.intents import Intent
from ..core.model import User
from ..core.names import fold, valid_nick, valid_room
from ..core.outcomes import Outcome
from . import ircchanops as chanops
from . import ircnumerics as n
from .ircinput import room_privmsg
from .ircreply import AWAY_LEN, MAX_TARGETS, OwnText, middle
from .irctext import ACTION_START, CTCP, RoomText, Sources
from .ircwire import Message, ParseError, TooLong, parse, render

USERLEN = 10  # of the user name a mask shows
PROTOCOL = "irc"
CAPS = ("multi-prefix",)
KEEPALIVE = ("PING", "PONG")  # prove the connection, not the user: not activity


@dataclass(frozen=True)
class IrcSettings:
    server_name: str = "chatd"
    motd: str = ""
    version: str = ""
    created: str = ""  # for 003; "": when the front-end is made
    password: str = field(default="", repr=False)  # server_password; "": none


@dataclass
class IrcSession:
    """One IRC connection's registration state."""

    id: str
    label: str
    nick: str = ""  # the nick it asked for, then the one it has
    user: str = ""
    realname: str = ""
    password: str = field(default="", repr=False)  # what PASS gave: never shown
    cap_open: bool = False  # CAP LS/REQ seen and no CAP END yet
    caps: set[str] = field(default_factory=set)
    connected: bool = False  # the Connect intent is sent
    registered: bool = False  # the welcome burst is sent
    active: bool = False  # sent a line other than a keep-alive since the server looked
    names_pending: list[int | str] | None = None  # rooms left and the end of a NAMES list

    def target(self) -> str:
        return self.nick if self.registered else "*"


Reply = tuple[list[Intent], list[bytes]]
Command = Callable[[IrcSession, tuple[str, ...]], Reply]


class IrcFront:
    protocol = PROTOCOL

    def __init__(
        self,
        settings: IrcSettings | None = None,
        chat: Chat | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings or IrcSettings()
        if not self.settings.created:  # 003 says when this process started
            stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(clock()))
            self.settings = dataclasses.replace(self.settings, created=stamp)
        self.clock = clock
        # This process's replica: WHO, WHOIS and the like read it (every replica is whole).
        self.chat = Chat() if chat is None else chat
        self.users: Mapping[str, User] = self.chat.by_id
        self.sessions: dict[str, IrcSession] = {}
        sources = Sources(self.users)
        self._room = RoomText(sources).render
        self.reply = OwnText(self, sources)
        self._commands: dict[str, Command] = {
            "PRIVMSG": lambda s, a: self._message(s, a, "PRIVMSG"),
            "NOTICE": lambda s, a: self._message(s, a, "NOTICE"),
            "JOIN": self._join,
            "PART": self._part,
            "TOPIC": self._topic,
            "NAMES": lambda s, a: chanops.names(self, s, a),
            "MODE": lambda s, a: chanops.mode(self, s, a),
            "KICK": lambda s, a: chanops.kick(self, s, a),
            "INVITE": self._invite,
            "AWAY": lambda s, a: ([i.Away(s.id, a[0][:AWAY_LEN] if a else None)], []),
            "LIST": lambda s, a: ([i.Rooms(s.id)], []),
            "WHO": self._who,
            "QUIT": self._quit,
        }

    def reconfigure(self, settings: IrcSettings) -> None:
        created = self.settings.created
        self.settings = (
            settings if settings.created else dataclasses.replace(settings, created=created)
        )

    # Sessions.

    def open(self, uid: str, label: str) -> IrcSession:
        session = self.sessions[uid] = IrcSession(uid, label)
        return session

    def close(self, uid: str) -> None:
        self.sessions.pop(uid, None)

    # Input.

    def feed(self, uid: str, line: bytes | TooLong) -> Reply:
        """One framed line of user uid: intents for the chat, replies to send now."""
        session = self.sessions[uid]
        if isinstance(line, TooLong):
            session.active = True
            return [], [self._numeric(session, n.ERR_INPUTTOOLONG)]
        if not line:
            return [], []
        if session.registered:
            said = room_privmsg(uid, line)
            if said is not None:
                session.active = True
                return [said], []
        return self.general(session, line)

    def general(self, session: IrcSession, line: bytes) -> Reply:
        """Any line, through the parser and the command's handler."""
        try:
            msg = parse(line)
        except ParseError:
            return [], []
        if msg.command not in KEEPALIVE:
            session.active = True
        args = tuple(p.sanitise(a) for a in msg.params)
        if msg.command in ("PRIVMSG", "NOTICE") and len(args) >= 2:
            args = (*args[:-1], _ctcp_safe(msg.params[-1]))
        return self._dispatch(session, msg.command, args)

    def _dispatch(self, s: IrcSession, command: str, args: tuple[str, ...]) -> Reply:
        if command == "PING":
            if not args:
                return [], [self._numeric(s, n.ERR_NEEDMOREPARAMS, "PING")]
            return [], [self.pong(args[0])]
        if command == "PONG":
            return [], []
        if command in ("PASS", "NICK", "USER", "CAP"):
            return getattr(self, "_" + command.lower())(s, args)
        if not s.registered:
            if command == "QUIT":
                return self._quit(s, args)
            return [], [self._numeric(s, n.ERR_NOTREGISTERED)]
        handler = self._commands.get(command) or self.reply.query(command)
        if handler is None:
            return self._reject(s, n.ERR_UNKNOWNCOMMAND, command)
        return handler(s, args)

    def _numeric(self, s: IrcSession, code: str, *params: str, text: str | None = None) -> bytes:
        name = self.settings.server_name
        return render(n.numeric(name, code, s.target(), *middle(code, params, text), text=text))

    def _reject(self, s: IrcSession, code: str, *params: str) -> Reply:
        """An error after the answers to what the user sent before (a Reject intent)."""
        return [i.Reject(s.id, "irc", (code, *params))], []

    def _need(self, s: IrcSession, command: str) -> Reply:
        if not s.registered:
            return [], [self._numeric(s, n.ERR_NEEDMOREPARAMS, command)]
        return self._reject(s, n.ERR_NEEDMOREPARAMS, command)

    # Registration.

    def _pass(self, s: IrcSession, args: tuple[str, ...]) -> Reply:
        if s.registered or s.connected:
            return [], [self._numeric(s, n.ERR_ALREADYREGISTERED)]
        if not args:
            return self._need(s, "PASS")
        s.password = args[0]  # compared with server_password on registering
        return [], []

    def _nick(self, s: IrcSession, args: tuple[str, ...]) -> Reply:
        if not args or not args[0]:
            if s.registered:
                return self._reject(s, n.ERR_NONICKNAMEGIVEN)
            return [], [self._numeric(s, n.ERR_NONICKNAMEGIVEN)]
        name = args[0]
        if s.connected:  # the chat knows the user: it decides (433, 432 or a change)
            return [i.Nick(s.id, name)], []
        if not valid_nick(name):
            return [], [self._numeric(s, n.ERR_ERRONEUSNICKNAME, name)]
        s.nick = name
        return self._try_register(s)

    def _user(self, s: IrcSession, args: tuple[str, ...]) -> Reply:
        if s.registered:
            return self._reject(s, n.ERR_ALREADYREGISTERED)
        if s.user:
            return [], [self._numeric(s, n.ERR_ALREADYREGISTERED)]
        if len(args) < 4 or not args[0] or not args[3]:
            return self._need(s, "USER")
        s.user, s.realname = args[0], args[3]
        return self._try_register(s)

    def _cap(self, s: IrcSession, args: tuple[str, ...]) -> Reply:
        sub = args[0].upper() if args else ""
        head = (self.settings.server_name, s.target())
        if sub == "LS" or sub == "LIST":
            if sub == "LS" and not s.registered:
                s.cap_open = True
            shown = CAPS if sub == "LS" else tuple(sorted(s.caps))
            return [], [render(Message("CAP", (head[1], sub, " ".join(shown)), head[0]))]
        if sub == "REQ" and len(args) >= 2:
            if not s.registered:
                s.cap_open = True
            wanted = args[1].split()
            ok = all(c.lstrip("-") in CAPS for c in wanted)
            if ok:
                for cap in wanted:
                    (s.caps.discard if cap.startswith("-") else s.caps.add)(cap.lstrip("-"))
            answer = "ACK" if ok else "NAK"
            return [], [render(Message("CAP", (head[1], answer, args[1]), head[0]))]
        if sub == "END":
            if s.registered:
                return [], []
            s.cap_open = False
            return self._try_register(s)
        if not sub:
            return self._need(s, "CAP")
        return [], [self._numeric(s, n.ERR_INVALIDCAPCMD, sub)]

    def _try_register(self, s: IrcSession) -> Reply:
        if s.connected or not s.nick or not s.user or s.cap_open:
            return [], []
        secret = self.settings.password
        if secret and not matches(s.password, secret):  # no PASS, or a wrong one
            return [], [
                self._numeric(s, n.ERR_PASSWDMISMATCH),
                self.closing(s.label, "Bad password"),
            ]
        s.connected = True
        connect = i.Connect(s.id, s.label, PROTOCOL, lobby=False, ident=ident(s.user))
        return [connect, i.Nick(s.id, s.nick)], []

    def _quit(self, s: IrcSession, args: tuple[str, ...]) -> Reply:
        reason = args[0] if args and args[0] else "Quit"
        if not s.connected:
            return [], [render(Message("ERROR", (f"Closing link: {s.label} ({reason})",)))]
        return [i.Quit(s.id, reason)], []

    # Talking.

    def _message(self, s: IrcSession, args: tuple[str, ...], command: str) -> Reply:
        quiet = command == "NOTICE"  # a notice gets no automatic reply, not even an error
        if not args or not args[0]:
            return ([], []) if quiet else self._reject(s, n.ERR_NORECIPIENT, text_of(command))
        if len(args) < 2 or not args[1]:
            return ([], []) if quiet else self._reject(s, n.ERR_NOTEXTTOSEND)
        text = args[1]
        out: list[Intent] = []
        for target in _targets(args[0]):
            intent = self._one_message(s, target, text, quiet)
            if intent is not None:
                out.append(intent)
        return out, []

    def _one_message(self, s: IrcSession, target: str, text: str, quiet: bool) -> Intent | None:
        room = target.startswith("#")
        if text.startswith(CTCP):
            # CTCP travels between IRC users as it is; of the rest only ACTION means
            # something to the chat (a room's action, "* text" to a line user).
            action = text.startswith(ACTION_START)
            inner = text[len(ACTION_START) :].rstrip(CTCP) if action else ""
            user = None if room else self.chat.nicks.get(fold(target))
            if user is not None and user.protocol == PROTOCOL:
                pass
            elif action and room and not quiet:
                return i.Act(s.id, target, inner)
            elif action and user is not None and inner:
                text = "* " + inner
            else:
                return None
        if quiet:
            return i.Notice(s.id, target, text, quiet=True)
        return i.Say(s.id, target, text) if room else i.Private(s.id, target, text)

    # Rooms.

    def _join(self, s: IrcSession, args: tuple[str, ...]) -> Reply:
        if not args or not args[0]:
            return self._need(s, "JOIN")
        if args[0] == "0":
            user = self.users.get(s.id)
            rooms = [] if user is None else [room.name for room in user.rooms]
            return [i.Part(s.id, room, "Left all channels") for room in rooms], []
        keys = args[1].split(",") if len(args) > 1 else []
        out: list[Intent] = []
        for index, name in enumerate(_targets(args[0])):
            if not valid_room(name):
                out.append(i.Reject(s.id, "irc", (n.ERR_NOSUCHCHANNEL, name)))
                continue
            key = keys[index] if index < len(keys) else ""
            out.append(i.Join(s.id, name, key, at=self.clock()))
        return out, []

    def _part(self, s: IrcSession, args: tuple[str, ...]) -> Reply:
        if not args or not args[0]:
            return self._need(s, "PART")
        reason = args[1] if len(args) > 1 else ""
        return [i.Part(s.id, name, reason) for name in _targets(args[0])], []

    def _topic(self, s: IrcSession, args: tuple[str, ...]) -> Reply:
        if not args or not args[0]:
            return self._need(s, "TOPIC")
        text = args[1] if len(args) > 1 else None
        return [i.Topic(s.id, args[0], text, self.clock())], []

    def _who(self, s: IrcSession, args: tuple[str, ...]) -> Reply:
        return self.reply.who_user(s, args)

    def _invite(self, s: IrcSession, args: tuple[str, ...]) -> Reply:
        if len(args) < 2:
            return self._need(s, "INVITE")
        return [i.Invite(s.id, args[0], args[1])], []

    # Output (delivery's FrontEnd).

    def room(self, out: Outcome) -> bytes | None:
        render_room = self._room.get(out.__class__)
        return None if render_room is None else render_room(out)

    def own(self, out: Outcome, uid: str) -> list[bytes] | tuple[bytes, ...]:
        session = self.sessions.get(uid)
        return () if session is None else self.reply.own(out, session)

    def refusal(self, out: Outcome) -> bytes:
        return render(Message("ERROR", (f"Closing link: {out.code.replace('_', ' ')}",)))  # type: ignore[union-attr]

    def notice(self, text: str) -> bytes:
        return render(Message("NOTICE", ("*", text), self.settings.server_name))

    def error(self, text: str) -> bytes:
        return render(Message("ERROR", (text,)))

    def too_long(self, max_line: int) -> bytes:
        return render(n.numeric(self.settings.server_name, n.ERR_INPUTTOOLONG, "*"))

    def pong(self, token: str) -> bytes:
        name = self.settings.server_name
        return render(Message("PONG", (name, token), name))

    def closing(self, label: str, reason: str) -> bytes:
        """The ERROR that ends a connection the server closes (a timeout, a bad password)."""
        return render(Message("ERROR", (f"Closing link: {label} ({reason})",)))

    def ping(self) -> bytes:
        """What the server sends a silent client to see if it is still there."""
        return render(Message("PING", (self.settings.server_name,)))

    def parse(self, uid: str, text: str) -> Intent | None:
        """The line protocol's entry point, for delivery's FrontEnd type: IRC uses feed."""
        intents, _ = self.feed(uid, text.encode())
        return intents[0] if intents else None


def text_of(command: str) -> str:
    return f"No recipient given ({command})"


def ident(user: str) -> str:
    """The user name USER gave, as a mask shows it: '~' (no ident check vouches for it)
    and at most USERLEN safe characters; empty when none is left."""
    kept = "".join(c for c in user if c.isascii() and (c.isalnum() or c in "-._"))
    return "~" + kept[:USERLEN] if kept else ""


def _targets(text: str) -> list[str]:
    return [t for t in text.split(",") if t][:MAX_TARGETS]


def _ctcp_safe(text: str) -> str:
    """The message text sanitised, keeping the \x01 pair that frames a CTCP message."""
    if text.startswith(CTCP):
        return CTCP + p.sanitise(text[1:].rstrip(CTCP)) + CTCP
    return p.sanitise(text)
