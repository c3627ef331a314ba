"""A run of chat lines in one read (a line client's plain lines, an IRC client's
PRIVMSGs to one room): one call to the chat, one outcome, one render per protocol, and
every member, the sender included, gets what the lines one by one would give."""

from __future__ import annotations

import pytest
from test_fanout import Net

from chatd.core import intents as i
from chatd.core import outcomes as o
from chatd.proto.ircwire import IrcRunFramer
from chatd.protocol import LineRunParser


def _record_runs(net: Net, runs: list) -> None:
    """Appends to runs the texts of every run the chat is handed from now on."""
    apply_run = net.server.chat.apply_run
    net.server.chat.apply_run = lambda uid, texts, room="": (
        runs.append(texts) or apply_run(uid, texts, room)
    )


def _say(user, lines: list[str], in_one_read: bool) -> None:
    """The lines as one read of user's socket, or as a read each."""
    if in_one_read:
        user.says(*lines)
    else:
        for line in lines:
            user.says(line)


def _plain(lines_in_one_read: bool, said: list[str], fresh: bool = False) -> tuple:
    """What a line member, an IRC member and the sender get of ann's input, and the runs
    the chat was handed; fresh: ann's read is its first (the door still looks at it)."""
    net = Net()
    runs: list = []
    _record_runs(net, runs)
    ann, bob = net.line(), net.line()
    cat = net.irc("cat", "#lobby")
    assert type(ann.conn.parser) is LineRunParser and type(cat.conn.parser) is IrcRunFramer
    if not fresh:
        net.settle(ann, bob, cat)
    _say(ann, said, lines_in_one_read)
    net.tick()
    got = bob.read(), cat.read(), ann.read()
    net.close()
    return got, runs


SAID = ["hi", "  spaced  ", "", "/me waves", "//slash", "more", "last"]


def test_a_run_in_one_read_gives_every_member_what_the_lines_one_by_one_give():
    (together, _), (apart, _) = _plain(True, SAID), _plain(False, SAID)
    assert together == apart
    bob, cat, ann = together
    assert bob == (
        b"<guest1> hi\r\n<guest1>   spaced\r\n* guest1 waves\r\n"
        b"<guest1> /slash\r\n<guest1> more\r\n<guest1> last\r\n"
    )
    assert cat.count(b" PRIVMSG #lobby ") == 6 and b"\x01ACTION waves\x01" in cat
    assert ann == b""  # the sender never gets its own lines


PLAIN = ["hi there", "trailing  ", "see http://x/y", "last"]


def test_a_read_of_plain_lines_is_one_run_and_what_the_lines_one_by_one_give():
    (together, runs), (apart, _) = _plain(True, PLAIN), _plain(False, PLAIN)
    assert together == apart
    assert runs == [("hi there", "trailing", "see http://x/y", "last")]
    assert together[0] == b"".join(b"<guest1> %s\r\n" % t.encode() for t in runs[0])


def test_a_first_read_of_plain_lines_passes_the_door_as_its_lines():
    (together, _), (apart, _) = _plain(True, PLAIN, fresh=True), _plain(False, PLAIN, fresh=True)
    assert together == apart
    assert together[0].endswith(b"<guest1> last\r\n")


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


IRC_READ = [
    "PRIVMSG #lobby :hi",
    "PRIVMSG #lobby :there",
    "PRIVMSG #side :elsewhere",  # another room: a run of its own
    "PRIVMSG #side :and again",
    "NOTICE #lobby :a notice",  # not PRIVMSG: line by line, in its place
    "PRIVMSG #lobby :\x01ACTION waves\x01",  # CTCP: line by line
    "PRIVMSG #LOBBY :same room, other case",
    "PRIVMSG #nowhere :lost",  # an error for the sender, in its place
    "PING :tok",
    "PRIVMSG #lobby :last",
]


def _irc_room(
    lines_in_one_read: bool, mode: str = "", runs: list | None = None, read: list = IRC_READ
) -> tuple:
    """What a line member of #lobby, an IRC member of both rooms and the IRC sender get;
    runs, if given, gets the texts of every run the chat was handed."""
    net = Net()
    if runs is not None:
        _record_runs(net, runs)
    bob = net.line()
    cat = net.irc("cat", "#lobby,#side")
    dan = net.irc("dan", "#lobby,#side")
    net.settle(bob, cat, dan)
    if mode:
        cat.says(f"MODE #side {mode}")  # cat made #side: its operator
        net.settle(bob, cat, dan)
    _say(dan, read, lines_in_one_read)
    net.tick()
    got = bob.read(), cat.read(), dan.read()
    net.close()
    return got


def test_an_irc_run_in_one_read_gives_everyone_what_the_lines_one_by_one_give():
    runs: list = []
    together, apart = _irc_room(True, runs=runs), _irc_room(False)
    assert together == apart
    assert runs == [("hi", "there"), ("elsewhere", "and again")]
    bob, cat, dan = together
    assert bob == (
        b"<dan> hi\r\n<dan> there\r\n<dan> a notice\r\n* dan waves\r\n"
        b"<dan> same room, other case\r\n<dan> last\r\n"
    )
    src = b":dan!~dan@10.0.0.1 "
    assert cat == src + (b"\r\n" + src).join([
        b"PRIVMSG #lobby :hi", b"PRIVMSG #lobby :there",
        b"PRIVMSG #side :elsewhere", b"PRIVMSG #side :and again",
        b"NOTICE #lobby :a notice", b"PRIVMSG #lobby :\x01ACTION waves\x01",
        b"PRIVMSG #lobby :same room, other case", b"PRIVMSG #lobby :last",
    ]) + b"\r\n"  # fmt: skip
    assert dan == b":test 403 dan #nowhere :No such channel\r\n:test PONG test tok\r\n"


@pytest.mark.parametrize(
    "read, texts",
    [
        (["PRIVMSG #lobby :one", "PRIVMSG #lobby :two words", "PRIVMSG #lobby :3"],
         ("one", "two words", "3")),  # printable ASCII after the first: read together
        (["PRIVMSG #lobby :one", "PRIVMSG #lobby :\x02bold\x02", "PRIVMSG #lobby :caf\u00e9"],
         ("one", "bold", "caf\u00e9")),  # a control, a non-ASCII byte: line by line
    ],
)  # fmt: skip
def test_a_read_that_is_all_one_irc_run_gives_what_the_lines_one_by_one_give(read, texts):
    runs: list = []
    together, apart = _irc_room(True, runs=runs, read=read), _irc_room(False, read=read)
    assert together == apart
    assert runs == [texts]
    bob, cat, dan = together
    assert bob == b"".join(b"<dan> %s\r\n" % t.encode() for t in texts)
    assert dan == b""


def test_an_empty_privmsg_in_a_run_gets_its_412_in_its_place():
    read = ["PRIVMSG #lobby :one", "PRIVMSG #lobby :", "PRIVMSG #lobby :two"]
    together, apart = _irc_room(True, read=read), _irc_room(False, read=read)
    assert together == apart
    assert together[2] == b":test 412 dan :No text to send\r\n"


def test_an_irc_run_where_it_cannot_send_gives_each_line_its_error_in_order():
    together, apart = _irc_room(True, "+m"), _irc_room(False, "+m")
    assert together == apart
    bob, cat, dan = together
    assert b"#side" not in cat
    assert dan == (
        b":test 404 dan #side :Cannot send to channel\r\n" * 2
        + b":test 403 dan #nowhere :No such channel\r\n:test PONG test tok\r\n"
    )


def test_the_chat_gives_one_outcome_for_a_run_in_a_named_room():
    net = Net()
    ann = net.line()
    cat = net.irc("cat", "#side")
    net.settle(ann, cat)
    chat = net.server.chat
    (out,) = chat.apply_run(cat.conn.id, ("a", "b"), "#SIDE")
    assert out == o.SaidRun("#side", cat.conn.id, "cat", ("a", "b"))
    assert chat.apply_run(cat.conn.id, ("a",), "#lobby") == chat.apply(
        i.Say(cat.conn.id, "#lobby", "a")
    )  # not a member of #lobby: the same answer as one line
    net.close()


def test_a_run_read_before_registering_is_refused_line_by_line():
    net = Net()
    eve = net._adopt("irc")
    eve.says("PRIVMSG #lobby :a", "PRIVMSG #lobby :b", "PRIVMSG #lobby :c")
    net.tick()
    assert [line.split()[1] for line in eve.read().splitlines()] == [b"451"] * 3
    net.close()


def _register_and_talk(in_one_read: bool) -> tuple:
    net = Net()
    bob = net.line()
    net.settle(bob)
    eve = net._adopt("irc")
    read = ["NICK eve", "USER eve 0 * :eve", "JOIN #lobby"] + [
        f"PRIVMSG #lobby :{t}" for t in "abc"
    ]
    if in_one_read:
        eve.says(*read)
    else:
        for line in read:
            eve.says(line)
            net.tick()
    net.tick()
    got = bob.read(), eve.read()
    net.close()
    return got


def test_a_run_read_with_the_registration_gives_what_the_lines_one_by_one_give():
    together = _register_and_talk(True)
    assert together == _register_and_talk(False)
    assert together[0].endswith(b"<eve> a\r\n<eve> b\r\n<eve> c\r\n")


def test_irc_registration_in_a_first_read_of_plain_lines_is_sent_away_not_relayed():
    # "NICK eve\nUSER …\n" is plain ASCII and would make one run: the door still sees its
    # lines one by one, and the IRC client on the line port is told where to go.
    (bob, cat, ann), runs = _plain(True, ["NICK eve", "USER eve 0 * :eve"], fresh=True)
    assert b"eve" not in bob and b"eve" not in cat and runs == []
    assert ann.count(b"*** error: ") == 1 and b"IRC" in ann
