"""A run of chat lines in one read of a line client: one call to the chat, one outcome,
one render per protocol, and every member gets what the lines one by one would give."""

from __future__ import annotations

from test_fanout import Net

from chatd.core import intents as i
from chatd.core import outcomes as o


def _room(lines_in_one_read: bool) -> tuple[bytes, bytes, bytes]:
    """What a line member, an IRC member and the sender get of ann's input."""
    net = Net()
    ann, bob = net.line(), net.line()
    cat = net.irc("cat", "#lobby")
    net.settle(ann, bob, cat)
    said = ["hi", "  spaced  ", "", "/me waves", "//slash", "more", "last"]
    if lines_in_one_read:
        ann.says(*said)
    else:
        for line in said:
            ann.says(line)
    net.tick()
    got = bob.read(), cat.read(), ann.read()
    net.close()
    return got


def test_a_run_in_one_read_gives_every_member_what_the_lines_one_by_one_give():
    together, apart = _room(True), _room(False)
    assert together == apart
    bob, cat, ann = together
    assert bob == (
        b"<guest1> hi\r\n<guest1>   spaced\r\n* guest1 waves\r\n"
        b"<guest1> /slash\r\n<guest1> more\r\n<guest1> last\r\n"
    )
    assert cat.count(b" PRIVMSG #lobby ") == 6 and b"\x01ACTION waves\x01" in cat
    assert ann == b""  # the sender never gets its own lines


def test_the_chat_gives_one_outcome_for_a_run_in_the_current_room():
    net = Net()
    ann = net.line()
    net.settle(ann)
    chat = net.server.chat
    (out,) = chat.apply_run(ann.conn.id, ("a", "b"))
    assert out == o.SaidRun("#lobby", ann.conn.id, "guest1", ("a", "b"))
    net.close()


def test_a_run_where_the_room_is_moderated_is_said_line_by_line():
    net = Net()
    ann, bob = net.line(), net.line()
    net.settle(ann, bob)
    chat = net.server.chat
    chat.apply(i.Mode(ann.conn.id, "", (("+m", ""),)))  # ann made #lobby: its operator
    one_by_one = [chat.apply(i.Say(bob.conn.id, "", t)) for t in ("a", "b")]
    run = chat.apply_run(bob.conn.id, ("a", "b"))
    assert run == one_by_one[0] + one_by_one[1]
    assert all(not isinstance(out, o.SaidRun) for out in run)
    net.close()


def test_a_logged_run_logs_each_line(caplog):
    net = Net(log_messages=True)
    ann, bob = net.line(), net.line()
    net.settle(ann, bob)
    with caplog.at_level("INFO", logger="chatd"):
        ann.says("one", "two")
    assert [r.getMessage() for r in caplog.records if "<guest1>" in r.getMessage()] == [
        "#lobby <guest1> one",
        "#lobby <guest1> two",
    ]
    net.close()
