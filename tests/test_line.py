"""The line front-end: each line's intent, each outcome's bytes, and the room powers
(/topic, /kick, /invite, /mode, /away) in memory and across workers."""

from __future__ import annotations

import pytest
from memory import Client, World, join
from test_bus import cluster  # noqa: F401  # the fixture

from chatd.core import intents as i
from chatd.core import outcomes as o
from chatd.proto.line import LineFront

ID = "0:1"


@pytest.fixture
def front() -> LineFront:
    return LineFront(clock=lambda: 1234.5)


@pytest.mark.parametrize(
    ("line", "intent"),
    [
        ("hello", i.Say(ID, "", "hello")),
        ("hello  ", i.Say(ID, "", "hello")),
        ("//nick x", i.Say(ID, "", "/nick x")),
        ("/nick bob", i.Nick(ID, "bob")),
        ("/NICK  bob ", i.Nick(ID, "bob")),
        ("/nick", i.Reject(ID, "usage", ("nick",))),
        ("/join dev", i.Join(ID, "#dev", "", move=True)),
        ("/join #Dev", i.Join(ID, "#Dev", "", move=True)),
        ("/join #no way", i.Reject(ID, "invalid_room", ("#no way",))),
        ("/join", i.Reject(ID, "usage", ("join",))),
        ("/rooms", i.Rooms(ID)),
        ("/who", i.Who(ID, "")),
        ("/help", i.Help(ID)),
        ("/msg bob hi there", i.Private(ID, "bob", "hi there")),
        ("/msg bob", i.Reject(ID, "usage", ("msg",))),
        ("/me waves", i.Act(ID, "", "waves")),
        ("/me", i.Reject(ID, "usage", ("me",))),
        ("/quit", i.Quit(ID, "quit")),
        ("/quit  see   you ", i.Quit(ID, "see you")),
        ("/topic", i.Topic(ID, "", None, 1234.5)),
        ("/topic new  topic", i.Topic(ID, "", "new  topic", 1234.5)),
        ("/kick bob", i.Kick(ID, "", "bob", "")),
        ("/kick bob go  away", i.Kick(ID, "", "bob", "go away")),
        ("/kick", i.Reject(ID, "usage", ("kick",))),
        ("/invite bob", i.Invite(ID, "bob", "")),
        ("/invite bob dev", i.Invite(ID, "bob", "#dev")),
        ("/away lunch", i.Away(ID, "lunch")),
        ("/away", i.Away(ID, None)),
        ("/mode", i.Mode(ID, "", ())),
        ("/mode +t", i.Mode(ID, "", (("+t", ""),))),
        (
            "/mode +o-v+k bob carol key",
            i.Mode(ID, "", (("+o", "bob"), ("-v", "carol"), ("+k", "key"))),
        ),
        ("/mode +l-l 5", i.Mode(ID, "", (("+l", "5"), ("-l", "")))),
        ("/mode t", i.Reject(ID, "usage", ("mode",))),
        ("/dance", i.Reject(ID, "unknown_command", ("dance",))),
        ("/", i.Reject(ID, "unknown_command", ("/",))),
        ("   ", None),
        ("", None),
    ],
)
def test_each_line_becomes_one_intent(front, line, intent):
    assert front.parse(ID, line) == intent


@pytest.mark.parametrize(
    ("outcome", "room", "own"),
    [
        (o.Said("#a", "0:2", "bob", "hi"), b"<bob> hi\r\n", []),
        (o.Acted("#a", "0:2", "bob", "waves"), b"* bob waves\r\n", []),
        (o.Joined("#a", "0:2", "bob"), b"*** bob joined #a\r\n", []),
        (o.Parted("#a", "0:2", "bob", "joined #b"), b"*** bob left #a (joined #b)\r\n", []),
        (
            o.NickChanged(ID, "guest1", "bob", ("#a",)),
            b"*** guest1 is now known as bob\r\n",
            [b"*** You are now bob\r\n"],
        ),
        (
            o.TopicSet("#a", "0:2", "bob", "new  one", 1.0),
            b"*** bob set the topic of #a: new one\r\n",
            [],
        ),
        (o.TopicSet("#a", "0:2", "bob", "", 1.0), b"*** bob cleared the topic of #a\r\n", []),
        (
            o.Kicked("#a", "0:2", "alice", ID, "bob", "spam"),
            b"*** bob was kicked from #a by alice (spam)\r\n",
            [],
        ),
        (
            o.Kicked("#a", "0:2", "alice", ID, "bob", ""),
            b"*** bob was kicked from #a by alice\r\n",
            [],
        ),
        (
            o.RoomModeChanged("#a", "0:2", "alice", (("+o", "bob"), ("+t", ""), ("-v", "c"))),
            b"*** alice set mode +ot-v bob c on #a\r\n",
            [],
        ),
        (
            o.Names(ID, "#a", (("@", "alice"), ("", "bob")), joined=True),
            None,
            [b"*** You joined #a (2 users: alice, bob)\r\n"],
        ),
        (o.Names(ID, "#a", (("@", "alice"),)), None, [b"*** 1 users in #a: alice\r\n"]),
        (o.TopicIs(ID, "#a", "", "", 0.0), None, [b"*** #a has no topic\r\n"]),
        (
            o.TopicIs(ID, "#a", "hi", "bob", 0.0),
            None,
            [b"*** Topic of #a: hi (set by bob)\r\n"],
        ),
        (o.Error(ID, "nick_taken", ("Bob",)), None, [b"*** error: nick Bob is taken\r\n"]),
        (o.Error(ID, "not_op", ("#a",)), None, [b"*** error: you are not an operator of #a\r\n"]),
        (o.Error(ID, "some_new_code", ("x",)), None, [b"*** error: some new code x\r\n"]),
        (o.Info(ID, "already_nick", ("bob",)), None, [b"*** You are already bob\r\n"]),
        (o.Bye(ID, "quit"), None, [b"*** Bye\r\n"]),
        (o.AwayChanged(ID, True), None, [b"*** You are marked away\r\n"]),
        (
            o.Invited(ID, "0:2", "alice", "#a"),
            None,
            [b"*** alice invites you to #a (/join #a)\r\n"],
        ),
        (
            o.RoomList(ID, (("#a", 2, "t"), ("#b", 1, ""))),
            None,
            [b"*** #a (2 users)\r\n", b"*** #b (1 users)\r\n"],
        ),
        (o.ModeIs(ID, "#a", "+ntk", ("*",)), None, [b"*** Modes of #a: +ntk *\r\n"]),
        (o.BanList(ID, "#a", ()), None, [b"*** #a bans no one\r\n"]),
    ],
)
def test_each_outcome_in_the_contracts_words(front, outcome, room, own):
    assert front.room(outcome) == room
    assert list(front.own(outcome, ID)) == own


def test_a_private_message_reads_one_way_at_each_end(front):
    out = o.Whispered("0:2", ID, "alice", "bob", "psst")
    assert front.own(out, "0:2") == [b"*alice* psst\r\n"]
    assert front.own(out, ID) == [b"-> *bob* psst\r\n"]


def test_help_lists_the_room_powers(front):
    text = b"".join(front.own(o.Helped(ID), ID)).decode()
    for command in ["/topic", "/kick", "/invite", "/mode", "/away", "/join", "/quit"]:
        assert command in text


# The room powers, in memory.


@pytest.fixture
def world() -> World:
    return World(server_name="testhost", clock=lambda: 99.0)


def test_topic_is_shown_set_and_told_to_the_room_and_to_newcomers(world):
    a, b = join(world, 2)
    a.say("/topic")
    assert a.take() == ["*** #lobby has no topic"]
    b.say("/topic Release  on Friday")
    assert a.take() == b.take() == ["*** guest2 set the topic of #lobby: Release on Friday"]
    a.say("/topic")
    assert a.take() == ["*** Topic of #lobby: Release on Friday (set by guest2)"]
    c = Client(world)
    assert c.take()[-2:] == [
        "*** You joined #lobby (3 users: guest1, guest2, guest3)",
        "*** Topic of #lobby: Release on Friday (set by guest2)",
    ]


def test_only_operators_set_the_topic_of_a_t_room(world):
    a, b = join(world, 2)
    a.say("/mode +t")
    assert a.take() == b.take() == ["*** guest1 set mode +t on #lobby"]
    b.say("/topic mine")
    assert b.take() == ["*** error: you are not an operator of #lobby"]
    b.say("/mode -t")
    assert b.take() == ["*** error: you are not an operator of #lobby"]


def test_kick_puts_a_line_user_back_in_the_default_room(world):
    a, b, c = join(world, 3)
    a.say("/join dev")
    b.say("/join dev")
    a.take(), b.take(), c.take()
    b.say("/kick guest1")
    assert b.take() == ["*** error: you are not an operator of #dev"]
    a.say("/kick GUEST2 flooding  the room")
    assert a.take() == ["*** guest2 was kicked from #dev by guest1 (flooding the room)"]
    assert b.take() == [
        "*** guest2 was kicked from #dev by guest1 (flooding the room)",
        "*** You joined #lobby (2 users: guest3, guest2)",
    ]
    assert c.take() == ["*** guest2 joined #lobby"]
    b.say("back in the lobby")
    assert c.take() == ["<guest2> back in the lobby"]
    a.say("/kick guest2")
    assert a.take() == ["*** error: guest2 is not in #dev"]


def test_kicked_from_the_default_room_a_line_user_is_in_no_room_until_it_joins(world):
    a, b = join(world, 2)
    a.say("/kick guest2")
    assert b.take() == ["*** guest2 was kicked from #lobby by guest1"]
    b.say("anyone?")
    b.say("/who")
    assert b.take() == [
        "*** error: you are in no room (try /join ROOM)",
        "*** error: you are in no room (try /join ROOM)",
    ]
    assert a.take() == ["*** guest2 was kicked from #lobby by guest1"]
    b.say("/join lobby")
    assert b.take() == ["*** You joined #lobby (2 users: guest1, guest2)"]


def test_invite_only_rooms_keep_a_refused_line_user_where_it_was(world):
    a, b = join(world, 2)
    a.say("/join dev")
    a.say("/mode +i")
    a.take(), b.take()
    b.say("/join dev")
    assert b.take() == ["*** error: #dev is invite only (ask an operator for /invite)"]
    b.say("still here")
    assert a.take() == []
    a.say("/invite guest2")
    assert a.take() == ["*** You invited guest2 to #dev"]
    assert b.take() == ["*** guest1 invites you to #dev (/join #dev)"]
    b.say("/join dev")
    assert b.take() == ["*** You joined #dev (2 users: guest1, guest2)"]


def test_ops_bans_and_moderation_from_the_line(world):
    a, b, c = join(world, 3)
    a.say("/mode +m")
    b.say("quiet?")
    assert (
        b.take()[-1] == "*** error: you cannot talk in #lobby (it is moderated, or you are banned)"
    )
    a.say("/mode +v guest2")
    b.say("now?")
    assert c.take()[-1] == "<guest2> now?"
    a.say("/mode +o guest3")
    c.say("/mode +b guest2")
    a.take()
    assert b.take()[-1] == "*** guest3 set mode +b guest2!*@* on #lobby"
    c.say("/mode +b")
    assert c.take()[-1] == "*** #lobby bans guest2!*@*"


def test_away_is_told_to_who_messages_you(world):
    a, b = join(world, 2)
    b.say("/away at lunch")
    assert b.take() == ["*** You are marked away"]
    a.say("/msg guest2 there?")
    assert a.take() == ["-> *guest2* there?", "*** guest2 is away: at lunch"]
    b.say("/away")
    assert b.take() == ["*guest1* there?", "*** You are no longer away"]


# Across workers: what a line means is decided in the bus's order.


def test_a_line_after_a_join_goes_to_the_new_room_across_workers(cluster):  # noqa: F811
    c = cluster()
    a, b = c.connect(0), c.connect(1)
    a.lines()
    b.send("/join dev", "hello dev", "/topic dev things", "/who")
    c.step()
    assert b.lines() == [
        "*** You joined #dev (1 user: guest2)",
        "*** guest2 set the topic of #dev: dev things",
        "*** 1 users in #dev: guest2",
    ]
    assert a.lines() == ["*** guest2 left #lobby (joined #dev)"]


def test_kick_across_workers(cluster):  # noqa: F811
    c = cluster()
    a, b = c.connect(0), c.connect(1)
    a.lines()
    b.send("/nick usage")  # a usage error keeps its place among the answers
    b.send("/nick")
    c.step()
    assert b.lines() == ["*** You are now usage", "*** error: usage: /nick NAME"]
    a.lines()
    a.send("/join dev")
    c.step()
    b.send("/join dev")
    c.step()
    a.lines(), b.lines()
    a.send("/kick usage bye")
    c.step()
    assert a.lines() == ["*** usage was kicked from #dev by guest1 (bye)"]
    assert b.lines() == [
        "*** usage was kicked from #dev by guest1 (bye)",
        "*** You joined #lobby (1 user: usage)",
    ]
