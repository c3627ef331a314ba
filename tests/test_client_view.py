"""chatd-client's drawing of lines, in memory: kinds, colours, highlight, wrapping, echo."""

from __future__ import annotations

import re

import pytest

from chatd import clientview as v

SGR_COLOUR = re.compile(r"\x1b\[(?:[0-9]+;)*(?:3[0-7]|9[0-7])(?:;[0-9]+)*m")


def shown(line: str, width: int = 80, me: str = "me", stamp: str = "") -> list[str]:
    return v.plain_text(v.render(v.classify(line), width, me, stamp)).split("\n")


@pytest.mark.parametrize(
    ("line", "kind", "nick", "text"),
    [
        ("*** bob joined #lobby", v.Kind.NOTICE, "", "bob joined #lobby"),
        ("*** error: nick bob is taken", v.Kind.ERROR, "", "nick bob is taken"),
        ("<alice> hello", v.Kind.CHAT, "alice", "hello"),
        ("* alice waves", v.Kind.ACTION, "alice", "waves"),
        ("*alice* psst", v.Kind.PRIVATE, "alice", "psst"),
        ("-> *bob* psst", v.Kind.SENT_PRIVATE, "bob", "psst"),
        ("<alice> *** fake notice", v.Kind.CHAT, "alice", "*** fake notice"),
        ("something else", v.Kind.OTHER, "", "something else"),
    ],
)
def test_every_line_kind_is_recognised(line, kind, nick, text):
    assert v.classify(line) == v.Line(kind, text, nick)


def test_each_kind_has_its_own_style():
    lines = [
        "*** bob joined #lobby",
        "*** error: nick bob is taken",
        "<alice> hello",
        "* alice waves",
        "*alice* psst",
        "-> *alice* psst",
    ]
    drawn = [v.render(v.classify(line), 80, "me") for line in lines]
    drawn.append(v.render(v.Line(v.Kind.OWN_CHAT, "hello", "me"), 80, "me"))
    drawn.append(v.render(v.Line(v.Kind.OWN_ACTION, "waves", "me"), 80, "me"))
    drawn.append(v.render(v.Line(v.Kind.CLIENT, "reconnecting in 1 s"), 80, "me"))
    assert all("\x1b[" in d for d in drawn)
    assert len(set(drawn)) == len(drawn)
    assert v.plain_text(drawn[6]) == "<me> hello"
    assert v.plain_text(drawn[7]) == "* me waves"
    assert "\x1b[1;31m***" in drawn[1]  # errors in red


def test_a_nick_keeps_its_colour_and_nicks_differ():
    assert v.nick_style("alice") == v.nick_style("alice") == v.nick_style("ALICE")
    # crc32, not hash(): the same in every run (PYTHONHASHSEED would change hash()).
    assert v.nick_style("alice") == ("bright-green",)
    colours = {v.nick_style(f"user{i}") for i in range(40)}
    assert len(colours) >= 6
    assert not any("red" in style for style in colours)  # red means an error
    line = v.render(v.classify("<alice> hi"), 80)
    assert "\x1b[92malice\x1b[0m" in line


def test_a_line_mentioning_my_nick_is_highlighted():
    plain = v.render(v.classify("<alice> hello bob"), 80, me="carol")
    for text in ("<alice> hello Carol!", "* alice pokes carol", "*alice* carol: psst"):
        lit = v.render(v.classify(text), 80, me="carol")
        assert "\x1b[1;33m" in lit  # the text, bold yellow
        assert "\x1b[7;" in lit  # the nick, reversed
    assert "\x1b[1;33m" not in plain
    # Part of a longer word is not a mention.
    assert "\x1b[1;33m" not in v.render(v.classify("<alice> carolina"), 80, me="carol")
    assert "\x1b[1;33m" not in v.render(v.classify("*** carol joined #x"), 80, me="carol")


def test_long_messages_wrap_under_the_text_not_under_the_nick():
    rows = shown("<mallory> " + "word " * 30, width=40, stamp="[12:34]")
    assert rows[0].startswith("[12:34] <mallory> word")
    indent = len("[12:34] <mallory> ")
    assert len(rows) > 3
    for row in rows[1:]:
        assert row[:indent].isspace() and row[indent] != " "
    assert all(len(row) < 40 for row in rows)
    assert " ".join(r.strip() for r in rows).endswith("<mallory> " + ("word " * 30).strip())


def test_a_word_wider_than_the_screen_is_cut_at_the_edge():
    rows = shown("<bob> " + "x" * 100, width=30)
    assert all(len(row) <= 29 for row in rows)
    assert all(row.startswith("      x") for row in rows[1:])
    assert "".join(row.strip() for row in rows) == "<bob> " + "x" * 100


def test_wide_characters_count_double():
    rows = shown("<bob> " + "漢" * 30, width=30)
    assert all(v.width_of(row) <= 29 for row in rows)


@pytest.mark.parametrize("fake", ["<bob> fake", "*** bob left #lobby (quit)", "* bob waves"])
def test_a_padded_line_stays_one_message_of_its_sender(fake):
    rows = shown("<mallory> hi" + " " * 70 + fake, width=80)
    assert rows == [f"<mallory> hi {fake}"]
    # On a narrow screen it wraps, but under mallory's text, never at the left edge.
    rows = shown("<mallory> hi" + " " * 70 + fake, width=22)
    assert rows[0].startswith("<mallory> hi")
    assert len(rows) > 1
    assert all(row.startswith(" " * len("<mallory> ")) for row in rows[1:])
    # Narrower still, the indent shrinks to keep room for text, but never to nothing.
    rows = shown("<mallory> hi" + " " * 70 + fake, width=16)
    assert all(row.startswith("    ") and row[4] != " " for row in rows[1:])


def test_tabs_and_unicode_spaces_collapse_too():
    assert shown("<m> a\t\t\u3000\u2003 b") == ["<m> a b"]


def test_nothing_can_move_the_cursor_or_reorder_text():
    rows = shown("<m> a\x1b[2Jb\u202ec\u2028d\U000e0041e\x9bf")
    assert rows == ["<m> a[2Jbcdef"]  # as chatd does: the printable rest stays


def test_no_color_keeps_the_styles_that_are_not_colours():
    line = v.classify("<alice> hello carol")
    coloured = v.render(line, 80, "carol")
    plain = v.render(line, 80, "carol", colour=False)
    assert SGR_COLOUR.search(coloured)
    assert not SGR_COLOUR.search(plain)
    assert "\x1b[7malice" in plain  # the highlight still shows
    assert v.plain_text(plain) == v.plain_text(coloured) == "<alice> hello carol"
    assert not SGR_COLOUR.search(v.render(v.classify("*** error: x"), 80, colour=False))


def test_timestamp_comes_first():
    assert shown("*** hi", stamp="[09:05]") == ["[09:05] *** hi"]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("hello there", "<me> hello there"),
        ("  spaced   out   ", "<me> spaced out"),  # white space collapses, as for others
        ("//slash", "<me> /slash"),
        ("/me waves", "* me waves"),
        ("/ME  waves  ", "* me waves"),
        ("/me", None),
        ("/nick bob", None),
        ("/msg bob hi", None),  # the server confirms with -> *bob* hi
        ("/quit", None),
        ("   ", None),
        ("", None),
    ],
)
def test_own_lines_are_drawn_as_the_others_see_them(typed, expected):
    line = v.echo(typed, "me")
    if expected is None:
        assert line is None
    else:
        assert line is not None
        assert v.plain_text(v.render(line, 80)) == expected


def test_own_line_matches_the_chat_kinds_render():
    own = v.echo("hello", "me")
    assert own == v.Line(v.Kind.OWN_CHAT, "hello", "me")
    assert v.echo("/me waves", "me") == v.Line(v.Kind.OWN_ACTION, "waves", "me")
    assert v.echo("hello", "") is None  # not greeted yet: no nick to show


@pytest.mark.parametrize(
    ("typed", "quits"),
    [("/quit", True), ("/QUIT bye all", True), ("//quit", False), ("quit", False)],
)
def test_quit_is_recognised_as_the_server_does(typed, quits):
    assert v.is_quit(typed) is quits


def test_a_dumb_terminal_gets_no_codes_at_all():
    drawn = v.render(v.classify("<alice> hi carol"), 80, "carol", "[10:00]", styled=False)
    assert drawn == "[10:00] <alice> hi carol"


@pytest.mark.parametrize(
    ("argv", "env", "colour", "styled"),
    [
        ([], {"TERM": "xterm"}, True, True),
        (["--no-color"], {"TERM": "xterm"}, False, True),
        ([], {"TERM": "xterm", "NO_COLOR": "1"}, False, True),
        ([], {"TERM": "xterm", "NO_COLOR": ""}, True, True),  # set but empty: no effect
        ([], {"TERM": "dumb"}, False, False),
    ],
)
def test_colour_follows_the_flag_no_color_and_term(monkeypatch, argv, env, colour, styled):
    from chatd.client import parse_args, terminal_options

    monkeypatch.delenv("NO_COLOR", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    options = terminal_options(parse_args(argv))
    assert (options.colour, options.styled) == (colour, styled)
    assert options.timestamps and options.reconnect


def test_options_for_timestamps_and_reconnect():
    from chatd.client import parse_args, terminal_options

    options = terminal_options(parse_args(["--no-timestamps", "--no-reconnect", "h", "6000"]))
    assert (options.host, options.port) == ("h", 6000)
    assert not options.timestamps and not options.reconnect
    defaults = parse_args([])
    assert (defaults.host, defaults.port) == ("127.0.0.1", 5000)


def test_help_explains_host_and_port(capsys):
    from chatd.client import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "HOST the server's host name or address (default: 127.0.0.1)" in text
    assert "PORT the server's TCP port (default: 5000" in text
    for flag in ("--no-color", "--timestamps", "--no-timestamps", "--no-reconnect", "NO_COLOR"):
        assert flag in text


def test_reconnect_waits_double_up_to_thirty_seconds():
    from itertools import islice

    from chatd.clientterm import delays

    assert list(islice(delays(), 8)) == [1, 2, 4, 8, 16, 30, 30, 30]


def test_a_failed_reconnect_names_the_reason_plainly():
    import errno

    from chatd.clientterm import why_not_connected

    refused = OSError(errno.ECONNREFUSED, "Connect call failed ('127.0.0.1', 5000)")
    assert why_not_connected(refused) == "Connection refused"
    assert why_not_connected(TimeoutError()) == "timed out"
    assert why_not_connected(OSError("Multiple exceptions: ...")) == "Multiple exceptions: ..."


def test_a_line_of_no_known_kind_still_continues_indented():
    rows = shown("hello " * 6 + "<bob> fake", width=40)
    assert rows == ["hello hello hello hello hello hello", "  <bob> fake"]
    rows = shown("x" * 50, width=40)
    assert rows == ["x" * 39, "  " + "x" * 11]
