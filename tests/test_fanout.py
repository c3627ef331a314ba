"""A room's output for a tick, shared: every member still gets exactly its own stream.

Each test drives the server as its loop does, one client event at a time (the client's
callback, as the loop would call it), and ends the tick with one loop step, so several
clients' lines fall into one tick in an order the test chooses.
"""

from __future__ import annotations

import selectors
import socket

from harness import Harness, Peer

from chatd.connection import TOO_SLOW, Connection

READ = selectors.EVENT_READ


class Spy:
    """A client's socket on the server's side that records each send, and can take only
    ``limit`` bytes of one (a short write) when asked to."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sent: list[bytes] = []
        self.limit: int | None = None

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, data: bytes) -> int:
        self.sent.append(data)
        if self.limit is not None:
            data = data[: self.limit]
        return self.sock.send(data)

    def recv(self, n: int) -> bytes:
        return self.sock.recv(n)

    def close(self) -> None:
        self.sock.close()


class User:
    def __init__(self, conn: Connection, peer: Peer) -> None:
        self.conn = conn
        self.peer = peer
        self.spy = Spy(conn.sock)
        conn.sock = self.spy  # type: ignore[assignment]

    def says(self, *lines: str) -> None:
        """Input as one read of this client's socket, handled at once."""
        end = "\r\n" if self.conn.front.protocol == "irc" else "\n"
        self.peer.sock.sendall("".join(line + end for line in lines).encode())
        self.conn(READ)

    def read(self) -> bytes:
        return self.peer.read()


class Net:
    def __init__(self, **settings: object) -> None:
        self.h = Harness(**settings)
        self.server = self.h.server

    def line(self, room: str = "") -> User:
        user = self._adopt("line")
        if room:
            user.says(f"/join {room}")
        return user

    def irc(self, nick: str, rooms: str = "") -> User:
        user = self._adopt("irc")
        user.says(f"NICK {nick}", f"USER {nick} 0 * :{nick}")
        if rooms:
            user.says(f"JOIN {rooms}")
        return user

    def _adopt(self, protocol: str) -> User:
        ours, theirs = socket.socketpair()
        conn = self.server.adopt(theirs, "10.0.0.1", protocol)
        assert conn is not None
        return User(conn, Peer(ours))

    def tick(self) -> None:
        self.h.step()

    def settle(self, *users: User) -> None:
        """Ends the tick and throws away what everyone got so far."""
        self.tick()
        for user in users:
            user.read()
            user.spy.sent.clear()

    def close(self) -> None:
        self.h.close()


def lobby(n: int) -> tuple[Net, list[User]]:
    net = Net()
    users = [net.line() for _ in range(n)]
    net.settle(*users)
    return net, users


def test_one_bytes_object_is_sent_to_every_member_whose_tick_is_the_rooms():
    net, (a, b, c) = lobby(3)
    a.says("one", "two", "three")
    net.tick()
    assert len(b.spy.sent) == len(c.spy.sent) == 1
    assert b.spy.sent[0] is c.spy.sent[0]
    assert b.read() == c.read() == b"<guest1> one\r\n<guest1> two\r\n<guest1> three\r\n"
    net.close()


def test_a_private_line_mid_tick_keeps_its_place_and_the_others_share():
    net, (a, b, c) = lobby(3)
    a.says("one", "/msg guest3 psst", "two")
    net.tick()
    assert b.read() == b"<guest1> one\r\n<guest1> two\r\n"
    assert c.read() == b"<guest1> one\r\n*guest1* psst\r\n<guest1> two\r\n"
    assert a.read() == b"-> *guest3* psst\r\n"
    assert [len(u.spy.sent) for u in (a, b, c)] == [1, 1, 1]  # one send each
    net.close()


def test_a_private_line_before_the_rooms_first_comes_first():
    net, (a, b, c) = lobby(3)
    b.says("/msg guest3 first")
    a.says("then the room")
    net.tick()
    assert c.read() == b"*guest2* first\r\n<guest1> then the room\r\n"
    assert b.read() == b"-> *guest3* first\r\n<guest1> then the room\r\n"
    net.close()


def test_the_sender_never_gets_its_own_line_even_after_the_rooms_earlier_ones():
    net, (a, b, c) = lobby(3)
    b.says("from b 1")
    a.says("from a")  # a had b's line already this tick
    b.says("from b 2")
    net.tick()
    assert a.read() == b"<guest2> from b 1\r\n<guest2> from b 2\r\n"
    assert b.read() == b"<guest1> from a\r\n"
    assert c.read() == b"<guest2> from b 1\r\n<guest1> from a\r\n<guest2> from b 2\r\n"
    net.close()


def test_a_short_write_of_the_shared_bytes_keeps_only_the_rest_for_that_member():
    net, (a, b, c) = lobby(3)
    b.spy.limit = 5
    a.says("one", "two")
    net.tick()
    whole = b"<guest1> one\r\n<guest1> two\r\n"
    assert c.read() == whole
    assert b.read() == whole[:5]
    assert b.conn.out_size == len(whole) - 5  # what is really unsent, counted
    b.spy.limit = None
    a.says("three")  # queued behind the rest, never before it
    net.tick()
    net.tick()
    assert b.read() == whole[5:] + b"<guest1> three\r\n"
    assert c.read() == b"<guest1> three\r\n"
    assert b.conn.out_size == 0 and b.conn.out == []
    net.close()


def test_a_member_that_cannot_keep_up_is_cut_at_max_send_buffer_and_the_others_are_not():
    net = Net(max_send_buffer=300)
    a, b, c = net.line(), net.line(), net.line()
    net.settle(a, b, c)
    b.spy.limit = 0  # b reads nothing
    line = "x" * 40
    for _ in range(10):
        a.says(line, line)
        net.tick()
    assert b.conn.reason == TOO_SLOW
    got = c.read().splitlines(keepends=True)
    assert got.count(f"<guest1> {line}\r\n".encode()) == 20
    assert f"*** guest2 left #lobby ({TOO_SLOW})\r\n".encode() in got
    assert len(got) == 21
    net.close()


def test_a_member_that_joins_mid_tick_gets_only_what_follows():
    net = Net()
    a, b = net.line(), net.line()
    d = net.line("other")
    net.settle(a, b, d)
    a.says("before")
    d.says("/join lobby")
    a.says("after")
    net.tick()
    assert d.read() == (
        b"*** You joined #lobby (3 users: guest1, guest2, guest3)\r\n<guest1> after\r\n"
    )
    assert b.read() == b"<guest1> before\r\n*** guest3 joined #lobby\r\n<guest1> after\r\n"
    net.close()


def test_a_member_that_leaves_mid_tick_keeps_what_came_before():
    net, (a, b, c) = lobby(3)
    a.says("before")
    b.says("/join other")
    a.says("after")
    net.tick()
    assert b.read() == b"<guest1> before\r\n*** You joined #other (1 user: guest2)\r\n"
    assert c.read() == (
        b"<guest1> before\r\n*** guest2 left #lobby (joined #other)\r\n<guest1> after\r\n"
    )
    net.close()


def test_irc_members_share_their_own_encoding():
    net = Net()
    a = net.line()
    x, y = net.irc("xena", "#lobby"), net.irc("yann", "#lobby")
    net.settle(a, x, y)
    a.says("hi all")
    net.tick()
    assert x.spy.sent == [b":guest1!line@10.0.0.1 PRIVMSG #lobby :hi all\r\n"]
    assert x.spy.sent[0] is y.spy.sent[0]
    net.close()


def test_an_irc_member_of_two_busy_rooms_hears_them_in_the_order_they_spoke():
    net = Net()
    la, lb = net.line(), net.line("b")
    la.says("/join a")
    x = net.irc("xena", "#a,#b")
    y = net.irc("yann", "#a")
    net.settle(la, lb, x, y)
    la.says("a1")
    lb.says("b1")
    la.says("a2")
    net.tick()
    assert x.read() == (
        b":guest1!line@10.0.0.1 PRIVMSG #a :a1\r\n"
        b":guest2!line@10.0.0.1 PRIVMSG #b :b1\r\n"
        b":guest1!line@10.0.0.1 PRIVMSG #a :a2\r\n"
    )
    assert y.read() == (
        b":guest1!line@10.0.0.1 PRIVMSG #a :a1\r\n:guest1!line@10.0.0.1 PRIVMSG #a :a2\r\n"
    )
    assert len(x.spy.sent) == 1
    net.close()
