"""Nicks, rooms and commands, in memory: the chat, the line front-end and delivery, with
sessions that record their bytes."""

from __future__ import annotations

import pytest
from memory import Client, World, join


@pytest.fixture
def chat() -> World:
    return World(server_name="testhost", motd="line one\n\nline two", version="9")


def test_greeting_names_server_motd_nick_and_room(chat):
    a = Client(chat)
    lines = a.take()
    assert lines[0] == "*** Welcome to testhost (chatd 9)"
    assert "*** line one" in lines and "*** line two" in lines
    assert all(line.startswith("*** ") for line in lines)
    assert [line for line in lines if line.startswith("*** You are")] == ["*** You are guest1"]
    assert lines[-1] == "*** You joined #lobby (1 user: guest1)"


def test_second_client_sees_the_room_and_the_room_sees_it(chat):
    (a,) = join(chat)
    b = Client(chat)
    assert b.take()[-2:] == [
        "*** You are guest2",
        "*** You joined #lobby (2 users: guest1, guest2)",
    ]
    assert a.take() == ["*** guest2 joined #lobby"]


def test_guest_numbers_count_up_and_are_never_reused(chat):
    a, b = join(chat, 2)
    b.disconnect("quit")
    c = Client(chat)
    assert c.nick == "guest3"
    a.say("/nick guest4")
    assert Client(chat).nick == "guest5"


def test_chat_is_relayed_to_the_others_never_echoed(chat):
    a, b, c = join(chat, 3)
    a.say("hello there")
    assert a.take() == []
    assert b.take() == ["<guest1> hello there"]
    assert c.take() == ["<guest1> hello there"]


def test_broadcast_hands_every_recipient_the_same_bytes_object(chat):
    a, b, c = join(chat, 3)
    chat.delivery.take_dirty()
    a.say("one encode")
    assert b.session.out[0] is c.session.out[0]
    assert b.session in chat.delivery.dirty and c.session in chat.delivery.dirty


def test_a_room_is_marked_dirty_once_per_tick_and_newcomers_still_are(chat):
    a, b = join(chat, 2)
    chat.delivery.take_dirty()
    a.say("one")
    chat.delivery.dirty.discard(b.session)  # as if: marked once, not again per line
    a.say("two")
    assert b.session not in chat.delivery.dirty  # the room's sessions are not re-added
    c = Client(chat)  # joins the marked room in the same tick
    c.take()
    a.say("three")
    assert c.take() == ["<guest1> three"] and c.session in chat.delivery.dirty
    chat.delivery.take_dirty()
    a.say("four")  # a new tick marks the room afresh
    assert {b.session, c.session} <= chat.delivery.dirty


def test_double_slash_sends_a_literal_slash(chat):
    a, b = join(chat, 2)
    a.say("//nick is a command")
    assert b.take() == ["<guest1> /nick is a command"]


def test_nick_change_tells_client_and_room(chat):
    a, b = join(chat, 2)
    a.say("/nick alice")
    assert a.take() == ["*** You are now alice"]
    assert b.take() == ["*** guest1 is now known as alice"]
    a.say("hi")
    assert b.take() == ["<alice> hi"]


@pytest.mark.parametrize("bad", ["1abc", "a" * 25, "al.ice", "-x"])
def test_invalid_nick_is_an_error(chat, bad):
    (a,) = join(chat)
    a.say(f"/nick {bad}")
    (line,) = a.take()
    assert line.startswith(f"*** error: invalid nick {bad}")
    assert a.nick == "guest1"


def test_taken_nick_is_refused_regardless_of_case(chat):
    a, b = join(chat, 2)
    a.say("/nick Alice")
    a.take(), b.take()
    b.say("/nick aLiCe")
    assert b.take() == ["*** error: nick aLiCe is taken"]
    assert b.nick == "guest2"


def test_own_nick_in_other_case_is_allowed(chat):
    (a,) = join(chat)
    a.say("/nick alice")
    a.take()
    a.say("/nick Alice")
    assert a.take() == ["*** You are now Alice"]


def test_old_nick_is_free_after_a_rename(chat):
    a, b = join(chat, 2)
    a.say("/nick alice")
    a.say("/nick alicia")
    b.say("/nick alice")
    assert "*** You are now alice" in b.take()


def test_join_moves_between_rooms_with_notices(chat):
    a, b, c = join(chat, 3)
    a.say("/join dev")
    assert a.take() == ["*** You joined #dev (1 user: guest1)"]
    assert b.take() == ["*** guest1 left #lobby (joined #dev)"]
    b.say("/join #dev")
    assert a.take() == ["*** guest2 joined #dev"]
    assert b.take() == ["*** You joined #dev (2 users: guest1, guest2)"]
    a.say("dev talk")
    assert b.take() == ["<guest1> dev talk"]
    assert c.take() == [
        "*** guest1 left #lobby (joined #dev)",
        "*** guest2 left #lobby (joined #dev)",
    ]


def test_join_errors(chat):
    (a,) = join(chat)
    a.say("/join")
    a.say("/join #no way")
    a.say("/join lobby")
    assert a.take() == [
        "*** error: usage: /join ROOM",
        "*** error: invalid room #no way (1-32 letters, digits, _ or -, starting with a "
        "letter, after an optional #)",
        "*** error: you are already in #lobby",
    ]


def test_rooms_exist_while_they_have_members(chat):
    a, b = join(chat, 2)
    a.say("/join dev")
    a.take(), b.take()
    b.say("/rooms")
    assert b.take() == ["*** #dev (1 users)", "*** #lobby (1 users)"]
    a.say("/join lobby")
    b.take()
    b.say("/rooms")
    assert b.take() == ["*** #lobby (2 users)"]


def test_who_lists_the_room_in_join_order(chat):
    a, b = join(chat, 2)
    b.say("/nick bob")
    a.take()
    a.say("/who")
    assert a.take() == ["*** 2 users in #lobby: guest1, bob"]


def test_private_message_and_confirmation(chat):
    a, b, c = join(chat, 3)
    b.say("/nick bob")
    a.take(), b.take(), c.take()
    a.say("/msg BOB psst, secret")
    assert b.take() == ["*guest1* psst, secret"]
    assert a.take() == ["-> *bob* psst, secret"]
    assert c.take() == []


def test_private_message_errors(chat):
    (a,) = join(chat)
    a.say("/msg nobody hi")
    a.say("/msg")
    a.say("/msg guest1")
    assert a.take() == [
        "*** error: no such nick nobody",
        "*** error: usage: /msg NICK TEXT",
        "*** error: usage: /msg NICK TEXT",
    ]


def test_me_is_an_action_to_the_room(chat):
    a, b = join(chat, 2)
    a.say("/me waves")
    assert b.take() == ["* guest1 waves"]
    assert a.take() == []


def test_quit_says_bye_closes_and_the_room_sees_the_reason(chat):
    a, b = join(chat, 2)
    a.say("/quit gotta go")
    assert a.take() == ["*** Bye"]
    assert a.quit_reason == "gotta go"
    assert b.take() == ["*** guest1 left #lobby (gotta go)"]


def test_quit_without_reason(chat):
    (a,) = join(chat)
    a.say("/quit")
    assert a.quit_reason == "quit"


def test_unknown_command(chat):
    (a,) = join(chat)
    a.say("/dance wildly")
    assert a.take() == ["*** error: unknown command /dance (try /help)"]


def test_command_names_are_case_insensitive(chat):
    a, b = join(chat, 2)
    a.say("/NICK alice")
    a.say("/Me shouts")
    assert b.take() == ["*** guest1 is now known as alice", "* alice shouts"]


def test_help_lists_every_command(chat):
    (a,) = join(chat)
    a.say("/help")
    lines = a.take()
    assert all(line.startswith("*** ") for line in lines)
    text = "\n".join(lines)
    for command in ["/nick", "/join", "/rooms", "/who", "/msg", "/me", "/quit", "/help"]:
        assert command in text


def test_disconnect_tells_the_room_and_frees_the_nick(chat):
    a, b = join(chat, 2)
    a.say("/nick alice")
    b.take()
    a.disconnect("connection closed")
    assert b.take() == ["*** alice left #lobby (connection closed)"]
    b.say("/nick alice")
    assert b.take() == ["*** You are now alice"]
    a.disconnect("twice")  # a second disconnect is harmless
    assert b.take() == []


def test_empty_room_disappears_on_disconnect(chat):
    (a,) = join(chat)
    a.disconnect("bye")
    assert chat.chat.rooms == {}


def test_custom_default_room():
    chat = World(default_room="#Main")
    a = Client(chat)
    assert a.take()[-1] == "*** You joined #Main (1 user: guest1)"


def test_shutdown_tells_everyone(chat):
    a, b = join(chat, 2)
    chat.delivery.notify_all("server shutting down")
    assert a.take() == b.take() == ["*** server shutting down"]
