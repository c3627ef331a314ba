"""The IRC front-end against the real core, in memory: registration, commands, numerics."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from ircmem import IrcClient, IrcWorld, codes, irc_users

from chatd.core import intents as i
from chatd.proto.irc import IrcSettings

# Registration -------------------------------------------------------------------------


def test_nick_and_user_register_with_the_welcome_burst():
    w = IrcWorld()
    c = IrcClient(w)
    lines = c.register("alice")
    assert codes(lines) == [
        "001",
        "002",
        "003",
        "004",
        "005",
        "251",
        "254",
        "255",
        "265",
        "266",
        "422",
    ]
    assert (
        lines[0]
        == ":chatd.test 001 alice :Welcome to the chatd.test Network, alice!~alice@10.0.0.1"
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
    connect = i.Connect(c.id, "10.0.0.1", "irc", lobby=False, ident="~a")
    assert intents == [connect, i.Nick(c.id, "a")]


# Talking and rooms ----------------------------------------------------------------------


def joined(world: IrcWorld, room: str, *nicks: str) -> list[IrcClient]:
    clients = irc_users(world, *nicks)
    for c in clients:
        c.line(f"JOIN {room}")
    for c in clients:
        c.take()
    return clients


def test_ping_is_answered_and_ping_renders():
    w = IrcWorld()
    c = IrcClient(w)
    c.line("PING :abc")
    assert c.take() == [":chatd.test PONG chatd.test abc"]
    assert w.irc.ping() == b"PING chatd.test\r\n"
    c.line("PONG chatd.test")
    assert c.take() == []


def test_quit_says_error_then_the_rooms_see_one_quit():
    w = IrcWorld()
    a, b = joined(w, "#one", "alice", "bob")
    for c in (a, b):
        c.line("JOIN #two")
    a.take(), b.take()
    a.line("QUIT :gone fishing")
    assert a.take() == ["ERROR :Closing link: 10.0.0.1 (gone fishing)"]
    assert w.quits[a.id] == "gone fishing"
    assert b.take() == [":alice!~alice@10.0.0.1 QUIT :gone fishing"]
    assert a.id not in w.chat.by_id


def test_quit_before_registration_closes_too():
    w = IrcWorld()
    c = IrcClient(w)
    c.line("QUIT")
    assert c.take() == ["ERROR :Closing link: 10.0.0.1 (Quit)"]


def test_join_lists_keys_and_join_0():
    w = IrcWorld()
    a, b = irc_users(w, "alice", "bob")
    a.line("JOIN #x,#y")
    a.line("MODE #y +k sesame")
    a.take()
    b.line("JOIN #y,#x wrong")
    assert b.take() == [
        ":chatd.test 475 bob #y :Cannot join channel (+k)",
        ":bob!~bob@10.0.0.1 JOIN #x",
        ":chatd.test 353 bob = #x :@alice bob",
        ":chatd.test 366 bob #x :End of /NAMES list",
    ]
    assert a.take() == [":bob!~bob@10.0.0.1 JOIN #x"]
    b.line("JOIN #y sesame")
    assert codes(b.take()) == ["JOIN", "353", "366"]
    a.take()
    b.line("JOIN 0")
    assert b.take() == [
        ":bob!~bob@10.0.0.1 PART #x :Left all channels",
        ":bob!~bob@10.0.0.1 PART #y :Left all channels",
    ]
    assert a.take() == [
        ":bob!~bob@10.0.0.1 PART #x :Left all channels",
        ":bob!~bob@10.0.0.1 PART #y :Left all channels",
    ]
    b.line("JOIN")
    b.line("JOIN bad")
    assert codes(b.take()) == ["461", "403"]


def test_join_shows_the_topic():
    w = IrcWorld()
    a, b = irc_users(w, "alice", "bob")
    a.line("JOIN #x")
    a.line("TOPIC #x :the topic")
    a.take()
    b.line("JOIN #x")
    assert b.take()[-2:] == [
        ":chatd.test 332 bob #x :the topic",
        ":chatd.test 333 bob #x alice 1000",
    ]


def test_part_and_its_errors():
    w = IrcWorld()
    a, b = joined(w, "#x", "alice", "bob")
    b.line("PART #x :bye now")
    assert b.take() == [":bob!~bob@10.0.0.1 PART #x :bye now"]
    assert a.take() == [":bob!~bob@10.0.0.1 PART #x :bye now"]
    b.line("PART #x")
    b.line("PART #nowhere")
    b.line("PART")
    assert codes(b.take()) == ["442", "403", "461"]


def test_privmsg_to_rooms_and_nicks():
    w = IrcWorld()
    a, b, c = joined(w, "#x", "alice", "bob", "carol")
    a.line("PRIVMSG #x,bob :hello there")
    assert a.take() == []
    assert b.take() == [
        ":alice!~alice@10.0.0.1 PRIVMSG #x :hello there",
        ":alice!~alice@10.0.0.1 PRIVMSG bob :hello there",
    ]
    assert c.take() == [":alice!~alice@10.0.0.1 PRIVMSG #x :hello there"]


def test_ctcp_action_is_the_cores_act():
    w = IrcWorld()
    a, b = joined(w, "#x", "alice", "bob")
    a.line("PRIVMSG #x :\x01ACTION waves\x01")
    assert b.take() == [":alice!~alice@10.0.0.1 PRIVMSG #x :\x01ACTION waves\x01"]


def test_privmsg_errors():
    w = IrcWorld()
    a, b = joined(w, "#x", "alice", "bob")
    (c,) = irc_users(w, "carol")
    c.line("PRIVMSG nobody :hi")
    c.line("PRIVMSG #nowhere :hi")
    c.line("PRIVMSG #x :hi")  # +n: not a member
    c.line("PRIVMSG")
    c.line("PRIVMSG bob")
    c.line("FROB")
    assert c.take() == [
        ":chatd.test 401 carol nobody :No such nick/channel",
        ":chatd.test 403 carol #nowhere :No such channel",
        ":chatd.test 404 carol #x :Cannot send to channel",
        ":chatd.test 411 carol :No recipient given (PRIVMSG)",
        ":chatd.test 412 carol :No text to send",
        ":chatd.test 421 carol FROB :Unknown command",
    ]


def test_notice_never_gets_a_reply():
    w = IrcWorld()
    a, b = joined(w, "#x", "alice", "bob")
    (c,) = irc_users(w, "carol")
    for line in ("NOTICE nobody :hi", "NOTICE #nowhere :hi", "NOTICE #x :hi", "NOTICE", "NOTICE b"):
        c.line(line)
    assert c.take() == []
    assert a.take() == [] and b.take() == []
    a.line("NOTICE #x,carol :psst")
    assert b.take() == [":alice!~alice@10.0.0.1 NOTICE #x :psst"]
    assert c.take() == [":alice!~alice@10.0.0.1 NOTICE carol :psst"]
    assert a.take() == []


def test_names_and_topic():
    w = IrcWorld()
    a, b = joined(w, "#x", "alice", "bob")
    b.line("NAMES #x")
    assert b.take() == [
        ":chatd.test 353 bob = #x :@alice bob",
        ":chatd.test 366 bob #x :End of /NAMES list",
    ]
    b.line("TOPIC #x")
    assert b.take() == [":chatd.test 331 bob #x :No topic is set"]
    b.line("TOPIC #x :new topic")
    assert b.take() == [":bob!~bob@10.0.0.1 TOPIC #x :new topic"]
    assert a.take() == [":bob!~bob@10.0.0.1 TOPIC #x :new topic"]
    b.line("TOPIC #x")
    assert b.take() == [
        ":chatd.test 332 bob #x :new topic",
        ":chatd.test 333 bob #x bob 1000",
    ]
    b.line("TOPIC")
    b.line("TOPIC #nowhere")
    assert codes(b.take()) == ["461", "403"]


def test_nick_change_is_seen_by_every_room_once():
    w = IrcWorld()
    a, b = joined(w, "#x", "alice", "bob")
    a.line("JOIN #y")
    b.line("JOIN #y")
    a.take(), b.take()
    a.line("NICK alicia")
    assert a.take() == [":alice!~alice@10.0.0.1 NICK alicia"]
    assert b.take() == [":alice!~alice@10.0.0.1 NICK alicia"]
    b.line("NICK Alicia")
    assert b.take() == [":chatd.test 433 bob Alicia :Nickname is already in use"]
    b.line("NICK 9x")
    assert b.take() == [":chatd.test 432 bob 9x :Erroneus nickname"]


def test_long_text_from_elsewhere_is_split_into_lines():
    w = IrcWorld()
    a, b = joined(w, "#x", "alice", "bob")
    from memory import Client

    line = Client(w)
    line.say("/join x")
    b.take()
    line.say("word " * 200)
    got = b.take()
    assert len(got) > 1
    text = "".join(g.split(" :", 1)[1] for g in got)
    assert text == ("word " * 200).rstrip()


def test_a_line_over_512_bytes_gets_417_and_the_connection_stays():
    w = IrcWorld()
    (a,) = irc_users(w, "alice")
    a.send(b"PRIVMSG alice :" + b"x" * 600 + b"\r\nPING :still\r\n")
    assert a.take() == [
        ":chatd.test 417 alice :Input line was too long",
        ":chatd.test PONG chatd.test still",
    ]


# Modes, kicks, invites, queries ---------------------------------------------------------


def test_room_modes_query_and_change():
    w = IrcWorld()
    a, b = joined(w, "#x", "alice", "bob")
    a.line("MODE #x")
    assert a.take() == [":chatd.test 324 alice #x +n", ":chatd.test 329 alice #x 1000"]
    a.line("MODE #x +tmsi-n+kl sesame 5")
    want = [":alice!~alice@10.0.0.1 MODE #x +tmsi-n+kl sesame 5"]
    assert a.take() == want
    assert b.take() == want
    a.line("MODE #x")
    assert a.take()[0] == ":chatd.test 324 alice #x +imstkl sesame 5"
    a.line("MODE #x +ov bob bob")
    assert b.take() == [":alice!~alice@10.0.0.1 MODE #x +ov bob bob"]
    b.line("NAMES #x")
    assert b.take()[0] == ":chatd.test 353 bob @ #x :@alice @bob"


def test_mode_errors():
    w = IrcWorld()
    a, b = joined(w, "#x", "alice", "bob")
    b.line("MODE #x +t")
    b.line("MODE #nowhere")
    b.line("MODE")
    a.line("MODE #x +z")
    a.line("MODE #x +l many")
    a.line("MODE #x +o")
    a.line("MODE #x +o nobody")
    a.line("MODE #x +o carol")
    assert b.take() == [
        ":chatd.test 482 bob #x :You're not channel operator",
        ":chatd.test 403 bob #nowhere :No such channel",
        ":chatd.test 461 bob MODE :Not enough parameters",
    ]
    (c,) = irc_users(w, "carol")
    assert a.take() == [
        ":chatd.test 472 alice z :is unknown mode char to me",
        ":chatd.test 696 alice #x l many :Invalid mode parameter",
        ":chatd.test 461 alice MODE :Not enough parameters",
        ":chatd.test 401 alice nobody :No such nick/channel",
        ":chatd.test 401 alice carol :No such nick/channel",  # sent before carol came
    ]
    a.line("MODE #x +o carol")
    assert a.take() == [":chatd.test 441 alice carol #x :They aren't on that channel"]


def test_bans_list_and_join_refusals():
    w = IrcWorld()
    a, b = joined(w, "#x", "alice", "bob")
    a.line("MODE #x +b bob!*@*")
    assert a.take() == [":alice!~alice@10.0.0.1 MODE #x +b bob!*@*"]
    a.line("MODE #x +b")
    assert a.take() == [
        ":chatd.test 367 alice #x bob!*@*",
        ":chatd.test 368 alice #x :End of channel ban list",
    ]
    b.take()
    b.line("PRIVMSG #x :hi")
    b.line("PART #x")
    b.take()
    b.line("JOIN #x")
    assert b.take() == [":chatd.test 474 bob #x :Cannot join channel (+b)"]
    a.line("MODE #x -b+il bob!*@* 1")
    a.take()
    b.line("JOIN #x")
    assert b.take() == [":chatd.test 473 bob #x :Cannot join channel (+i)"]
    a.line("MODE #x -i")
    b.line("JOIN #x")
    assert b.take() == [":chatd.test 471 bob #x :Cannot join channel (+l)"]


def test_user_mode_invisible():
    w = IrcWorld()
    a, b = irc_users(w, "alice", "bob")
    a.line("MODE alice")
    assert a.take() == [":chatd.test 221 alice +"]
    a.line("MODE alice +i")
    assert a.take() == [":alice MODE alice +i"]
    a.line("MODE alice")
    assert a.take() == [":chatd.test 221 alice +i"]
    a.line("MODE bob +i")
    a.line("MODE alice +x")
    assert a.take() == [
        ":chatd.test 502 alice :Cant change mode for other users",
        ":chatd.test 501 alice :Unknown MODE flag",
    ]


def test_kick_and_its_errors():
    w = IrcWorld()
    a, b = joined(w, "#x", "alice", "bob")
    (c,) = irc_users(w, "carol")
    b.line("KICK #x alice")
    c.line("KICK #x alice")
    a.line("KICK #x carol")
    a.line("KICK #x")
    assert b.take() == [":chatd.test 482 bob #x :You're not channel operator"]
    assert c.take() == [":chatd.test 442 carol #x :You're not on that channel"]
    assert a.take() == [
        ":chatd.test 441 alice carol #x :They aren't on that channel",
        ":chatd.test 461 alice KICK :Not enough parameters",
    ]
    a.line("KICK #x bob :behave")
    assert a.take() == b.take() == [":alice!~alice@10.0.0.1 KICK #x bob behave"]
    assert w.chat.rooms["#x"].members.keys() == {w.chat.by_id[a.id]}


def test_invite():
    w = IrcWorld()
    a, b = joined(w, "#x", "alice", "bob")
    (c,) = irc_users(w, "carol")
    a.line("MODE #x +i")
    a.take(), b.take()
    a.line("INVITE carol #x")
    assert a.take() == [":chatd.test 341 alice carol #x"]
    assert c.take() == [":alice!~alice@10.0.0.1 INVITE carol #x"]
    a.line("INVITE bob #x")
    a.line("INVITE nobody #x")
    a.line("INVITE carol")
    assert codes(a.take()) == ["443", "401", "461"]
    c.line("JOIN #x")
    assert codes(c.take()) == ["JOIN", "353", "366"]


def test_who_whois_userhost_ison():
    w = IrcWorld()
    a, b = joined(w, "#x", "alice", "bob")
    b.line("AWAY :lunch")
    assert b.take() == [":chatd.test 306 bob :You have been marked as being away"]
    a.line("WHO #x")
    assert a.take() == [
        ":chatd.test 352 alice #x ~alice 10.0.0.1 chatd.test alice H@ :0 alice Real",
        ":chatd.test 352 alice #x ~bob 10.0.0.1 chatd.test bob G :0 bob Real",
        ":chatd.test 315 alice #x :End of WHO list",
    ]
    a.line("WHOIS bob")
    assert a.take() == [
        ":chatd.test 311 alice bob ~bob 10.0.0.1 * :bob Real",
        ":chatd.test 319 alice bob #x",
        ":chatd.test 312 alice bob chatd.test chatd",
        ":chatd.test 301 alice bob lunch",
        ":chatd.test 318 alice bob :End of /WHOIS list",
    ]
    a.line("WHOIS nobody")
    assert codes(a.take()) == ["401", "318"]
    a.line("PRIVMSG bob :there?")
    assert a.take() == [":chatd.test 301 alice bob lunch"]
    b.take()
    a.line("USERHOST alice bob nobody")
    assert a.take() == [":chatd.test 302 alice :alice=+irc@10.0.0.1 bob=-irc@10.0.0.1"]
    a.line("ISON alice nobody BOB")
    assert a.take() == [":chatd.test 303 alice :alice bob"]
    b.line("AWAY")
    assert b.take() == [":chatd.test 305 bob :You are no longer marked as being away"]


def test_list():
    w = IrcWorld()
    a, b = joined(w, "#x", "alice", "bob")
    a.line("TOPIC #x :chat here")
    a.line("JOIN #secret")
    a.line("MODE #secret +s")
    a.take(), b.take()
    b.line("LIST")
    assert b.take() == [
        ":chatd.test 321 bob Channel :Users  Name",
        ":chatd.test 322 bob #x 2 :chat here",
        ":chatd.test 323 bob :End of /LIST",
    ]


def test_the_remembered_hosts_stay_bounded():
    w = IrcWorld()
    (a,) = irc_users(w, "alice")
    from memory import Client

    for _ in range(200):
        line = Client(w)
        line.say("/msg alice hi")
        line.say("/quit")
    assert len(a.take()) == 200
    assert len(w.irc.reply.src.__self__._hosts) < 100  # not one per departed user


def test_whois_shows_the_real_name_given():
    w = IrcWorld()
    (a,) = irc_users(w, "alice")
    a.line("WHOIS alice")
    assert a.take()[0] == ":chatd.test 311 alice alice ~alice 10.0.0.1 * :alice Real"


def test_a_registration_over_the_limit_is_refused():
    w = IrcWorld(max_clients=1)
    irc_users(w, "alice")
    c = IrcClient(w)
    c.register("bob")
    assert w.refused[c.id] == b"ERROR :Closing link: server full\r\n"
    assert c.id not in w.chat.by_id


COMMANDS = [
    "PASS",
    "NICK",
    "USER",
    "CAP",
    "PING",
    "PONG",
    "QUIT",
    "JOIN",
    "PART",
    "PRIVMSG",
    "NOTICE",
    "NAMES",
    "TOPIC",
    "MODE",
    "KICK",
    "INVITE",
    "WHO",
    "WHOIS",
    "LIST",
    "AWAY",
    "USERHOST",
    "ISON",
    "LUSERS",
    "MOTD",
    "FROB",
]
WORDS = st.text(st.sampled_from("#ab1*!@,+-:ovbklimnst \x01é"), max_size=8)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(COMMANDS), st.lists(WORDS, max_size=4)), max_size=12))
def test_any_command_sequence_gives_well_formed_lines(commands):
    w = IrcWorld()
    a, b = joined(w, "#a", "alice", "bob")
    c = IrcClient(w)
    for client in (b, c):
        for command, words in commands:
            line = " ".join([command, *[x for x in words[:-1] if x.strip()]])
            if words:
                line += " :" + words[-1]
            client.send(line.replace("\r", "").replace("\n", "").encode() + b"\r\n")
    for client in (a, b, c):
        for line in client.take():  # each ends in CR LF and fits in 512 bytes
            assert "\x00" not in line


def test_echoed_words_that_cannot_stand_mid_line_are_starred():
    w = IrcWorld()
    (a,) = joined(w, "#a", "alice")
    a.line("WHO :")
    a.line("PART :two words")
    a.line("MODE #a +b :two words")
    assert a.take() == [
        ":chatd.test 315 alice * :End of WHO list",
        ":chatd.test 403 alice * :No such channel",
        ":chatd.test 696 alice #a b * :Invalid mode parameter",
    ]


def test_long_reasons_are_cut_to_one_line():
    w = IrcWorld()
    a, b = joined(w, "#a", "alice", "bob")
    b.line("PART #a :" + "r" * 490)
    (got,) = a.take()
    assert got.startswith(":bob!~bob@10.0.0.1 PART #a rrr") and 500 < len(got) <= 510
    b.line("JOIN #a")
    b.take(), a.take()
    b.line("QUIT :" + "q" * 500)
    (got,) = a.take()
    assert got.startswith(":bob!~bob@10.0.0.1 QUIT qqq") and 500 < len(got) <= 510


def test_outsiders_see_no_invisible_members_and_nothing_of_a_secret_room():
    w = IrcWorld()
    a, b = joined(w, "#a", "alice", "bob")
    (c,) = irc_users(w, "carol")
    b.line("MODE bob +i")
    b.take()
    c.line("NAMES #a")
    c.line("WHO #a")
    assert c.take() == [
        ":chatd.test 353 carol = #a @alice",
        ":chatd.test 366 carol #a :End of /NAMES list",
        ":chatd.test 352 carol #a ~alice 10.0.0.1 chatd.test alice H@ :0 alice Real",
        ":chatd.test 315 carol #a :End of WHO list",
    ]
    a.line("NAMES #a")
    assert a.take()[0] == ":chatd.test 353 alice = #a :@alice bob"
    a.line("MODE #a +s")
    c.line("NAMES #a")
    c.line("WHO #a")
    assert codes(c.take()) == ["366", "315"]


def test_mode_query_gives_the_creation_time():
    w = IrcWorld()
    (a,) = joined(w, "#a", "alice")
    a.line("MODE #a")
    assert a.take() == [":chatd.test 324 alice #a +n", ":chatd.test 329 alice #a 1000"]


def test_targets_beyond_targmax_are_not_served():
    w = IrcWorld()
    (a,) = irc_users(w, "alice")
    a.line("JOIN #a,#b,#c,#d,#e")
    assert sorted(r.name for r in w.chat.by_id[a.id].rooms) == ["#a", "#b", "#c", "#d"]


def test_reconfigure_keeps_the_start_time():
    w = IrcWorld()
    created = w.irc.settings.created
    w.irc.reconfigure(IrcSettings(server_name="new", motd="hi"))
    assert w.irc.settings.server_name == "new" and w.irc.settings.created == created
