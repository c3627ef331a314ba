"""IRC replies to one user: the chat's outcomes addressed to it, the welcome burst, and the
queries answered from this process's replica of the chat (WHO, WHOIS, USERHOST, ISON,
LUSERS, MOTD), which every replica holds whole."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..core import outcomes as o
from ..core.model import OP, TOPIC_LEN, VOICE, Room, User
from ..core.names import NICK_LEN, ROOM_LEN, fold
from ..peeraddr import irc_host
from . import ircnumerics as n
from .irctext import ERRORS, SILENT_ERRORS, Sources, fit, modes_params, text_lines
from .ircwire import Message, render

if TYPE_CHECKING:
    from .irc import IrcFront, IrcSession, Reply

MAX_TARGETS = 4  # of one PRIVMSG, NOTICE, JOIN, PART, KICK, NAMES
MAX_MODES = 16  # changes of one MODE
AWAY_LEN = 200


def isupport_tokens(network: str) -> dict[str, str | int | None]:
    return {
        "CASEMAPPING": "ascii",
        "CHANTYPES": "#",
        "CHANMODES": "b,k,l,imnst",
        "PREFIX": "(ov)@+",
        "NICKLEN": NICK_LEN,
        "CHANNELLEN": ROOM_LEN + 1,
        "TOPICLEN": TOPIC_LEN,
        "AWAYLEN": AWAY_LEN,
        "MODES": MAX_MODES,
        "TARGMAX": f"PRIVMSG:{MAX_TARGETS},NOTICE:{MAX_TARGETS},JOIN:{MAX_TARGETS},"
        f"PART:{MAX_TARGETS},KICK:{MAX_TARGETS},NAMES:{MAX_TARGETS}",
        "NETWORK": network,
    }


class OwnText:
    def __init__(self, front: IrcFront, sources: Sources) -> None:
        self.front = front
        self.src = sources.of
        self._own: dict[type, Callable[[Any, IrcSession], list[bytes]]] = {
            o.Welcomed: lambda out, s: [],
            o.NickChanged: self._nick,
            o.Info: self._info,
            o.Error: self._error,
            o.Noticed: lambda out, s: [
                text_lines(self.src(out.by, out.nick), "NOTICE", s.nick, out.text)
            ],
            o.Whispered: lambda out, s: (
                [text_lines(self.src(out.by, out.nick), "PRIVMSG", s.nick, out.text)]
                if out.to == s.id
                else []
            ),
            o.Joined: lambda out, s: [self._line("JOIN", (out.room,), self.src(s.id, s.nick))],
            o.Parted: lambda out, s: [
                self._line(
                    "PART",
                    (out.room, out.reason) if out.reason else (out.room,),
                    self.src(s.id, s.nick),
                )
            ],
            o.Names: self._names,
            o.Bye: lambda out, s: [
                self._line("ERROR", (f"Closing link: {s.label} ({out.reason})",), None)
            ],
            o.TopicIs: self._topic_is,
            o.Invited: lambda out, s: [
                self._line("INVITE", (s.nick, out.room), self.src(out.by, out.nick))
            ],
            o.UserModeChanged: lambda out, s: [
                self._line("MODE", (s.nick, *modes_params(out.changes)), s.nick)
            ],
            o.ModeIs: self._mode_is,
            o.BanList: lambda out, s: [
                *(self._num(s, n.RPL_BANLIST, out.room, mask) for mask in out.masks),
                self._num(s, n.RPL_ENDOFBANLIST, out.room),
            ],
            o.AwayChanged: lambda out, s: [
                self._num(s, n.RPL_NOWAWAY if out.away else n.RPL_UNAWAY)
            ],
            o.RoomList: lambda out, s: [
                self._num(s, n.RPL_LISTSTART, "Channel"),
                *(self._num(s, n.RPL_LIST, r, str(c), text=t) for r, c, t in out.rooms),
                self._num(s, n.RPL_LISTEND),
            ],
        }
        self._queries: dict[str, Callable[[IrcSession, tuple[str, ...]], Reply]] = {
            "WHOIS": self._whois,
            "USERHOST": self._userhost,
            "ISON": self._ison,
            "LUSERS": lambda s, a: ([], self.lusers(s)),
            "MOTD": lambda s, a: ([], self.motd(s)),
        }

    def query(self, command: str) -> Callable[[IrcSession, tuple[str, ...]], Reply] | None:
        return self._queries.get(command)

    # Building blocks.

    def _num(self, s: IrcSession, code: str, *params: str, text: str | None = None) -> bytes:
        name = self.front.settings.server_name
        return fit(n.numeric(name, code, s.target(), *middle(code, params, text), text=text))

    @staticmethod
    def _line(command: str, params: tuple[str, ...], source: str | None) -> bytes:
        return fit(Message(command, params, source))

    def own(self, out: o.Outcome, s: IrcSession) -> list[bytes]:
        render_own = self._own.get(out.__class__)
        return [] if render_own is None else render_own(out, s)

    # Registration.

    def _nick(self, out: o.NickChanged, s: IrcSession) -> list[bytes]:
        if not s.registered:
            return self.welcome(s, out.new)
        line = self._line("NICK", (out.new,), self.src(s.id, out.old))
        s.nick = out.new
        return [line]

    def welcome(self, s: IrcSession, nick: str) -> list[bytes]:
        s.nick, s.registered = nick, True
        st = self.front.settings
        name, version = st.server_name, st.version or "chatd"
        mask = self.src(s.id, nick)
        burst = [
            self._num(s, n.RPL_WELCOME, text=f"Welcome to the {name} Network, {mask}"),
            self._num(s, n.RPL_YOURHOST, text=f"Your host is {name}, running version {version}"),
            self._num(s, n.RPL_CREATED, text=f"This server was created {st.created}"),
            self._num(s, n.RPL_MYINFO, name, version, "i", "biklmnost", "bklov"),
            *(render(m) for m in n.isupport(name, nick, isupport_tokens(name))),
        ]
        return burst + self.lusers(s) + self.motd(s)

    def lusers(self, s: IrcSession) -> list[bytes]:
        users = self.front.chat.by_id.values()
        invisible = sum(1 for u in users if u.invisible)
        total = len(self.front.chat.by_id)
        return [
            self._num(
                s,
                n.RPL_LUSERCLIENT,
                text=f"There are {total - invisible} users and {invisible} invisible on 1 servers",
            ),
            self._num(s, n.RPL_LUSERCHANNELS, str(len(self.front.chat.rooms))),
            self._num(s, n.RPL_LUSERME, text=f"I have {total} clients and 1 servers"),
        ]

    def motd(self, s: IrcSession) -> list[bytes]:
        st = self.front.settings
        text = [t for t in st.motd.split("\n") if t.strip()]
        if not text:
            return [self._num(s, n.ERR_NOMOTD)]
        return [
            self._num(s, n.RPL_MOTDSTART, text=f"- {st.server_name} Message of the day - "),
            *(self._num(s, n.RPL_MOTD, text=f"- {line}") for line in text),
            self._num(s, n.RPL_ENDOFMOTD),
        ]

    # Outcomes to one user.

    def _info(self, out: o.Info, s: IrcSession) -> list[bytes]:
        if out.code == "already_nick":
            return [] if s.registered else self.welcome(s, out.args[0])
        if out.code == "inviting":
            return [self._num(s, n.RPL_INVITING, *out.args)]
        if out.code == "away":
            return [self._num(s, n.RPL_AWAY, out.args[0], text=out.args[1])]
        return []

    def _error(self, out: o.Error, s: IrcSession) -> list[bytes]:
        code, args = out.code, out.args
        if code == "irc":
            return [self._num(s, args[0], *args[1:])]
        if code in SILENT_ERRORS:
            return []
        if code in ("unknown_mode", "need_arg", "ban_list_full"):
            return [self._mode_error(s, code, args)]
        if code == "users_dont_match":
            return [self._num(s, n.ERR_USERSDONTMATCH)]
        if len(args) == 3:  # a member mode's (letter, nick, room): the nick is the subject
            args = (args[1],) if code == "no_such_nick" else (args[1], args[2])
        numeric = ERRORS.get(code, n.ERR_UNKNOWNERROR)
        if numeric == n.ERR_UNKNOWNERROR:
            return [self._num(s, numeric, "*", text=code.replace("_", " "))]
        return [self._num(s, numeric, *args)]

    def _mode_error(self, s: IrcSession, code: str, args: tuple[str, ...]) -> bytes:
        letter, arg, target = args
        if code == "unknown_mode":
            if target.startswith("#"):
                return self._num(s, n.ERR_UNKNOWNMODE, letter)
            return self._num(s, n.ERR_UMODEUNKNOWNFLAG)
        if code == "ban_list_full":
            return self._num(s, "478", target, arg, text="Channel ban list is full")
        return self._num(
            s, n.ERR_INVALIDMODEPARAM, target, letter, arg or "*", text="Invalid mode parameter"
        )

    def _names(self, out: o.Names, s: IrcSession) -> list[bytes]:
        room = self.front.chat.rooms.get(fold(out.room))
        symbol = "@" if room is not None and "s" in room.flags else "="
        head = n.numeric(
            self.front.settings.server_name, n.RPL_NAMREPLY, s.target(), symbol, out.room, text=""
        )
        head = Message(head.command, head.params[:-1], head.source)
        words = [prefix + nick for prefix, nick in out.members]
        if room is not None and "multi-prefix" in s.caps:
            words = [_prefixes(f) + u.nick for u, f in room.members.items()]
        if room is not None and not self._inside(s, room):
            # From outside: a secret room shows no one, any room hides its +i members.
            hidden = {u.nick for u in room.members if u.invisible or "s" in room.flags}
            words = [w for w in words if w.lstrip("@+") not in hidden]
        lines = [render(m) for m in n.pack_words(head, words)]
        return [*lines, self._num(s, n.RPL_ENDOFNAMES, out.room)]

    def _topic_is(self, out: o.TopicIs, s: IrcSession) -> list[bytes]:
        if not out.text:
            return [self._num(s, n.RPL_NOTOPIC, out.room)]
        return [
            self._num(s, n.RPL_TOPIC, out.room, text=out.text),
            self._num(s, n.RPL_TOPICWHOTIME, out.room, out.setter or "*", str(int(out.at))),
        ]

    def _mode_is(self, out: o.ModeIs, s: IrcSession) -> list[bytes]:
        if out.target.startswith("#"):
            lines = [self._num(s, n.RPL_CHANNELMODEIS, out.target, out.modes, *out.args)]
            if out.created:
                lines.append(self._num(s, n.RPL_CREATIONTIME, out.target, str(int(out.created))))
            return lines
        return [self._num(s, n.RPL_UMODEIS, out.modes)]

    # Queries answered from the replica.

    def _inside(self, s: IrcSession, room: Room) -> bool:
        user = self.front.chat.by_id.get(s.id)
        return user is not None and user in room.members

    def _real(self, user: User) -> str:
        """The real name a local IRC user gave; the nick for everyone else."""
        session = self.front.sessions.get(user.id)
        return session.realname if session is not None and session.realname else user.nick

    def _user(self, nick: str) -> User | None:
        return self.front.chat.nicks.get(fold(nick))

    def who_user(self, s: IrcSession, args: tuple[str, ...]) -> Reply:
        mask = args[0] if args else "*"
        if mask.startswith("#"):
            room = self.front.chat.rooms.get(fold(mask))
            members = [] if room is None else list(room.members.items())
            if room is not None and not self._inside(s, room):
                members = [(u, f) for u, f in members if not u.invisible and "s" not in room.flags]
            found = [self._who_line(s, u, room, f) for u, f in members]
        else:
            user = self._user(mask)
            found = [] if user is None else [self._who_line(s, user, user.current(), 0)]
        return [], [*found, self._num(s, n.RPL_ENDOFWHO, mask)]

    def _who_line(self, s: IrcSession, user: User, room: Room | None, flags: int) -> bytes:
        state = ("G" if user.away else "H") + ("@" if flags & OP else "+" if flags & VOICE else "")
        where = room.name if room is not None else "*"
        name = self.front.settings.server_name
        return self._num(
            s,
            n.RPL_WHOREPLY,
            where,
            user.protocol,
            irc_host(user.label),
            name,
            user.nick,
            state,
            text=f"0 {self._real(user)}",
        )

    def _whois(self, s: IrcSession, args: tuple[str, ...]) -> Reply:
        if not args:
            return [], [self._num(s, n.ERR_NONICKNAMEGIVEN)]
        nick = args[-1]
        user = self._user(nick)
        if user is None:
            return [], [self._num(s, n.ERR_NOSUCHNICK, nick), self._num(s, n.RPL_ENDOFWHOIS, nick)]
        name = self.front.settings.server_name
        lines = [
            self._num(
                s,
                n.RPL_WHOISUSER,
                user.nick,
                user.protocol,
                irc_host(user.label),
                "*",
                text=self._real(user),
            ),
        ]
        rooms = [
            room.prefix(user) + room.name
            for room in user.rooms
            if "s" not in room.flags or s.id in {m.id for m in room.members}
        ]
        if rooms:
            lines.append(self._num(s, n.RPL_WHOISCHANNELS, user.nick, text=" ".join(rooms)))
        lines.append(self._num(s, n.RPL_WHOISSERVER, user.nick, name, text="chatd"))
        if user.away:
            lines.append(self._num(s, n.RPL_AWAY, user.nick, text=user.away))
        lines.append(self._num(s, n.RPL_ENDOFWHOIS, user.nick))
        return [], lines

    def _userhost(self, s: IrcSession, args: tuple[str, ...]) -> Reply:
        if not args:
            return [], [self._num(s, n.ERR_NEEDMOREPARAMS, "USERHOST")]
        found = [u for u in (self._user(a) for a in args[:5]) if u is not None]
        words = [f"{u.nick}={'-' if u.away else '+'}{u.protocol}@{u.label}" for u in found]
        return [], [self._num(s, n.RPL_USERHOST, text=" ".join(words))]

    def _ison(self, s: IrcSession, args: tuple[str, ...]) -> Reply:
        if not args:
            return [], [self._num(s, n.ERR_NEEDMOREPARAMS, "ISON")]
        nicks = [w for a in args for w in a.split()]
        found = [u.nick for u in (self._user(w) for w in nicks) if u is not None]
        return [], [self._num(s, n.RPL_ISON, text=" ".join(found))]


def word(param: str) -> str:
    """A parameter that can stand before the last one: the user's words echoed back in a
    numeric may be empty, hold a space or start with ':'; such a one is shown as '*'."""
    return param if param and " " not in param and param[0] != ":" else "*"


def middle(code: str, params: tuple[str, ...], text: str | None) -> tuple[str, ...]:
    """params with word() applied to those that go before a numeric's last parameter."""
    if text is None and code not in n.TEXT and params:
        return (*map(word, params[:-1]), params[-1])
    return tuple(map(word, params))


def _prefixes(flags: int) -> str:
    return ("@" if flags & OP else "") + ("+" if flags & VOICE else "")
