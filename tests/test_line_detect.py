"""The line port spotting IRC clients and HTTP requests: one line that says where to go,
nothing of what they sent relayed, and a close; people typing words like "nick" are
left alone."""

from __future__ import annotations

import socket

import pytest
from harness import Harness

from chatd.proto.linedetect import CHAT, HTTP, IRC, MORE, look
from chatd.sockets import tag


def listening(h: Harness, protocol: str) -> socket.socket:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    return tag(listener, protocol)


@pytest.mark.parametrize(
    "lines",
    [
        ["CAP LS 302"],
        ["CAP LS"],
        ["CAP REQ :multi-prefix"],
        ["PASS secret"],
        ["PASS :secret"],
        ["NICK alice", "USER alice 0 * :Alice Liddell"],
        ["NICK :alice", "USER alice alice 127.0.0.1 :Alice"],
        ["USER alice 0 * :Alice"],
    ],
)
def test_irc_registration_shapes_are_irc(lines):
    assert look(lines[0], None) == (MORE if len(lines) > 1 else IRC)
    if len(lines) > 1:
        assert look(lines[0], lines[1]) == IRC


@pytest.mark.parametrize(
    "first",
    ["GET / HTTP/1.1", "HEAD /index.html HTTP/1.0", "POST /api HTTP/2", "OPTIONS * HTTP/1.1"],
)
def test_http_request_lines_are_http(first):
    assert look(first, None) == HTTP


@pytest.mark.parametrize(
    "lines",
    [
        ["nick alice"],
        ["Nick is a nice name"],
        ["/nick bob"],
        ["NICK alice", "hello everyone"],
        ["NICK alice", "user alice 0 * :x"],
        ["cap ls"],
        ["CAP lock is on, sorry"],
        ["PASS the salt please"],
        ["get / http/1.1"],
        ["GET me a coffee"],
        ["USER alice"],
        ["hello"],
    ],
)
def test_what_people_type_is_chat(lines):
    verdict = look(lines[0], None)
    if verdict == MORE:
        verdict = look(lines[0], lines[1])
    assert verdict == CHAT


def test_irc_client_on_the_line_port_is_told_the_irc_port_and_closed():
    h = Harness()
    irc_listener = listening(h, "irc")
    h.server.replace_listeners([irc_listener])
    port = irc_listener.getsockname()[1]
    bystander = h.connect()
    peer = h.connect()
    bystander.lines()
    peer.send(b"CAP LS 302\r\nNICK alice\r\nUSER alice 0 * :Alice\r\n")
    h.step(3)
    assert peer.lines() == [
        f"*** error: this is chatd's line-protocol port; IRC clients connect to port {port}"
    ]
    assert peer.closed()
    h.step(2)
    seen = bystander.lines()
    assert seen == ["*** guest2 left #lobby (IRC client on the line port)"]
    assert "alice" not in h.server.chat.nicks
    h.server.replace_listeners([])
    h.close()


def test_nick_and_user_in_two_reads_are_caught_too():
    h = Harness()
    bystander = h.connect()
    peer = h.connect()
    bystander.lines()
    peer.send(b"NICK alice\r\n")
    h.step(3)
    assert peer.lines() == [] and bystander.lines() == []  # held: it may be IRC
    peer.send(b"USER alice 0 * :Alice\r\n")
    h.step(3)
    assert peer.lines() == [
        "*** error: this is chatd's line-protocol port, and this server has no IRC port"
    ]
    assert peer.closed()
    h.step(2)
    assert not any("NICK" in x or "USER" in x for x in bystander.lines())
    h.close()


def test_a_held_nick_line_that_was_chat_after_all_is_relayed_in_order():
    h = Harness()
    bystander = h.connect()
    peer = h.connect()
    bystander.lines()
    peer.send("NICK alice", "hi all", "NICK bob")
    h.step(3)
    assert bystander.lines() == ["<guest2> NICK alice", "<guest2> hi all", "<guest2> NICK bob"]
    assert not peer.closed()
    h.close()


def test_only_the_first_lines_are_looked_at():
    h = Harness()
    bystander = h.connect()
    peer = h.connect()
    bystander.lines()
    peer.send("hello")
    h.step(3)
    peer.send("CAP LS 302", "GET / HTTP/1.1")
    h.step(3)
    assert bystander.lines() == ["<guest2> hello", "<guest2> CAP LS 302", "<guest2> GET / HTTP/1.1"]
    assert not peer.closed()
    h.close()


def test_http_request_gets_one_line_and_a_close_and_nothing_is_relayed():
    h = Harness()
    bystander = h.connect()
    peer = h.connect()
    bystander.lines()
    peer.send(b"GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: curl\r\n\r\n")
    h.step(3)
    assert peer.lines() == [
        "*** error: this is a chat server (chatd line protocol), not a web server"
    ]
    assert peer.closed()
    h.step(2)
    assert bystander.lines() == ["*** guest2 left #lobby (HTTP request on the line port)"]
    h.close()


def test_irc_client_before_the_password_is_told_the_irc_port_too():
    h = Harness(server_password="pw")
    peer = h.connect()
    peer.send(b"PASS pw\r\nNICK alice\r\nUSER alice 0 * :Alice\r\n")
    h.step(3)
    assert peer.lines()[0].startswith("*** error: this is chatd's line-protocol port")
    assert peer.closed()
    h.close()
