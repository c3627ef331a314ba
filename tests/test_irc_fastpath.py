"""The short way for "PRIVMSG #room :text" gives what the general parser and handler give,
for every line it takes; everything else is left to the general way."""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from ircmem import IrcClient, IrcWorld  # noqa: E402

from chatd.core import outcomes as o  # noqa: E402
from chatd.proto.ircinput import head_of, room_privmsg, run_text  # noqa: E402
from chatd.proto.irctext import RoomText, Sources, quick_render, text_lines  # noqa: E402
from chatd.proto.ircwire import Message, parse, render  # noqa: E402

PIECES = st.sampled_from(
    [b"#r", b"#", b" ", b":", b",", b"\x01", b"\0", b"\x1b[31m", b"\xc3", b"\xa9", b"a", b"#b"]
)


def world() -> tuple[IrcWorld, IrcClient]:
    w = IrcWorld()
    alice = IrcClient(w)
    alice.register("alice")
    alice.line("JOIN #r")
    alice.take()
    return w, alice


W, ALICE = world()


@given(st.lists(st.one_of(PIECES, st.binary(max_size=6)), max_size=12).map(b"".join))
@example(b"#r :hello")
@example(b"#r ::)")
@example(b"#r :a :b")
@example(b"#r x :y")
@example(b"#r,#b :hi")
@example(b"#r :\x01ACTION waves\x01")
@example(b"#r :\x1b[31m")
@example(b"#r :\xc3\0\xa9")
@example(b"#r  :two spaces")
@example(b"# :x")
def test_the_short_way_agrees_with_the_general_way(rest: bytes) -> None:
    line = b"PRIVMSG " + rest
    if b"\r" in line or b"\n" in line:
        return  # the framer never hands such a line over
    session = W.irc.sessions[ALICE.id]
    short = room_privmsg(ALICE.id, line)
    if short is None:
        return
    assert W.irc.general(session, line) == ([short], [])


def test_the_short_way_is_taken_for_a_room_line_and_not_for_others() -> None:
    assert room_privmsg("u", b"PRIVMSG #r :hello") is not None
    for line in (
        b"PRIVMSG #r,#b :hi",  # targets
        b"PRIVMSG #r :\x01ACTION waves\x01",  # CTCP
        b"PRIVMSG #r :\x1b",  # nothing left once sanitised: the general way says 412
        b"PRIVMSG #r hello",  # no colon
        b"PRIVMSG #r :a\0b",  # NUL
    ):
        assert room_privmsg("u", line) is None, line


def test_an_unregistered_client_still_gets_451() -> None:
    w = IrcWorld()
    c = IrcClient(w)
    c.line("PRIVMSG #r :hello")
    assert [line.split()[1] for line in c.take()] == ["451"]


WORD = st.text(
    st.characters(blacklist_characters=" \0\r\n:", blacklist_categories=("Cs",)), min_size=1
)
TEXT = st.text(st.characters(blacklist_characters="\0\r\n", blacklist_categories=("Cs",)))


@given(WORD, st.sampled_from(["PRIVMSG", "NOTICE"]), WORD, TEXT)
@example("a!~a@h", "PRIVMSG", "#r", "")
@example("a!~a@h", "PRIVMSG", "#r", ":)")
@example("a!~a@h", "PRIVMSG", "#r", "one")
@example("a!~a@h", "PRIVMSG", "#r", "two words")
def test_the_quick_renderer_writes_the_text_as_the_trailing_parameter(
    source, command, target, body
):
    # As ngIRCd sends it: the general renderer writes the colon only where it is needed.
    data = quick_render(source, command, target, body)
    assert parse(data[:-2]) == Message(command, (target, body), source)
    tail = b" :" + body.encode() + b"\r\n"
    assert data.endswith(tail)
    general = render(Message(command, (target, body), source))
    assert data == (general if general.endswith(tail) else general[: -len(tail) + 1] + tail)


RESTS = st.lists(st.one_of(PIECES, st.binary(max_size=6)), max_size=12).map(b"".join)
LINES = RESTS.map(lambda rest: b"PRIVMSG " + rest)


@given(LINES, st.one_of(LINES, RESTS.map(lambda rest: b"PRIVMSG #r :" + rest)))
@example(b"PRIVMSG #r :one", b"PRIVMSG #r :two")
@example(b"PRIVMSG #r :one", b"PRIVMSG #r :\x01ACTION x\x01")
@example(b"PRIVMSG #r :one", b"PRIVMSG #r :a\0b")
@example(b"PRIVMSG #r :one", b"PRIVMSG #r :")
@example(b"PRIVMSG #r :one", b"PRIVMSG #rr :two")
@example(b"PRIVMSG #r :one", b"PRIVMSG #R :two")
@example(b"PRIVMSG #r :one", b"PRIVMSG #r :\x1b")
def test_a_runs_next_line_read_without_its_target_is_what_the_short_way_gives(first, line):
    # The run's later lines skip the target: that must give the text room_privmsg gives
    # a line to the run's room, and None whenever it gives anything else.
    said = room_privmsg("u", first)
    if said is None:
        return
    text = run_text(line, head_of(first))
    again = room_privmsg("u", line)
    if text is None:
        assert again is None or again.room != said.room or not line.startswith(head_of(first))
    else:
        assert again is not None and (again.room, again.text) == (said.room, text)


RUN_TEXT = st.one_of(
    TEXT,
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=600),
    st.sampled_from(["", ":)", "word", "two words", "\u00e9" * 200, "x" * 480]),
)


@given(st.lists(RUN_TEXT, min_size=1, max_size=5))
@example(["one", "two words", ":)"])
@example(["x" * 482, "y"])  # ":a!unknown@chatd PRIVMSG #r " and CR LF: 512 bytes in all
@example(["x" * 483, "y"])  # one more: cut in two lines
@example(["caf\u00e9", "plain"])
@example(["\u00e9" * 300])  # fits in characters, not in bytes
def test_a_runs_privmsgs_rendered_together_are_what_each_renders_alone(texts):
    out = o.SaidRun("#r", "u", "a", tuple(texts))  # "u" is no user: a!unknown@chatd
    together = RoomText(Sources({})).render[o.SaidRun](out)
    alone = [text_lines("a!unknown@chatd", "PRIVMSG", "#r", text) for text in texts]
    assert together == b"".join(alone)
