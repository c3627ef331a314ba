"""Shared room output against the simple rule: every member's own queue gets every line.

The same random run of broadcasts, private lines, joins, parts and short writes goes to
two servers: ours, and one whose delivery appends each room line to every member's queue
at once (what chatd did before rooms kept their lines for the tick).  After every tick
every member must have received the same bytes from both.
"""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_fanout import Net, User

from chatd.core import outcomes as o
from chatd.delivery import Delivery, Session
from chatd.fanout import Audience

ROOMS = ("lobby", "a", "b")
LINE_USERS = 3  # guest1..guest3
IRC_NICKS = ("xena", "yann")  # IRC users can be in several rooms at once
NICKS = tuple(f"guest{n + 1}" for n in range(LINE_USERS)) + IRC_NICKS
USERS = LINE_USERS + len(IRC_NICKS)


class PerMember(Delivery):
    """The reference: a room line goes to every member's own queue as it is made."""

    def _fan(self, audience: Audience, data: bytes, skip: Session | None) -> None:
        for session in audience.members:
            if session is not skip:
                session.out.append(data)
                self.dirty.add(session)

    def _talk(self, out: o.Said | o.Acted) -> None:
        self._broadcast(out.room, out, self.local.get(out.by))


def world(reference: bool) -> tuple[Net, list[User]]:
    net = Net()
    if reference:
        delivery = net.server.delivery
        delivery.__class__ = PerMember
        delivery._by_kind[o.Said] = delivery._by_kind[o.Acted] = delivery._talk
    users = [net.line() for _ in range(LINE_USERS)]
    users += [net.irc(nick, "#lobby") for nick in IRC_NICKS]
    net.settle(*users)
    return net, users


def words(op: tuple, user: User) -> list[str]:  # type: ignore[type-arg]
    """What a user types for op, in its protocol."""
    kind, _, arg, text = op
    irc = user.conn.front.protocol == "irc"
    if kind == "say":
        return [f"PRIVMSG #{ROOMS[arg]} :{text}"] if irc else [text]
    if kind == "msg":
        return [f"PRIVMSG {NICKS[arg]} :{text}"] if irc else [f"/msg {NICKS[arg]} {text}"]
    if kind == "join":
        return [f"JOIN #{ROOMS[arg]}"] if irc else [f"/join {ROOMS[arg]}"]
    return [f"PART #{ROOMS[arg]}"] if irc else ["/join lobby"]  # part


texts = st.sampled_from(["hi", "a longer line of chat", "x" * 90, "/me waves"])
action = st.tuples(
    st.sampled_from(["say", "say", "say", "msg", "join", "part"]),
    st.integers(0, USERS - 1),
    st.integers(0, len(ROOMS) - 1),
    texts,
)
short = st.tuples(st.just("short"), st.integers(0, USERS - 1), st.none() | st.integers(0, 40))
ops = st.one_of(action, action, action, action, action, short, st.just(("tick",)))


@settings(max_examples=80, deadline=None)
@given(st.lists(ops, max_size=60))
# Writable again mid-tick with room lines pending: they go out in that send, as a queue's.
@example(
    [("say", 0, 0, "hi"), ("say", 1, 0, "hi"), ("short", 0, 7), ("tick",), ("say", 1, 0, "hi")]
)
def test_every_member_gets_the_stream_its_own_queue_would_have(run):
    """Ours and the reference with the same short writes match after every tick; in
    the end both match the reference whose sockets take everything at once."""
    ours, theirs, whole = world(False), world(True), world(True)
    got: list[list[bytes]] = [[] for _ in range(3)]
    try:
        for op in [*run, ("tick",)]:
            for net, users in (ours, theirs, whole):
                if op[0] != "short" or users is not whole[1]:
                    apply(net, users, op)
            if op[0] == "tick":
                assert_same(ours[1], theirs[1], got)
                got[2] += [user.read() for user in whole[1]]
        for net, users in (ours, theirs, whole):  # every socket takes all: the rest comes out
            for user in users:
                user.spy.limit = None
            for _ in range(3):
                net.tick()
        assert_same(ours[1], theirs[1], got)
        got[2] += [user.read() for user in whole[1]]
        for n in range(USERS):
            assert b"".join(got[0][n::USERS]) == b"".join(got[2][n::USERS]), f"user {n}"
    finally:
        for net, _ in (ours, theirs, whole):
            net.close()


def apply(net: Net, users: list[User], op: tuple) -> None:  # type: ignore[type-arg]
    if op[0] == "tick":
        net.tick()
    elif op[0] == "short":
        users[op[1]].spy.limit = op[2]
    elif users[op[1]].conn.reason is None:
        user = users[op[1]]
        if op[0] == "say" and op[3] == "/me waves" and user.conn.front.protocol == "irc":
            op = (op[0], op[1], op[2], "\x01ACTION waves\x01")
        user.says(*words(op, user))


def assert_same(ours: list[User], theirs: list[User], got: list[list[bytes]]) -> None:
    """Each user's bytes of this tick, the same from ours and from the reference."""
    for n, (mine, ref) in enumerate(zip(ours, theirs, strict=True)):
        data = mine.read()
        assert data == ref.read(), f"user {n}"
        got[0].append(data)
