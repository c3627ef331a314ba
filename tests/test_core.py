"""The chat core in memory: intents in, outcomes out, no wire text anywhere."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatd.core import intents as i
from chatd.core import masks
from chatd.core import outcomes as o
from chatd.core.chat import Chat, CoreSettings


def connect(chat: Chat, n: int, lobby: bool = False, label: str = "10.0.0.1") -> list[str]:
    ids = []
    for _ in range(n):
        uid = f"0:{chat.guests + 1}"
        chat.apply(i.Connect(uid, label, "line" if lobby else "irc", lobby))
        ids.append(uid)
    return ids


def nicked(chat: Chat, *names: str) -> list[str]:
    """Users with these nicks, in no room."""
    ids = connect(chat, len(names))
    for uid, name in zip(ids, names, strict=True):
        assert chat.apply(i.Nick(uid, name))[0].__class__ is o.NickChanged
    return ids


@pytest.fixture
def chat() -> Chat:
    return Chat()


def test_connect_welcomes_with_a_guest_nick_and_a_line_user_lands_in_the_default_room(chat):
    assert chat.apply(i.Connect("0:1", "::1", "irc")) == [o.Welcomed("0:1", "guest1")]
    assert chat.apply(i.Connect("0:2", "::1", "line", lobby=True)) == [
        o.Welcomed("0:2", "guest2"),
        o.Joined("#lobby", "0:2", "guest2"),
        o.Names("0:2", "#lobby", (("@", "guest2"),), joined=True),
    ]
    assert chat.apply(i.Connect("0:2", "::1", "line")) == []  # the same id twice: nothing


def test_limits_refuse_with_a_code_and_its_arguments():
    chat = Chat(CoreSettings(max_clients=2, max_clients_per_ip=1))
    chat.apply(i.Connect("0:1", "10.0.0.1"))
    assert chat.apply(i.Connect("0:2", "10.0.0.1")) == [o.Refused("0:2", "per_ip")]
    chat.apply(i.Connect("0:3", "10.0.0.2"))
    assert chat.apply(i.Connect("0:4", "10.0.0.3")) == [o.Refused("0:4", "server_full", ("2",))]
    assert chat.per_ip == {"10.0.0.1": 1, "10.0.0.2": 1}


def test_intents_of_unknown_users_do_nothing(chat):
    assert chat.apply(i.Say("9:9", "", "hi")) == []
    assert chat.apply(i.Disconnect("9:9", "bye")) == []


def test_a_user_may_be_in_many_rooms_and_talks_in_each(chat):
    a, b = nicked(chat, "alice", "bob")
    chat.apply(i.Join(a, "#one"))
    chat.apply(i.Join(a, "#two"))
    chat.apply(i.Join(b, "#two"))
    assert [r.name for r in chat.by_id[a].rooms] == ["#one", "#two"]
    assert chat.apply(i.Say(a, "#one", "x")) == [o.Said("#one", a, "alice", "x")]
    assert chat.apply(i.Say(a, "", "y")) == [o.Said("#two", a, "alice", "y")]  # the last joined
    assert chat.apply(i.Part(a, "#two", "later")) == [o.Parted("#two", a, "alice", "later")]
    assert chat.apply(i.Part(a, "#two")) == [o.Error(a, "not_in_room", ("#two",))]
    chat.apply(i.Join(a, "#two"))
    assert chat.apply(i.Nick(a, "al")) == [o.NickChanged(a, "alice", "al", ("#one", "#two"))]
    assert chat.apply(i.Quit(a, "gone")) == [
        o.Bye(a, "gone"),
        o.Left(a, "al", "gone", ("#one", "#two")),
    ]
    assert sorted(chat.rooms) == ["#two"]


def test_join_errors_and_a_move_that_fails_stays(chat):
    (a,) = connect(chat, 1, lobby=True)
    assert chat.apply(i.Join(a, "lobby")) == [o.Error(a, "invalid_room", ("lobby",))]
    assert chat.apply(i.Join(a, "#LOBBY", move=True)) == [o.Error(a, "already_in", ("#lobby",))]
    out = chat.apply(i.Join(a, "#dev", move=True))
    assert out[:2] == [
        o.Parted("#lobby", a, "guest1", "joined #dev"),
        o.Joined("#dev", a, "guest1"),
    ]
    assert "#lobby" not in chat.rooms  # empty rooms go
    assert chat.apply(i.Join(a, "", move=True))[1] == o.Joined("#lobby", a, "guest1")
    (b,) = connect(chat, 1, lobby=True)
    chat.apply(i.Mode(a, "#lobby", (("+i", ""),)))
    chat.apply(i.Join(b, "#dev", move=True))
    assert chat.apply(i.Join(b, "#lobby", move=True)) == [o.Error(b, "invite_only", ("#lobby",))]
    assert [r.name for r in chat.by_id[b].rooms] == ["#dev"]  # refused: still where it was


def test_the_creator_is_the_operator_and_names_show_prefixes(chat):
    a, b, c = nicked(chat, "alice", "bob", "carol")
    for uid in (a, b, c):
        chat.apply(i.Join(uid, "#dev"))
    assert chat.ops("#dev") == ["alice"]
    assert chat.apply(i.Mode(b, "#dev", (("+o", "carol"),))) == [o.Error(b, "not_op", ("#dev",))]
    assert chat.apply(i.Mode(a, "#dev", (("+v", "bob"), ("+o", "carol")))) == [
        o.RoomModeChanged("#dev", a, "alice", (("+v", "bob"), ("+o", "carol")))
    ]
    assert chat.apply(i.Who(b, "#dev")) == [
        o.Names(b, "#dev", (("@", "alice"), ("+", "bob"), ("@", "carol")))
    ]
    assert chat.apply(i.Mode(a, "#dev", (("+v", "bob"),))) == []  # nothing changed


def test_topic_show_set_and_the_t_mode(chat):
    a, b = nicked(chat, "alice", "bob")
    chat.apply(i.Join(a, "#dev"))
    chat.apply(i.Join(b, "#dev"))
    assert chat.apply(i.Topic(b, "#dev")) == [o.TopicIs(b, "#dev", "", "", 0.0)]
    assert chat.apply(i.Topic(b, "#dev", "hello", 5.0)) == [
        o.TopicSet("#dev", b, "bob", "hello", 5.0)
    ]
    assert chat.apply(i.Topic(a, "")) == [o.TopicIs(a, "#dev", "hello", "bob", 5.0)]
    chat.apply(i.Mode(a, "#dev", (("+t", ""),)))
    assert chat.apply(i.Topic(b, "#dev", "mine")) == [o.Error(b, "not_op", ("#dev",))]
    (c,) = nicked(chat, "carol")
    assert chat.apply(i.Topic(c, "#dev", "x")) == [o.Error(c, "not_in_room", ("#dev",))]
    assert chat.apply(i.Topic(c, "#nope")) == [o.Error(c, "no_such_room", ("#nope",))]
    joined = chat.apply(i.Join(c, "#dev"))
    assert joined[-1] == o.TopicIs(c, "#dev", "hello", "bob", 5.0)  # a joiner is told
    (long_topic,) = chat.apply(i.Topic(a, "#dev", "x" * 1000))
    assert long_topic == o.TopicSet("#dev", a, "alice", "x" * 300, 0.0)


def test_kick_by_an_operator_only_and_a_line_user_goes_back_to_the_default_room(chat):
    a, b = connect(chat, 2, lobby=True)
    chat.apply(i.Join(a, "#dev", move=True))
    chat.apply(i.Join(b, "#dev", move=True))
    assert chat.apply(i.Kick(b, "", "guest1")) == [o.Error(b, "not_op", ("#dev",))]
    assert chat.apply(i.Kick(a, "", "nobody")) == [o.Error(a, "no_such_nick", ("nobody",))]
    out = chat.apply(i.Kick(a, "", "GUEST2", "spam"))
    assert out[:2] == [
        o.Kicked("#dev", a, "guest1", b, "guest2", "spam"),
        o.Joined("#lobby", b, "guest2"),
    ]
    assert chat.apply(i.Kick(a, "#dev", "guest2")) == [
        o.Error(a, "they_not_in_room", ("guest2", "#dev"))
    ]


def test_a_line_user_kicked_from_the_default_room_is_in_no_room(chat):
    a, b = connect(chat, 2, lobby=True)
    assert chat.apply(i.Kick(a, "", "guest2")) == [o.Kicked("#lobby", a, "guest1", b, "guest2", "")]
    assert chat.apply(i.Say(b, "", "hello?")) == [o.Error(b, "no_room")]
    assert chat.apply(i.Who(b)) == [o.Error(b, "no_room")]


def test_an_irc_user_kicked_is_in_no_room(chat):
    a, b = nicked(chat, "alice", "bob")
    chat.apply(i.Join(a, "#dev"))
    chat.apply(i.Join(b, "#dev"))
    chat.apply(i.Kick(a, "#dev", "bob", "out"))
    assert chat.by_id[b].rooms == {}


def test_invite_only_key_limit_and_bans(chat):
    a, b, c = nicked(chat, "alice", "bob", "carol")
    chat.apply(i.Join(a, "#dev"))
    chat.apply(i.Mode(a, "#dev", (("+i", ""),)))
    assert chat.apply(i.Join(b, "#dev")) == [o.Error(b, "invite_only", ("#dev",))]
    assert chat.apply(i.Invite(a, "bob", "#dev")) == [
        o.Invited(b, a, "alice", "#dev"),
        o.Info(a, "inviting", ("bob", "#dev")),
    ]
    assert chat.apply(i.Join(b, "#dev"))[0] == o.Joined("#dev", b, "bob")
    assert chat.apply(i.Invite(b, "carol", "#dev")) == [o.Error(b, "not_op", ("#dev",))]
    assert chat.apply(i.Invite(a, "bob", "#dev")) == [o.Error(a, "already_on", ("bob", "#dev"))]
    chat.apply(i.Mode(a, "#dev", (("-i", ""), ("+k", "sesame"), ("+l", "2"))))
    assert chat.apply(i.Join(c, "#dev", "wrong")) == [o.Error(c, "bad_key", ("#dev",))]
    assert chat.apply(i.Join(c, "#dev", "sesame")) == [o.Error(c, "room_full", ("#dev",))]
    chat.apply(i.Mode(a, "#dev", (("-l", ""), ("+b", "carol"))))
    assert chat.apply(i.Join(c, "#dev", "sesame")) == [o.Error(c, "banned", ("#dev",))]
    assert chat.apply(i.Mode(c, "#dev", (("+b", ""),))) == [o.BanList(c, "#dev", ("carol!*@*",))]
    chat.apply(i.Mode(a, "#dev", (("-b", "CAROL!*@*"),)))
    assert chat.apply(i.Join(c, "#dev", "sesame"))[0] == o.Joined("#dev", c, "carol")
    chat.apply(i.Part(c, "#dev"))
    chat.apply(i.Invite(a, "carol", "#dev"))
    assert chat.apply(i.Join(c, "#dev"))[0] == o.Joined("#dev", c, "carol")  # no key needed


def test_modes_query_hides_the_key_from_outsiders(chat):
    a, b = nicked(chat, "alice", "bob")
    chat.apply(i.Join(a, "#dev"))
    chat.apply(i.Mode(a, "#dev", (("+k", "sesame"), ("+l", "5"), ("+t", ""))))
    assert chat.apply(i.Mode(a, "#dev")) == [o.ModeIs(a, "#dev", "+ntkl", ("sesame", "5"))]
    assert chat.apply(i.Mode(b, "#dev")) == [o.ModeIs(b, "#dev", "+ntkl", ("*", "5"))]


def test_mode_errors_are_per_change(chat):
    a, b = nicked(chat, "alice", "bob")
    chat.apply(i.Join(a, "#dev"))
    out = chat.apply(i.Mode(a, "#dev", (("+x", ""), ("+o", "bob"), ("+l", "many"), ("+m", ""))))
    assert out == [
        o.RoomModeChanged("#dev", a, "alice", (("+m", ""),)),
        o.Error(a, "unknown_mode", ("x", "", "#dev")),
        o.Error(a, "they_not_in_room", ("o", "bob", "#dev")),
        o.Error(a, "need_arg", ("l", "many", "#dev")),
    ]


def test_a_ban_matches_by_host_and_keeps_members_from_talking(chat):
    a, b = nicked(chat, "alice", "bob")
    chat.apply(i.Join(a, "#dev"))
    chat.apply(i.Join(b, "#dev"))
    chat.apply(i.Mode(a, "#dev", (("+b", "*!*@10.0.0.*"),)))
    assert chat.apply(i.Say(b, "#dev", "hi")) == [o.Error(b, "cannot_send", ("#dev",))]
    assert chat.apply(i.Say(a, "#dev", "hi"))[0].__class__ is o.Said  # ops still talk


def test_a_ban_mask_built_to_backtrack_is_checked_in_linear_steps(chat):
    # A room's operator picks its masks, and every line a member says is checked against
    # them: a regular expression of ".*"s took 0.3 s for this one (12 pairs, a 24-letter
    # nick), with the whole server waiting, and more with every pair.
    a, b = nicked(chat, "alice", "a" * 24)
    chat.apply(i.Join(a, "#dev"))
    chat.apply(i.Mode(a, "#dev", (("+b", "*a" * 12 + "*b!*@*"),)))
    assert chat.apply(i.Join(b, "#dev"))[0] == o.Joined("#dev", b, "a" * 24)
    assert chat.apply(i.Say(b, "#dev", "hi"))[0].__class__ is o.Said
    chat.apply(i.Mode(a, "#dev", (("+b", "*a" * 12 + "!*@*"),)))
    assert chat.apply(i.Say(b, "#dev", "hi")) == [o.Error(b, "cannot_send", ("#dev",))]


def test_a_members_line_is_checked_against_the_bans_in_bounded_steps(chat, monkeypatch):
    # Whatever matches the bans must be the step-counting matcher, within its bound.
    steps: list[int] = []
    match = masks._match

    def counted(pattern: list[str], text: str) -> tuple[bool, int]:
        matched, n = match(pattern, text)
        steps.append(n)
        assert n <= (len(text) + 1) * (len(pattern) + 1)
        return matched, n

    monkeypatch.setattr(masks, "_match", counted)
    a, b = nicked(chat, "alice", "a" * 24)
    chat.apply(i.Join(a, "#dev"))
    chat.apply(i.Join(b, "#dev"))
    chat.apply(i.Mode(a, "#dev", (("+b", "*a" * 12 + "*b!*@*"),)))
    steps.clear()
    assert chat.apply(i.Say(b, "#dev", "hi"))[0].__class__ is o.Said
    assert len(steps) == 1 and steps[0] < 1000


def test_moderated_and_no_external_messages(chat):
    a, b, c = nicked(chat, "alice", "bob", "carol")
    chat.apply(i.Join(a, "#dev"))
    chat.apply(i.Join(b, "#dev"))
    assert chat.apply(i.Say(c, "#dev", "in?")) == [o.Error(c, "cannot_send", ("#dev",))]
    chat.apply(i.Mode(a, "#dev", (("-n", ""),)))
    assert chat.apply(i.Say(c, "#dev", "in?")) == [o.Said("#dev", c, "carol", "in?")]
    chat.apply(i.Mode(a, "#dev", (("+m", ""),)))
    assert chat.apply(i.Say(b, "#dev", "x")) == [o.Error(b, "cannot_send", ("#dev",))]
    chat.apply(i.Mode(a, "#dev", (("+v", "bob"),)))
    assert chat.apply(i.Act(b, "#dev", "y")) == [o.Acted("#dev", b, "bob", "y")]


def test_private_messages_notices_and_away(chat):
    a, b = nicked(chat, "alice", "bob")
    assert chat.apply(i.Private(a, "BOB", "psst")) == [o.Whispered(b, a, "alice", "bob", "psst")]
    assert chat.apply(i.Private(a, "nobody", "x")) == [o.Error(a, "no_such_nick", ("nobody",))]
    assert chat.apply(i.Away(b, "lunch")) == [o.AwayChanged(b, True)]
    assert chat.apply(i.Private(a, "bob", "back?")) == [
        o.Whispered(b, a, "alice", "bob", "back?"),
        o.Info(a, "away", ("bob", "lunch")),
    ]
    assert chat.apply(i.Away(b)) == [o.AwayChanged(b, False)]
    assert chat.apply(i.Notice(a, "bob", "n")) == [o.Noticed("", b, a, "alice", "n")]
    chat.apply(i.Join(a, "#dev"))
    assert chat.apply(i.Notice(a, "#dev", "n")) == [o.Noticed("#dev", "", a, "alice", "n")]


def test_nick_rules(chat):
    a, b = nicked(chat, "alice", "bob")
    assert chat.apply(i.Nick(a, "1x")) == [o.Error(a, "invalid_nick", ("1x",))]
    assert chat.apply(i.Nick(a, "BOB")) == [o.Error(a, "nick_taken", ("BOB",))]
    assert chat.apply(i.Nick(a, "alice")) == [o.Info(a, "already_nick", ("alice",))]
    assert chat.apply(i.Nick(a, "Alice")) == [o.NickChanged(a, "alice", "Alice", ())]


def test_user_mode_invisible_and_only_ones_own(chat):
    a, b = nicked(chat, "alice", "bob")
    assert chat.apply(i.Mode(a, "alice", (("+i", ""),))) == [
        o.UserModeChanged(a, "alice", (("+i", ""),))
    ]
    assert chat.apply(i.Mode(a, "alice")) == [o.ModeIs(a, "alice", "+i")]
    assert chat.apply(i.Mode(a, "bob", (("+i", ""),))) == [o.Error(a, "users_dont_match", ("bob",))]


def test_rooms_list_hides_secret_rooms_from_outsiders(chat):
    a, b = nicked(chat, "alice", "bob")
    chat.apply(i.Join(a, "#b-secret"))
    chat.apply(i.Join(a, "#a-open"))
    chat.apply(i.Topic(a, "#a-open", "welcome"))
    chat.apply(i.Mode(a, "#b-secret", (("+s", ""),)))
    assert chat.apply(i.Rooms(b)) == [o.RoomList(b, (("#a-open", 1, "welcome"),))]
    (listed,) = chat.apply(i.Rooms(a))
    assert [name for name, _, _ in listed.rooms] == ["#a-open", "#b-secret"]  # type: ignore[union-attr]


def test_help_and_reject_are_answered_in_order(chat):
    (a,) = connect(chat, 1)
    assert chat.apply(i.Help(a)) == [o.Helped(a)]
    assert chat.apply(i.Reject(a, "usage", ("nick",))) == [o.Error(a, "usage", ("nick",))]


def test_a_gone_worker_takes_its_users(chat):
    chat.apply(i.Connect("0:1", "x", "line", True))
    chat.apply(i.Connect("1:1", "x", "line", True))
    assert chat.apply(i.Gone(1, "lost")) == [o.Left("1:1", "guest2", "lost", ("#lobby",))]
    assert list(chat.by_id) == ["0:1"]


def test_settings_change_the_shared_limits(chat):
    chat.apply(i.Settings({"max_clients": 1, "default_room": "main"}))
    chat.apply(i.Connect("0:1", "x", "line", True))
    assert sorted(chat.rooms) == ["#main"]
    assert chat.apply(i.Connect("0:2", "y"))[0].__class__ is o.Refused


def _busy(chat: Chat) -> None:
    a, b, c = nicked(chat, "alice", "bob", "carol")
    chat.apply(i.Connect("0:9", "10.0.0.9", "line", True))
    for uid in (a, b, c):
        chat.apply(i.Join(uid, "#dev"))
    chat.apply(i.Join(b, "#ops"))
    chat.apply(i.Mode(a, "#dev", (("+v", "bob"), ("+k", "k"), ("+l", "9"), ("+b", "x!*@*"))))
    chat.apply(i.Mode(a, "#dev", (("+s", ""),)))
    chat.apply(i.Invite(a, "guest4", "#dev"))
    chat.apply(i.Topic(b, "#dev", "the topic", 12.5))
    chat.apply(i.Away(c, "out"))
    chat.apply(i.Mode(c, "carol", (("+i", ""),)))


def test_snapshot_restores_to_an_equal_chat(chat):
    _busy(chat)
    copy = Chat()
    copy.restore(chat.snapshot())
    assert copy.snapshot() == chat.snapshot()
    # and behaves the same from there on
    for intent in [
        i.Say("0:2", "", "x"),
        i.Join("0:9", "#dev", "k"),
        i.Nick("0:1", "carol"),
        i.Who("0:9"),
    ]:
        assert copy.apply(intent) == chat.apply(intent)
    assert copy.snapshot() == chat.snapshot()


def test_a_snapshot_of_another_version_is_refused(chat):
    state = chat.snapshot()
    state["version"] = 1
    with pytest.raises(ValueError):
        Chat().restore(state)


IDS = st.sampled_from(["0:1", "0:2", "1:1", "1:2"])
NAMES = st.sampled_from(["alice", "Bob", "bob", "x", "1bad", ""])
ROOMS = st.sampled_from(["", "#a", "#B", "#b", "bad"])
CHANGES = st.lists(
    st.tuples(
        st.sampled_from(["+o", "-o", "+v", "+t", "-t", "+i", "+k", "-k", "+l", "+b", "-b", "+z"]),
        st.sampled_from(["", "alice", "bob", "3", "k", "*!*@*"]),
    ),
    max_size=3,
).map(tuple)
TEXT = st.text(max_size=5)
INTENTS = st.one_of(
    st.builds(i.Connect, IDS, st.sampled_from(["a", "b"]), st.just("line"), st.booleans()),
    st.builds(i.Disconnect, IDS, TEXT),
    st.builds(i.Quit, IDS, TEXT),
    st.builds(i.Say, IDS, ROOMS, TEXT),
    st.builds(i.Act, IDS, ROOMS, TEXT),
    st.builds(i.Notice, IDS, st.one_of(ROOMS, NAMES), TEXT),
    st.builds(i.Private, IDS, NAMES, TEXT),
    st.builds(i.Nick, IDS, NAMES),
    st.builds(i.Join, IDS, ROOMS, st.sampled_from(["", "k"]), st.booleans()),
    st.builds(i.Part, IDS, ROOMS, TEXT),
    st.builds(i.Topic, IDS, ROOMS, st.one_of(st.none(), TEXT), st.floats(0, 1e9)),
    st.builds(i.Mode, IDS, st.one_of(ROOMS, NAMES), CHANGES),
    st.builds(i.Kick, IDS, ROOMS, NAMES, TEXT),
    st.builds(i.Invite, IDS, NAMES, ROOMS),
    st.builds(i.Away, IDS, st.one_of(st.none(), TEXT)),
    st.builds(i.Who, IDS, ROOMS),
    st.builds(i.Rooms, IDS),
    st.builds(i.Gone, st.sampled_from([0, 1]), TEXT),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(INTENTS, max_size=40))
def test_replicas_that_apply_the_same_intents_agree(intents):
    one, two = Chat(CoreSettings(max_clients=3)), Chat(CoreSettings(max_clients=3))
    for step, intent in enumerate(intents):
        assert one.apply(intent) == two.apply(intent)
        if step == len(intents) // 2:  # a replica that starts halfway, from a snapshot
            two = Chat()
            two.restore(one.snapshot())
    assert one.snapshot() == two.snapshot()
    # The indexes agree with each other, whatever happened.
    for user in one.by_id.values():
        assert one.nicks[user.nick.lower()] is user
        assert all(user in room.members for room in user.rooms)
    for room in one.rooms.values():
        assert room.members and all(room in u.rooms for u in room.members)
        # The member list kept between joins says what the members say now.
        fresh = tuple(
            ("@" if f & 1 else "+" if f & 2 else "", u.nick) for u, f in room.members.items()
        )
        assert one.names(room) == fresh


def test_a_quiet_notice_gets_no_error(chat):
    (a,) = nicked(chat, "alice")
    assert chat.apply(i.Notice(a, "nobody", "n")) == [o.Error(a, "no_such_nick", ("nobody",))]
    assert chat.apply(i.Notice(a, "nobody", "n", quiet=True)) == []
    assert chat.apply(i.Notice(a, "#nowhere", "n", quiet=True)) == []


def test_a_room_keeps_the_time_its_creator_made_it(chat):
    a, b = nicked(chat, "alice", "bob")
    chat.apply(i.Join(a, "#dev", at=1234.5))
    chat.apply(i.Join(b, "#dev", at=9999.0))  # a later join changes nothing
    assert chat.apply(i.Mode(b, "#dev")) == [o.ModeIs(b, "#dev", "+n", (), 1234.5)]
    copy = Chat()
    copy.restore(chat.snapshot())
    assert copy.rooms["#dev"].created == 1234.5
    state = chat.snapshot()
    state["rooms"][0][1] = state["rooms"][0][1][:3]  # a snapshot from before the field
    Chat().restore(state)


def _joined_names(chat: Chat, uid: str, room: str) -> tuple[tuple[str, str], ...]:
    (names,) = [out for out in chat.apply(i.Join(uid, room)) if out.__class__ is o.Names]
    return names.members  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("change", "wanted"),
    [
        (lambda chat, a, b: chat.apply(i.Nick(b, "robert")), (("@", "alice"), ("", "robert"))),
        (lambda chat, a, b: chat.apply(i.Part(b, "#a", "")), (("@", "alice"),)),
        (
            lambda chat, a, b: chat.apply(i.Mode(a, "#a", (("+v", "bob"),))),
            (("@", "alice"), ("+", "bob")),
        ),
        (lambda chat, a, b: chat.apply(i.Kick(a, "#a", "bob", "")), (("@", "alice"),)),
        (lambda chat, a, b: chat.apply(i.Quit(b, "")), (("@", "alice"),)),
    ],
)
def test_the_member_list_a_joiner_gets_follows_every_change(chat, change, wanted):
    a, b, c = nicked(chat, "alice", "bob", "carol")
    chat.apply(i.Join(a, "#a"))
    assert _joined_names(chat, b, "#a") == (("@", "alice"), ("", "bob"))  # kept from here
    change(chat, a, b)
    assert _joined_names(chat, c, "#a") == (*wanted, ("", "carol"))
