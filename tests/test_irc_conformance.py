"""IRC behaviour that clients and conformance checkers rely on, in memory against the core:
the corner cases of PING, USER, NAMES, LUSERS, MODE +k, KICK and INVITE past +l."""

from __future__ import annotations

from ircmem import IrcClient, IrcWorld, codes, irc_users


def joined(w: IrcWorld, room: str, *nicks: str) -> list[IrcClient]:
    clients = irc_users(w, *nicks)
    for c in clients:
        c.line(f"JOIN {room}")
    for c in clients:
        c.take()
    return clients


def test_ping_without_a_token_is_an_error_and_an_empty_token_is_echoed():
    w = IrcWorld()
    (a,) = irc_users(w, "alice")
    a.line("PING")
    assert a.take() == [":chatd.test 461 alice PING :Not enough parameters"]
    a.line("PING :")
    assert a.take() == [":chatd.test PONG chatd.test :"]


def test_user_with_an_empty_real_name_is_refused():
    w = IrcWorld()
    c = IrcClient(w)
    c.line("NICK alice")
    c.line("USER alice * * :")
    assert c.take() == [":chatd.test 461 * USER :Not enough parameters"]
    c.line("USER alice * * :Alice")
    assert codes(c.take())[0] == "001"


def test_names_of_a_room_that_does_not_exist_ends_the_list_without_an_error():
    w = IrcWorld()
    (a,) = irc_users(w, "alice")
    a.line("NAMES #nowhere")
    a.line("NAMES nochannel")
    assert a.take() == [
        ":chatd.test 366 alice #nowhere :End of /NAMES list",
        ":chatd.test 366 alice nochannel :End of /NAMES list",
    ]


def test_names_of_several_rooms_ends_once_with_the_targets_given():
    w = IrcWorld()
    (a,) = joined(w, "#a", "alice")
    a.line("JOIN #b")
    a.take()
    a.line("NAMES #a,#nowhere,#b")
    assert a.take() == [
        ":chatd.test 353 alice = #a @alice",
        ":chatd.test 353 alice = #b @alice",
        ":chatd.test 366 alice #a,#nowhere,#b :End of /NAMES list",
    ]
    a.line("NAMES #a")
    assert codes(a.take()) == ["353", "366"]


def test_lusers_gives_the_local_and_global_user_counts():
    w = IrcWorld()
    a, _ = irc_users(w, "alice", "bob")
    a.line("LUSERS")
    lines = a.take()
    assert codes(lines) == ["251", "254", "255", "265", "266"]
    assert lines[3] == ":chatd.test 265 alice :Current local users: 2"
    assert lines[4] == ":chatd.test 266 alice :Current global users: 2"


def test_an_empty_room_key_is_an_invalid_mode_parameter():
    w = IrcWorld()
    (a,) = joined(w, "#x", "alice")
    a.line("MODE #x +k :")
    assert a.take() == [":chatd.test 696 alice #x k * :Invalid mode parameter"]
    a.line("MODE #x +k")
    assert codes(a.take()) == ["461"]


def test_kick_with_as_many_rooms_as_nicks_pairs_them():
    w = IrcWorld()
    a, b, c = joined(w, "#x", "alice", "bob", "carol")
    a.line("JOIN #y")
    c.line("JOIN #y")
    a.take(), b.take(), c.take()
    a.line("KICK #x,#y bob,carol :bye")
    assert a.take() == [
        ":alice!~alice@10.0.0.1 KICK #x bob bye",
        ":alice!~alice@10.0.0.1 KICK #y carol bye",
    ]
    assert w.chat.rooms["#x"].members.keys() == {w.chat.by_id[a.id], w.chat.by_id[c.id]}
    assert w.chat.rooms["#y"].members.keys() == {w.chat.by_id[a.id]}
    a.line("KICK #x,#y carol")
    assert codes(a.take()) == ["461"]


def test_an_invited_user_may_join_a_full_room():
    w = IrcWorld()
    (a,) = joined(w, "#x", "alice")
    (b,) = irc_users(w, "bob")
    a.line("MODE #x +l 1")
    a.take()
    b.line("JOIN #x")
    assert codes(b.take()) == ["471"]
    a.line("INVITE bob #x")
    a.take(), b.take()
    b.line("JOIN #x")
    assert codes(b.take()) == ["JOIN", "353", "366"]


def test_who_shows_every_prefix_with_multi_prefix_and_the_highest_without():
    w = IrcWorld()
    a, b = irc_users(w, "alice", "bob")
    b.line("CAP REQ :multi-prefix")
    b.take()
    for c in (a, b):
        c.line("JOIN #x")
    a.line("MODE #x +v alice")
    a.take(), b.take()
    a.line("WHO #x")
    b.line("WHO #x")
    assert (
        a.take()[0] == ":chatd.test 352 alice #x ~alice 10.0.0.1 chatd.test alice H@ :0 alice Real"
    )
    assert (
        b.take()[0] == ":chatd.test 352 bob #x ~alice 10.0.0.1 chatd.test alice H@+ :0 alice Real"
    )


def test_the_user_name_given_is_the_user_part_of_the_mask_and_of_whois():
    w = IrcWorld()
    c = IrcClient(w)
    c.line("NICK carol")
    c.line("USER caro/lyn-the_1st.x 0 * :Carol C")
    c.take()
    (a,) = irc_users(w, "alice")
    a.line("WHOIS carol")
    assert a.take()[0] == ":chatd.test 311 alice carol ~carolyn-th 10.0.0.1 * :Carol C"
    c.line("JOIN #x")
    a.line("JOIN #x")
    c.take()
    c.line("PRIVMSG #x :hi")
    assert a.take()[-1] == ":carol!~carolyn-th@10.0.0.1 PRIVMSG #x :hi"


def test_a_replica_restored_from_a_snapshot_keeps_the_user_names():
    from chatd.core.chat import Chat
    from chatd.core.snapshot import restore, snapshot

    w = IrcWorld()
    irc_users(w, "alice")
    copy = Chat()
    restore(copy, snapshot(w.chat))
    assert [u.ident for u in copy.by_id.values()] == ["~alice"]
