"""IRC connections in the real server, over socketpairs with the loop stepped: the same
chat, flood control and limits as line clients, with the IRC framer and front-end."""

from __future__ import annotations

import socket

from harness import Harness

from chatd.connection import Connection
from chatd.proto.ircwire import IrcFramer
from chatd.protocol import LineParser
from chatd.sockets import protocol_of, tag


def conn_of(h: Harness, nick: str) -> Connection:
    return next(c for c in h.server.clients.values() if c.nick == nick)


def test_irc_client_is_not_greeted_and_gets_the_welcome_burst_on_registering():
    h = Harness()
    peer = h.irc_connect()
    assert peer.lines() == []  # no line greeting, no room
    assert h.server.chat.by_id == {}  # not in the chat until it registers
    conn = next(iter(h.server.clients.values()))
    assert isinstance(conn.parser, IrcFramer)
    lines = h.irc_register(peer, "alice")
    assert lines[0].startswith(":test 001 alice ")
    assert any(" 005 alice " in line for line in lines)
    assert not any("lobby" in line for line in lines)  # in no room until JOIN
    h.close()


def test_line_client_keeps_its_parser_and_greeting():
    h = Harness()
    peer = h.connect(read_greeting=False)
    conn = next(iter(h.server.clients.values()))
    assert isinstance(conn.parser, LineParser)
    assert peer.lines()[0].startswith("*** ")
    h.close()


def test_irc_and_line_users_share_a_room():
    h = Harness()
    line = h.connect()
    irc = h.irc_connect()
    h.irc_register(irc, "alice")
    irc.sock.sendall(b"JOIN #lobby\r\n")
    h.step(3)
    assert any(" 366 alice #lobby " in x for x in irc.lines())
    assert any("alice" in x for x in line.lines())  # the join, in line format
    irc.sock.sendall(b"PRIVMSG #lobby :hello from irc\r\n")
    h.step(3)
    assert line.lines() == ["<alice> hello from irc"]
    line.send("hello from line")
    h.step(3)
    got = irc.lines()
    assert len(got) == 1 and got[0].endswith(" PRIVMSG #lobby :hello from line")
    h.close()


def test_too_long_irc_line_gets_417_and_the_connection_stays():
    h = Harness()
    irc = h.irc_connect()
    h.irc_register(irc, "alice")
    irc.sock.sendall(b"PRIVMSG #lobby :" + b"x" * 600 + b"\r\nPING :still\r\n")
    h.step(3)
    got = irc.lines()
    assert got[0].startswith(":test 417 alice ")
    assert got[1] == ":test PONG test still"
    assert not irc.closed()
    h.close()


def test_quit_before_registering_sends_error_and_closes():
    h = Harness()
    irc = h.irc_connect()
    irc.sock.sendall(b"QUIT :bye\r\n")
    h.step(3)
    assert irc.lines()[0].startswith("ERROR :Closing link")
    assert irc.closed()
    assert h.server.clients == {}
    assert h.server.irc.sessions == {}
    h.close()


def test_irc_session_is_dropped_when_its_connection_goes():
    h = Harness()
    irc = h.irc_connect()
    h.irc_register(irc, "alice")
    assert len(h.server.irc.sessions) == 1
    irc.close()
    h.step(3)
    assert h.server.irc.sessions == {}
    assert h.server.chat.by_id == {}
    h.close()


def test_irc_users_count_towards_max_clients():
    h = Harness(max_clients=1)
    irc = h.irc_connect()
    h.irc_register(irc, "alice")
    line = h.connect(read_greeting=False)
    h.step(2)
    assert "server is full" in line.lines()[0]
    assert line.closed()
    h.close()


def test_irc_flood_is_held_back_a_token_per_item():
    h = Harness(flood_rate=5, flood_burst=3)
    irc = h.irc_connect()
    irc.sock.sendall(b"NICK alice\r\nUSER a 0 * :A\r\n")
    h.step(3)
    irc.lines()
    irc.sock.sendall(b"".join(b"PING :%d\r\n" % n for n in range(6)))
    h.step(3)
    got = [x for x in irc.lines() if " PONG " in x]
    assert len(got) == 1  # two tokens went on NICK and USER
    conn = conn_of(h, "alice")
    assert conn.held_back
    for _ in range(10):
        h.tick(0.2)
    assert [x.split()[-1] for x in irc.lines() if " PONG " in x] == ["1", "2", "3", "4", "5"]
    h.close()


def test_listener_tag_picks_the_protocol_of_accepted_connections():
    h = Harness()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    assert protocol_of(listener) == "line"
    h.server.replace_listeners([tag(listener, "irc")])
    client = socket.create_connection(listener.getsockname())
    h.step()
    conn = next(iter(h.server.clients.values()))
    assert conn.front is h.server.irc
    client.close()
    h.server.replace_listeners([])
    h.close()


def test_an_irc_connection_past_max_clients_gets_error_and_is_closed_at_once():
    h = Harness(max_clients=1)
    line = h.connect()
    irc = h.irc_connect()
    assert irc.lines() == ["ERROR :Closing link: server full"]
    assert irc.closed()
    assert not line.closed()
    h.close()


def test_an_irc_user_the_chat_refuses_on_registering_gets_error_and_is_closed():
    import dataclasses

    h = Harness(max_clients=2)
    line = h.connect()
    irc = h.irc_connect()  # its slot is held locally; the chat decides on registering
    h.server.reconfigure(dataclasses.replace(h.config, max_clients=1))
    lines = h.irc_register(irc, "alice")
    assert lines[-1].startswith("ERROR :Closing link: server full")
    assert irc.closed()
    assert not line.closed()
    h.close()


def test_reconfigure_leaves_irc_lines_at_512_bytes():
    import dataclasses

    h = Harness()
    irc = h.irc_connect()
    h.irc_register(irc, "alice")
    line = h.connect()
    h.server.reconfigure(dataclasses.replace(h.config, max_line_bytes=4096, motd="new"))
    assert isinstance(next(iter(h.server.clients.values())).parser, IrcFramer)
    conn = conn_of(h, "alice")
    irc.sock.sendall(b"PRIVMSG #x :" + b"y" * 600 + b"\r\n")
    h.step(3)
    assert irc.lines()[0].startswith(":test 417 alice ")
    assert conn.reason is None
    line.close()
    h.close()


def test_idle_timeout_ends_a_silent_registered_irc_user():
    h = Harness(idle_timeout=60, irc_ping_interval=0)
    irc = h.irc_connect()
    h.irc_register(irc, "alice")
    h.tick(61)
    h.step(2)
    assert irc.lines() == ["ERROR :Closing link: 10.0.0.9 (idle timeout)"]
    assert irc.closed()
    h.close()
