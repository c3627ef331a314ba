"""The IRC front-end against the real core, in memory: registration, commands, numerics."""

from __future__ import annotations

from ircmem import IrcClient, IrcWorld, codes, irc_users

from chatd.core import intents as i
from chatd.proto.irc import IrcSettings

# Registration -------------------------------------------------------------------------


def test_nick_and_user_register_with_the_welcome_burst():
    w = IrcWorld()
    c = IrcClient(w)
    lines = c.register("alice")
    assert codes(lines) == ["001", "002", "003", "004", "005", "251", "254", "255", "422"]
    assert (
        lines[0] == ":chatd.test 001 alice :Welcome to the chatd.test Network, alice!irc@10.0.0.1"
    )
    isupport = lines[4].split(" ")
    for token in (
        "CASEMAPPING=ascii",
        "CHANTYPES=#",
        "CHANMODES=b,k,l,imnst",
        "PREFIX=(ov)@+",
        "NICKLEN=24",
        "CHANNELLEN=33",
        "TOPICLEN=300",
        "NETWORK=chatd.test",
    ):
        assert token in isupport
    assert "TARGMAX=" in lines[4] and "MODES=16" in lines[4] and "AWAYLEN=" in lines[4]
    user = w.chat.by_id[c.id]
    assert user.nick == "alice" and user.protocol == "irc" and not user.rooms


def test_the_motd_is_sent_when_configured():
    w = IrcWorld(irc=IrcSettings(server_name="s", motd="hello\nworld\n"))
    lines = IrcClient(w).register("alice")
    assert lines[-4:] == [
        ":s 375 alice :- s Message of the day - ",
        ":s 372 alice :- hello",
        ":s 372 alice :- world",
        ":s 376 alice :End of /MOTD command.",
    ]


def test_irssi_registration_waits_for_cap_end():
    w = IrcWorld()
    c = IrcClient(w)
    c.send("CAP LS 302\r\nNICK alice\r\nUSER alice alice 127.0.0.1 :Alice\r\n")
    assert c.take() == [":chatd.test CAP * LS multi-prefix"]
    assert c.id not in w.chat.by_id
    c.line("CAP END")
    assert codes(c.take())[0] == "001"


def test_weechat_registration_with_cap_req():
    w = IrcWorld()
    c = IrcClient(w)
    c.send("CAP LS 302\nNICK bob\nUSER bob 0 * :Bob\n")
    assert codes(c.take()) == ["CAP"]
    c.line("CAP REQ :multi-prefix")
    assert c.take() == [":chatd.test CAP * ACK multi-prefix"]
    c.line("CAP REQ :sasl multi-prefix")
    assert c.take() == [":chatd.test CAP * NAK :sasl multi-prefix"]
    c.line("CAP LIST")
    assert c.take() == [":chatd.test CAP * LIST multi-prefix"]
    c.line("CAP END")
    assert codes(c.take())[0] == "001"


def test_commands_before_registration_get_451():
    w = IrcWorld()
    c = IrcClient(w)
    c.line("JOIN #dev")
    c.line("PRIVMSG bob :hi")
    assert c.take() == [":chatd.test 451 * :You have not registered"] * 2
    assert w.chat.rooms == {}


def test_registration_errors():
    w = IrcWorld()
    irc_users(w, "alice")
    c = IrcClient(w)
    c.line("NICK")
    c.line("NICK 1bad")
    c.line("USER x")
    c.line("PASS")
    assert c.take() == [
        ":chatd.test 431 * :No nickname given",
        ":chatd.test 432 * 1bad :Erroneus nickname",
        ":chatd.test 461 * USER :Not enough parameters",
        ":chatd.test 461 * PASS :Not enough parameters",
    ]
    c.line("NICK ALICE")
    c.line("USER bob 0 * :Bob")
    assert c.take() == [":chatd.test 433 * ALICE :Nickname is already in use"]
    c.line("NICK bob")
    assert codes(c.take())[0] == "001"
    c.line("USER bob 0 * :Bob")
    c.line("PASS secret")
    assert codes(c.take()) == ["462", "462"]


def test_a_nick_taken_by_a_line_user_gives_433():
    w = IrcWorld()
    from memory import Client

    line = Client(w)
    line.say("/nick Carol")
    c = IrcClient(w)
    assert codes(c.register("carol")) == ["433"]


def test_pass_is_kept():
    w = IrcWorld()
    c = IrcClient(w)
    c.line("PASS hunter2")
    assert w.irc.sessions[c.id].password == "hunter2"


def test_connect_is_the_cores_with_no_room():
    w = IrcWorld()
    c = IrcClient(w)
    c.line("NICK a")
    intents, _ = w.irc.feed(c.id, b"USER a 0 * :A")
    assert intents == [i.Connect(c.id, "10.0.0.1", "irc", lobby=False), i.Nick(c.id, "a")]
