"""IRC and line users in one core: each sees the other's doings in its own protocol."""

from __future__ import annotations

from ircmem import IrcClient, IrcWorld, irc_users
from memory import Client


def lobby() -> tuple[IrcWorld, IrcClient, Client]:
    w = IrcWorld()
    line = Client(w)
    line.say("/nick lena")
    (irc,) = irc_users(w, "ivan")
    irc.line("JOIN #lobby")
    line.take(), irc.take()
    return w, irc, line


def test_a_join_is_seen_by_both():
    w = IrcWorld()
    line = Client(w)
    line.say("/nick lena")
    line.take()
    (irc,) = irc_users(w, "ivan")
    assert line.take() == []  # an IRC user is in no room until it joins
    irc.line("JOIN #lobby")
    assert line.take() == ["*** ivan joined #lobby"]
    assert irc.take()[:2] == [
        ":ivan!~ivan@10.0.0.1 JOIN #lobby",
        ":chatd.test 353 ivan = #lobby :@lena ivan",
    ]


def test_messages_and_actions_both_ways():
    w, irc, line = lobby()
    irc.line("PRIVMSG #lobby :hi lena")
    assert line.take() == ["<ivan> hi lena"]
    irc.line("PRIVMSG #lobby :\x01ACTION waves\x01")
    assert line.take() == ["* ivan waves"]
    line.say("hello ivan")
    line.say("/me bows")
    assert irc.take() == [
        ":lena!line@test PRIVMSG #lobby :hello ivan",
        ":lena!line@test PRIVMSG #lobby :\x01ACTION bows\x01",
    ]


def test_private_messages_both_ways():
    w, irc, line = lobby()
    irc.line("PRIVMSG lena :psst")
    assert line.take() == ["*ivan* psst"]
    assert irc.take() == []
    line.say("/msg IVAN back")
    assert irc.take() == [":lena!line@test PRIVMSG ivan :back"]


def test_parts_quits_and_nick_changes():
    w, irc, line = lobby()
    line.say("/nick lenka")
    assert irc.take() == [":lena!line@test NICK lenka"]
    line.take()
    irc.line("NICK ivo")
    assert line.take() == ["*** ivan is now known as ivo"]
    irc.line("PART #lobby :later")
    assert line.take() == ["*** ivo left #lobby (later)"]
    irc.line("JOIN #lobby")
    line.take(), irc.take()
    line.say("/quit see you")
    assert irc.take() == [":lenka!line@test QUIT :see you"]
    line2 = Client(w)
    line2.take(), irc.take()
    irc.line("QUIT :bye")
    assert line2.take() == ["*** ivo left #lobby (bye)"]


def test_topics_and_kicks():
    w, irc, line = lobby()
    irc.line("TOPIC #lobby :irc topic")
    assert line.take() == ["*** ivan set the topic of #lobby: irc topic"]
    line.say("/topic line topic")
    assert irc.take() == [
        ":ivan!~ivan@10.0.0.1 TOPIC #lobby :irc topic",
        ":lena!line@test TOPIC #lobby :line topic",
    ]
    # The line user made #lobby: it is the operator.
    line.say("/kick ivan out")
    assert irc.take() == [":lena!line@test KICK #lobby ivan out"]
    assert "#lobby" not in [r.name for r in w.chat.by_id[irc.id].rooms]
    irc.line("JOIN #side")
    irc.line("INVITE lena #side")
    assert line.take()[-1] == "*** ivan invites you to #side (/join #side)"
    line.say("/join side")
    line.take(), irc.take()
    irc.line("KICK #side lena :bye")
    assert line.take()[0] == "*** lena was kicked from #side by ivan (bye)"


def test_nicks_are_unique_across_protocols():
    w, irc, line = lobby()
    line.say("/nick IVAN")
    assert line.take() == ["*** error: nick IVAN is taken"]
    irc.line("NICK Lena")
    assert irc.take() == [":chatd.test 433 ivan Lena :Nickname is already in use"]
    (other,) = [IrcClient(w)]
    assert other.register("LENA") == [":chatd.test 433 * LENA :Nickname is already in use"]


def test_a_line_users_who_lists_irc_users():
    w, irc, line = lobby()
    line.say("/who")
    assert line.take() == ["*** 2 users in #lobby: lena, ivan"]


def test_ctcp_to_a_line_user_carries_no_control_bytes():
    w, irc, line = lobby()
    irc.line("PRIVMSG lena :\x01ACTION hugs you\x01")
    irc.line("PRIVMSG lena :\x01VERSION\x01")
    irc.line("PRIVMSG #lobby :\x01VERSION\x01")
    assert line.take() == ["*ivan* * hugs you"]
    assert irc.take() == []


def test_ctcp_between_irc_users_passes_as_it_is():
    w, irc, line = lobby()
    (other,) = irc_users(w, "olga")
    irc.line("PRIVMSG olga :\x01VERSION\x01")
    other.line("NOTICE ivan :\x01VERSION irssi 1.4\x01")
    assert other.take() == [":ivan!~ivan@10.0.0.1 PRIVMSG olga :\x01VERSION\x01"]
    assert irc.take() == [":olga!~olga@10.0.0.1 NOTICE ivan :\x01VERSION irssi 1.4\x01"]


def test_a_part_without_a_message_keeps_the_line_format_s_reason():
    w, irc, line = lobby()
    irc.line("PART #lobby")
    assert line.take() == ["*** ivan left #lobby (part)"]
    irc.line("JOIN #lobby")
    line.take()
    irc.line("PART #lobby :off now")
    assert line.take() == ["*** ivan left #lobby (off now)"]
