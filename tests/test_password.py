"""server_password in the real server, the loop stepped: IRC's PASS before registering,
the line protocol's /pass after the greeting, three tries, and a reload's new password."""

from __future__ import annotations

import dataclasses
import logging

import pytest
from harness import Harness, Peer

from chatd import __version__
from chatd import config as cfg

SECRET = "s3cret-Pw"
GREETING = [
    f"*** Welcome to test (chatd {__version__})",
    "*** Type /help for the commands, /nick NAME to pick a nick.",
]
PROMPT = "*** This server needs a password: send /pass PASSWORD"


def irc_register(h: Harness, peer: Peer, nick: str, password: str | None) -> list[str]:
    words = f"PASS {password}\r\n" if password is not None else ""
    peer.sock.sendall(f"{words}NICK {nick}\r\nUSER {nick} 0 * :Real\r\n".encode())
    h.step(3)
    return peer.lines()


# IRC.


def test_irc_registration_with_the_password_is_welcomed():
    h = Harness(server_password=SECRET)
    irc = h.irc_connect()
    lines = irc_register(h, irc, "alice", SECRET)
    assert lines[0].startswith(":test 001 alice ")
    h.close()


@pytest.mark.parametrize("password", [None, "wrong", SECRET.upper(), SECRET + "x"])
def test_irc_registration_without_the_right_password_gets_464_and_error(password):
    h = Harness(server_password=SECRET)
    line = h.connect()
    irc = h.irc_connect()
    lines = irc_register(h, irc, "alice", password)
    assert lines == [
        ":test 464 * :Password incorrect",
        "ERROR :Closing link: 10.0.0.9 (Bad password)",
    ]
    assert irc.closed()
    assert "alice" not in h.server.chat.nicks
    assert line.lines() == []  # the room never saw it
    h.close()


def test_irc_needs_no_pass_without_a_server_password():
    h = Harness()
    irc = h.irc_connect()
    assert irc_register(h, irc, "alice", None)[0].startswith(":test 001 alice ")
    h.close()


def test_irc_password_after_a_reload_is_the_new_one():
    h = Harness(server_password=SECRET)
    h.server.reconfigure(dataclasses.replace(h.config, server_password="other"))
    old = h.irc_connect()
    assert irc_register(h, old, "alice", SECRET)[0].startswith(":test 464 ")
    new = h.irc_connect("10.0.0.8")
    assert irc_register(h, new, "bob", "other")[0].startswith(":test 001 bob ")
    h.close()


# The line protocol.


def test_line_client_gets_the_greeting_then_the_prompt_and_is_not_in_the_chat():
    h = Harness(server_password=SECRET)
    peer = h.connect(read_greeting=False)
    assert peer.lines() == [*GREETING, PROMPT]
    assert h.server.chat.by_id == {}
    h.close()


def test_line_client_with_the_right_password_gets_the_rest_of_the_greeting():
    h = Harness(server_password=SECRET)
    peer = h.connect(read_greeting=False)
    peer.lines()
    peer.send(f"/pass {SECRET}")
    h.step(3)
    assert peer.lines() == ["*** You are guest1", "*** You joined #lobby (1 user: guest1)"]
    peer.send("hello")
    h.step(3)
    assert len(h.server.chat.by_id) == 1
    h.close()


def test_line_client_can_do_nothing_before_the_password():
    h = Harness(server_password=SECRET)
    bystander = h.connect(read_greeting=False)
    bystander.send(f"/pass {SECRET}")
    h.step(3)
    bystander.lines()
    peer = h.connect()
    for text in ("hello", "/nick bob", "/who", "/join #x", "/msg guest1 hi"):
        peer.send(text)
        h.step(3)
        assert peer.lines() == ["*** error: send the password first: /pass PASSWORD"]
    assert bystander.lines() == []
    assert not peer.closed()
    h.close()


def test_three_wrong_passwords_close_the_connection():
    h = Harness(server_password=SECRET)
    peer = h.connect()
    peer.send("/pass one")
    h.step(3)
    assert peer.lines() == ["*** error: wrong password (2 tries left)"]
    peer.send("/pass two")
    h.step(3)
    assert peer.lines() == ["*** error: wrong password (1 try left)"]
    assert not peer.closed()
    peer.send("/pass three", f"/pass {SECRET}")
    h.step(3)
    assert peer.lines() == ["*** error: wrong password; closing the connection"]
    assert peer.closed()
    assert h.server.chat.by_id == {}
    h.close()


def test_pass_with_nothing_is_a_usage_error_not_a_try():
    h = Harness(server_password=SECRET)
    peer = h.connect()
    for _ in range(4):
        peer.send("/pass")
        h.step(3)
        assert peer.lines() == ["*** error: usage: /pass PASSWORD"]
    peer.send(f"/PASS {SECRET}")
    h.step(3)
    assert peer.lines()[0] == "*** You are guest1"
    h.close()


def test_quit_before_the_password_says_bye_and_closes():
    h = Harness(server_password=SECRET)
    peer = h.connect()
    peer.send("/quit")
    h.step(3)
    assert peer.lines() == ["*** Bye"]
    assert peer.closed()
    h.close()


def test_pass_after_admission_is_an_error_and_never_relayed():
    h = Harness()
    bystander = h.connect()
    peer = h.connect()
    bystander.lines()
    peer.send("/pass whatever")
    h.step(3)
    assert peer.lines() == ["*** error: this server needs no password"]
    assert bystander.lines() == []
    h.close()


def test_line_password_after_a_reload_is_the_new_one():
    h = Harness(server_password=SECRET)
    peer = h.connect()
    h.server.reconfigure(dataclasses.replace(h.config, server_password="other"))
    peer.send(f"/pass {SECRET}")
    h.step(3)
    assert peer.lines() == ["*** error: wrong password (2 tries left)"]
    peer.send("/pass other")
    h.step(3)
    assert peer.lines()[0] == "*** You are guest1"
    h.close()


def test_line_client_waiting_for_the_password_times_out_and_holds_a_slot():
    h = Harness(server_password=SECRET, registration_timeout=10, max_clients=1)
    peer = h.connect()
    other = h.connect(read_greeting=False)
    assert other.lines() == ["*** error: server is full (max 1 clients)"]
    h.tick(11)
    h.step(2)
    assert peer.lines() == ["*** error: registration timeout"]
    assert peer.closed()
    h.close()


def test_the_password_is_never_logged(caplog):
    caplog.set_level(logging.DEBUG)
    h = Harness(server_password=SECRET, log_messages=True)
    peer = h.connect()
    peer.send("/pass wrong-one", f"/pass {SECRET}", "hello")
    irc = h.irc_connect()
    irc_register(h, irc, "alice", SECRET)
    bad = h.irc_connect("10.0.0.3")
    irc_register(h, bad, "bob", "wrong-two")
    h.step(3)
    assert "connected from" in caplog.text
    for secret in (SECRET, "wrong-one", "wrong-two"):
        assert secret not in caplog.text
    assert SECRET not in repr(h.config)
    h.close()


# The key.


@pytest.mark.parametrize(
    "value, words",
    [
        ("", "must not be empty"),
        (5, "must be a string"),
        ("a\nb", "control characters"),
        ("a\0b", "control characters"),
        (" pad", "white space"),
        ("x" * 300, "at most 256 bytes"),
    ],
)
def test_bad_server_password_is_a_config_error(value, words):
    with pytest.raises(cfg.ConfigError) as exc:
        cfg.from_mapping({"server_password": value}, "f.yaml")
    assert str(exc.value).startswith("f.yaml: server_password: ")
    assert words in str(exc.value)
    if isinstance(value, str) and value.strip():
        assert value not in str(exc.value)  # not even a bad password is shown


def test_server_password_key_is_optional_and_off_by_default():
    assert cfg.Config().server_password is None
    assert cfg.from_mapping({"server_password": None}, "f").server_password is None
    assert cfg.from_mapping({"server_password": "a b"}, "f").server_password == "a b"


def test_matches_compares_whole_passwords_of_any_length():
    from chatd.admission import matches

    assert matches(SECRET, SECRET)
    assert matches("pässwörd", "pässwörd")
    for other in ("", SECRET[:-1], SECRET + "x", SECRET.lower(), " " + SECRET):
        assert not matches(other, SECRET)
