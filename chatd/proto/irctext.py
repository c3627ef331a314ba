"""IRC output: the chat's outcomes as IRC lines, for a room or for one IRC user.

Room lines (PRIVMSG, JOIN, PART, QUIT ...) are the same for every IRC recipient, so they
are rendered once per room (delivery appends the one bytes object to every IRC queue);
replies to one user (numerics) name that user's nick.  Text longer than one 512-byte line
(a line user may send more) is split over several lines, never cut.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..core import outcomes as o
from ..core.intents import Change, mode_words
from ..core.model import User
from . import ircnumerics as n
from .ircwire import MAX_LINE, Message, render

CTCP = "\x01"
ACTION_START = CTCP + "ACTION "
ACTION_END = CTCP

# The chat's error codes -> (numeric, how many of the error's args go before the text).
ERRORS: dict[str, str] = {
    "no_such_nick": n.ERR_NOSUCHNICK,
    "no_such_room": n.ERR_NOSUCHCHANNEL,
    "invalid_room": n.ERR_NOSUCHCHANNEL,
    "no_room": n.ERR_NOSUCHCHANNEL,
    "cannot_send": n.ERR_CANNOTSENDTOCHAN,
    "not_in_room": n.ERR_NOTONCHANNEL,
    "they_not_in_room": n.ERR_USERNOTINCHANNEL,
    "already_on": n.ERR_USERONCHANNEL,
    "not_op": n.ERR_CHANOPRIVSNEEDED,
    "invalid_nick": n.ERR_ERRONEUSNICKNAME,
    "nick_taken": n.ERR_NICKNAMEINUSE,
    "banned": n.ERR_BANNEDFROMCHAN,
    "invite_only": n.ERR_INVITEONLYCHAN,
    "bad_key": n.ERR_BADCHANNELKEY,
    "room_full": n.ERR_CHANNELISFULL,
    "users_dont_match": n.ERR_USERSDONTMATCH,
    "server_full": n.ERR_UNKNOWNERROR,
    "per_ip": n.ERR_UNKNOWNERROR,
}
SILENT_ERRORS = frozenset({"already_in"})  # IRC servers ignore a JOIN to a room one is in


class Sources:
    """nick!user@host of the users outcomes name: the core's own mask (ban masks match
    it); a departed user's host is remembered until its quit is rendered."""

    def __init__(self, users: Mapping[str, User]) -> None:
        self.users = users
        self._hosts: dict[str, str] = {}

    def of(self, uid: str, nick: str) -> str:
        host = self._hosts.get(uid)  # a user's protocol and label never change
        if host is None:
            user = self.users.get(uid)
            if user is None:
                return f"{nick}!unknown@chatd"
            host = self._hosts[uid] = f"{user.ident}@{user.label}"
            if len(self._hosts) > 2 * len(self.users) + 64:
                # Users whose quit no IRC user saw: keep only the connected ones.
                self._hosts = {k: v for k, v in self._hosts.items() if k in self.users}
        return f"{nick}!{host}"

    def forget(self, uid: str) -> None:
        self._hosts.pop(uid, None)


def fit(msg: Message) -> bytes:
    """The message's line, its last parameter cut short if the line would pass 512 bytes
    (a reason or topic someone else sent is re-sent with a longer source)."""
    data = render(msg)
    if len(data) <= MAX_LINE or not msg.params:
        return data
    head = Message(msg.command, msg.params[:-1], msg.source)
    return render(n.split_text(head, msg.params[-1])[0])


def lines(messages: list[Message]) -> bytes:
    return b"".join(render(m) for m in messages)


def quick_render(source: str, command: str, target: str, body: str) -> bytes:
    """A PRIVMSG or NOTICE of body to target, for what the chat hands over: a source, a
    room or nick and sanitised text, none of which can hold a space before the text, a
    NUL, CR or LF (the general renderer's checks cost more than the line here).

    The text is always the trailing parameter, after " :", as ngIRCd, Ergo and most
    servers send it: one rule for every text, so a run's lines need no test each."""
    return f":{source} {command} {target} :{body}\r\n".encode()


def text_lines(source: str, command: str, target: str, text: str, action: bool = False) -> bytes:
    """PRIVMSG/NOTICE of text to target, in as many lines as it takes."""
    wrap = (ACTION_START, ACTION_END) if action else ("", "")
    body = wrap[0] + text + wrap[1]
    data = quick_render(source, command, target, body)
    if len(data) <= MAX_LINE:
        return data
    head = Message(command, (target,), source)
    return lines(n.split_text(head, text, prefix=wrap[0], suffix=wrap[1]))


def modes_params(changes: tuple[Change, ...]) -> tuple[str, ...]:
    """(("+o", "bob"), ("+t", "")) -> ("+ot", "bob")."""
    letters, args = mode_words(changes)
    return (letters, *args)


class RoomText:
    """Outcomes for a room -> one bytes object for every IRC user in it."""

    def __init__(self, sources: Sources) -> None:
        self.src = sources.of
        self.sources = sources
        self.render: dict[type, Callable[[Any], bytes]] = {
            o.Said: lambda out: text_lines(
                self.src(out.by, out.nick), "PRIVMSG", out.room, out.text
            ),
            o.SaidRun: self._said_run,
            o.Acted: lambda out: text_lines(
                self.src(out.by, out.nick), "PRIVMSG", out.room, out.text, action=True
            ),
            o.Noticed: lambda out: text_lines(
                self.src(out.by, out.nick), "NOTICE", out.room, out.text
            ),
            o.Joined: lambda out: fit(Message("JOIN", (out.room,), self.src(out.by, out.nick))),
            o.Parted: self._parted,
            o.Left: self._left,
            o.NickChanged: lambda out: render(
                Message("NICK", (out.new,), self.src(out.by, out.old))
            ),
            o.TopicSet: lambda out: render(
                Message("TOPIC", (out.room, out.text), self.src(out.by, out.nick))
            ),
            o.Kicked: lambda out: render(
                Message(
                    "KICK",
                    (out.room, out.target_nick, out.reason or out.nick),
                    self.src(out.by, out.nick),
                )
            ),
            o.RoomModeChanged: lambda out: render(
                Message("MODE", (out.room, *modes_params(out.changes)), self.src(out.by, out.nick))
            ),
        }

    def _said_run(self, out: o.SaidRun) -> bytes:
        """The run's PRIVMSGs, formatted and encoded together when each fits in a line (as
        quick_render writes them)."""
        source, room, texts = self.src(out.by, out.nick), out.room, out.texts
        pre = f":{source} PRIVMSG {room} :"
        text = pre + f"\r\n{pre}".join(texts) + "\r\n"
        data = text.encode()
        if len(data) == len(text) and len(pre) + max(map(len, texts)) + 2 <= MAX_LINE:
            return data  # ASCII, a byte a character: every line fits
        return b"".join([text_lines(source, "PRIVMSG", room, t) for t in texts])

    def _parted(self, out: o.Parted) -> bytes:
        params = (out.room, out.reason) if out.reason else (out.room,)
        return fit(Message("PART", params, self.src(out.by, out.nick)))

    def _left(self, out: o.Left) -> bytes:
        data = fit(Message("QUIT", (out.reason or "Quit",), self.src(out.by, out.nick)))
        self.sources.forget(out.by)
        return data
