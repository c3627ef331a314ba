"""The IRC wire layer in memory: parsing, rendering, framing, replies and ban masks (core.masks)."""

from __future__ import annotations

import fnmatch

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from chatd.core import masks as m
from chatd.core.masks import mask_matches, normalise_mask
from chatd.proto import ircnumerics as n
from chatd.proto import ircwire as w
from chatd.proto.ircnumerics import isupport, numeric, pack_words, split_text
from chatd.proto.ircrun import Run
from chatd.proto.ircwire import (
    TOO_LONG,
    IrcFramer,
    IrcRunFramer,
    Message,
    ParseError,
    parse,
    render,
)


def items(framer: IrcFramer, *chunks: bytes) -> list:
    """Everything the framer hands out, in order, checking has_item() before each pull."""
    out: list = []
    for chunk in chunks:
        framer.feed(chunk)
        while True:
            ready = framer.has_item()
            item = framer.next()
            assert ready == (item is not None)
            if item is None:
                break
            out.append(item)
    return out


def lines(data: bytes, **limits: int) -> list:
    """The lines and TOO_LONG reports of a stream, without the input that made no line."""
    return [item for item in items(IrcFramer(**limits), data) if item != b""]


# Parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"CAP LS 302", Message("CAP", ("LS", "302"))),
        (b"NICK x", Message("NICK", ("x",))),
        (b"USER x 0 * :Real Name", Message("USER", ("x", "0", "*", "Real Name"))),
        (b"PRIVMSG #c :\x01ACTION waves\x01", Message("PRIVMSG", ("#c", "\x01ACTION waves\x01"))),
        (b"CAP REQ :multi-prefix", Message("CAP", ("REQ", "multi-prefix"))),
        (b"CAP END", Message("CAP", ("END",))),
        (b"JOIN #a,#b key", Message("JOIN", ("#a,#b", "key"))),
        (b"PING :irc.example.com", Message("PING", ("irc.example.com",))),
        (b"privmsg bob hi", Message("PRIVMSG", ("bob", "hi"))),
        (b"QUIT", Message("QUIT")),
        (b":irc.example.com CAP * LIST :", Message("CAP", ("*", "LIST", ""), "irc.example.com")),
        (
            b":dan!d@localhost PRIVMSG #chan ::-)",
            Message("PRIVMSG", ("#chan", ":-)"), "dan!d@localhost"),
        ),
        (b":srv 001 me :Welcome", Message("001", ("me", "Welcome"), "srv")),
        (b"  PRIVMSG   #c    hi   ", Message("PRIVMSG", ("#c", "hi"))),
        (b"PRIVMSG #c :  two  spaces ", Message("PRIVMSG", ("#c", "  two  spaces "))),
        (b"PRIVMSG #c a:b", Message("PRIVMSG", ("#c", "a:b"))),
        (b"PRIVMSG #c    :hi", Message("PRIVMSG", ("#c", "hi"))),
        (b"USER a b c :d :e", Message("USER", ("a", "b", "c", "d :e"))),
        (b"MODE #c +ooo a b c", Message("MODE", ("#c", "+ooo", "a", "b", "c"))),
    ],
)
def test_parse_real_lines(line: bytes, expected: Message) -> None:
    assert parse(line) == expected


def test_tags_are_parsed_and_unescaped() -> None:
    assert parse(b"@id=123AB;rose PING x").tags == (("id", "123AB"), ("rose", ""))
    assert parse(b"@url=;netsplit=tur,ty PING x").tags == (("url", ""), ("netsplit", "tur,ty"))
    assert parse(rb"@a=\:\s\\\r\n\x;b=end\ PING x").tags == (("a", "; \\\r\nx"), ("b", "end"))
    msg = parse(b"@+draft/reply=1;; :n!u@h PRIVMSG #c :hi")
    assert msg == Message("PRIVMSG", ("#c", "hi"), "n!u@h", (("+draft/reply", "1"),))


def test_invalid_utf8_becomes_replacement_character() -> None:
    assert parse(b"PRIVMSG #c :caf\xe9 \xc3\xa9").params[1] == "caf\ufffd \u00e9"


def test_nul_is_dropped_and_other_controls_are_kept() -> None:
    assert parse(b"PRIV\0MSG #c :a\0b\x1b[31m\x02").params == ("#c", "ab\x1b[31m\x02")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"", "no command"),
        (b"   ", "no command"),
        (b":src", "no command"),
        (b":src   ", "no command"),
        (b"@a=b", "no command"),
        (b"@a=b :src", "no command"),
        (b": NICK x", "empty source"),
        (b"PRIV-MSG x", "malformed command"),
        (b"12 x", "malformed command"),
        (b"1234", "malformed command"),
        (b"N\xc3\x89CK x", "malformed command"),
        (b"NICK a\rb", "line end inside a line"),
        (b"NICK a\nb", "line end inside a line"),
    ],
)
def test_malformed_lines_raise_parse_error(line: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse(line)


# Rendering ----------------------------------------------------------------------------


def test_render_puts_a_colon_before_a_last_param_only_when_needed() -> None:
    assert render(Message("NICK", ("x",))) == b"NICK x\r\n"
    assert (
        render(Message("PRIVMSG", ("#c", "hi there"), "n!u@h"))
        == b":n!u@h PRIVMSG #c :hi there\r\n"
    )
    assert render(Message("CAP", ("*", "LIST", ""))) == b"CAP * LIST :\r\n"
    assert render(Message("PRIVMSG", ("#c", ":-)"))) == b"PRIVMSG #c ::-)\r\n"
    assert render(Message("QUIT")) == b"QUIT\r\n"


def test_render_escapes_tag_values() -> None:
    msg = Message("TAGMSG", ("#c",), tags=(("a", "; \\\r\n"), ("b", "")))
    assert render(msg) == b"@a=\\:\\s\\\\\\r\\n;b TAGMSG #c\r\n"


@pytest.mark.parametrize("bad", ["\r", "\n", "\0"])
def test_render_refuses_cr_lf_and_nul(bad: str) -> None:
    for msg in (
        Message("PRIVMSG", ("#c", f"a{bad}b")),
        Message("PRIVMSG", (f"#c{bad}", "x")),
        Message("PRIVMSG", ("#c", "x"), f"n{bad}!u@h"),
        Message("PRIVMSG", ("#c", "x"), tags=((f"k{bad}", "v"),)),
        Message(f"PRIV{bad}MSG", ("#c", "x")),
    ):
        with pytest.raises(ValueError):
            render(msg)
    if bad == "\0":
        with pytest.raises(ValueError):
            render(Message("TAGMSG", ("#c",), tags=(("k", "a\0"),)))


@pytest.mark.parametrize(
    "msg",
    [
        Message("MODE", ("#c", "+b x", "y")),
        Message("MODE", ("#c", ":x", "y")),
        Message("MODE", ("#c", "", "y")),
        Message("PRIVMSG", ("#c", "x"), ""),
        Message("PRIVMSG", ("#c", "x"), "n u"),
        Message("PRIV MSG", ("#c", "x")),
        Message("12", ("x",)),
        Message("TAGMSG", ("#c",), tags=(("a=b", "v"),)),
        Message("TAGMSG", ("#c",), tags=(("", "v"),)),
    ],
)
def test_render_refuses_what_no_line_can_carry(msg: Message) -> None:
    with pytest.raises(ValueError):
        render(msg)


_TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\0\r\n"))
_MIDDLE = _TEXT.filter(lambda s: s and " " not in s and not s.startswith(":"))
_TAG_VALUE = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\0"))
_KEY = st.from_regex(r"\+?([a-z0-9.]+/)?[A-Za-z0-9-]+", fullmatch=True)
_MESSAGES = st.builds(
    Message,
    command=st.from_regex(r"[A-Z]+|[0-9]{3}", fullmatch=True),
    params=st.builds(
        lambda mid, last: (*mid, *last), st.lists(_MIDDLE, max_size=5), st.lists(_TEXT, max_size=1)
    ),
    source=st.none() | _MIDDLE,
    tags=st.lists(st.tuples(_KEY, _TAG_VALUE), max_size=3).map(tuple),
)


@given(_MESSAGES)
def test_a_rendered_message_parses_back_to_itself(msg: Message) -> None:
    line = render(msg)
    assert line.endswith(b"\r\n")
    assert parse(line[:-2]) == msg


def test_numeric_appends_the_standard_text() -> None:
    assert (
        render(numeric("srv", n.ERR_NOSUCHNICK, "me", "bob"))
        == b":srv 401 me bob :No such nick/channel\r\n"
    )
    assert (
        render(numeric("srv", n.ERR_NOTREGISTERED, "*"))
        == b":srv 451 * :You have not registered\r\n"
    )
    assert (
        render(numeric("srv", n.RPL_TOPIC, "me", "#c", "the topic"))
        == b":srv 332 me #c :the topic\r\n"
    )
    assert render(numeric("srv", n.ERR_NORECIPIENT, "me", text="No recipient given (PRIVMSG)")) == (
        b":srv 411 me :No recipient given (PRIVMSG)\r\n"
    )


def test_numerics_are_three_digit_codes_and_texts_name_known_codes() -> None:
    codes = {v for k, v in vars(n).items() if k.startswith(("RPL_", "ERR_"))}
    assert all(len(c) == 3 and c.isdigit() for c in codes)
    assert set(n.TEXT) <= codes
    assert {"001", "005", "353", "366", "417", "433", "482", "502"} <= codes


# Replies that fit -------------------------------------------------------------------------


def test_isupport_splits_into_lines_under_512_bytes() -> None:
    tokens = {f"TOKEN{i}": "v" * (i * 7) for i in range(40)}
    tokens |= {"CASEMAPPING": "ascii", "SAFELIST": None, "EMPTY": ""}
    replies = isupport("irc.example.com", "somebody", tokens)
    sent = []
    for reply in replies:
        assert len(render(reply)) <= 512
        assert reply.params[0] == "somebody"
        assert reply.params[-1] == "are supported by this server"
        assert 1 <= len(reply.params) - 2 <= 13
        sent += reply.params[1:-1]
    assert sent[:2] == ["TOKEN0", "TOKEN1=vvvvvvv"]
    assert sent[-3:] == ["CASEMAPPING=ascii", "SAFELIST", "EMPTY"]
    assert len(sent) == len(tokens)


@given(
    st.dictionaries(
        st.from_regex(r"[A-Z]{1,12}", fullmatch=True),
        st.none() | st.integers(0, 10**9) | st.text("ab,()#@+", max_size=300),
    )
)
def test_isupport_lines_always_fit(tokens: dict) -> None:
    replies = isupport("srv", "nick", tokens)
    assert all(len(render(r)) <= 512 for r in replies)
    assert sum(len(r.params) - 2 for r in replies) == len(tokens)


def test_isupport_escapes_and_refuses() -> None:
    assert isupport("s", "n", {"NETWORK": "a b\\c"})[0].params[1] == "NETWORK=a\\x20b\\x5Cc"
    with pytest.raises(ValueError):
        isupport("s", "n", {"BAD NAME": "x"})
    with pytest.raises(ValueError):
        isupport("s", "n", {"HUGE": "x" * 600})


_SPLIT_TEXT = st.text(st.sampled_from("ab é☃🎉 "), max_size=2000)


@given(_SPLIT_TEXT, st.sampled_from([("", ""), ("\x01ACTION ", "\x01")]))
def test_split_text_fits_every_line_and_loses_nothing(text: str, wrap: tuple[str, str]) -> None:
    prefix, suffix = wrap
    head = Message("PRIVMSG", ("#lobby",), "somebody!user@host.example")
    pieces = split_text(head, text, prefix=prefix, suffix=suffix)
    assert all(len(render(m)) <= 512 for m in pieces)
    bodies = [m.params[-1] for m in pieces]
    assert all(b.startswith(prefix) and b.endswith(suffix) for b in bodies)
    assert "".join(b[len(prefix) : len(b) - len(suffix)] for b in bodies) == text


def test_split_text_cuts_after_a_space() -> None:
    pieces = split_text(Message("PRIVMSG", ("#c",), "n!u@h"), "word " * 300)
    assert len(pieces) > 1
    assert all(m.params[-1].endswith(" ") for m in pieces)


@given(st.lists(st.from_regex(r"[@+]?[a-z]{1,24}", fullmatch=True), max_size=300))
def test_pack_words_fits_every_line_and_keeps_the_order(names: list[str]) -> None:
    head = numeric("srv", n.RPL_NAMREPLY, "me", "=", "#lobby")
    replies = pack_words(head, names)
    assert all(len(render(r)) <= 512 for r in replies)
    assert [w for r in replies for w in r.params[-1].split(" ")] == names
    assert all(r.params[:-1] == head.params for r in replies)


def test_pack_words_refuses_a_word_that_cannot_fit() -> None:
    with pytest.raises(ValueError):
        pack_words(Message("353", ("me",), "srv"), ["x" * 600])


# Framing ------------------------------------------------------------------------------


def test_lf_crlf_and_lone_cr_end_lines() -> None:
    assert lines(b"one\ntwo\r\nthree\rfour") == [b"one", b"two", b"three"]


def test_crlf_split_across_reads_is_one_line_end() -> None:
    framer = IrcFramer()
    assert items(framer, b"NICK x\r") == [b"NICK x"]
    assert items(framer, b"\nUSER x 0 * :X\r", b"\n") == [b"USER x 0 * :X"]


def test_empty_lines_are_items_that_carry_nothing() -> None:
    # Flood control takes a token per item: an empty line costs one too.
    assert items(IrcFramer(), b"\n\r\n\r\rPING x\n") == [b"", b"", b"", b"", b"PING x"]


def test_registration_burst_parses_as_expected() -> None:
    burst = b"CAP LS 302\r\nNICK x\r\nUSER x 0 * :Real Name\r\nPRIVMSG #c :\x01ACTION waves\x01\r\n"
    assert [parse(line) for line in lines(burst)] == [
        Message("CAP", ("LS", "302")),
        Message("NICK", ("x",)),
        Message("USER", ("x", "0", "*", "Real Name")),
        Message("PRIVMSG", ("#c", "\x01ACTION waves\x01")),
    ]


def test_512_bytes_with_crlf_is_the_limit() -> None:
    fits = b"PRIVMSG #c :" + b"x" * (510 - 12)
    assert lines(fits + b"\r\n") == [fits]
    assert lines(fits + b"y\r\nPING a\r\n") == [TOO_LONG, b"PING a"]


def test_a_line_with_tags_has_the_tags_allowance() -> None:
    fits = b"@" + b"t" * 8190 + b" PRIVMSG #c :" + b"x" * (510 - 13)
    assert len(fits) == 510 + 8191
    assert lines(fits + b"\n") == [fits]
    assert lines(fits + b"y\nPING a\n") == [TOO_LONG, b"PING a"]


def test_a_long_line_is_reported_once_and_the_connection_goes_on() -> None:
    framer = IrcFramer()
    out = []
    for _ in range(100):  # 100 kB without a line end, read after read
        out += items(framer, b"x" * 1000)
        assert framer.buffered < 512  # held: less than one line's worth
    out += items(framer, b"tail\r\nPING a\r\n")
    assert out.count(TOO_LONG) == 1
    assert out[0] is TOO_LONG
    assert [i for i in out if i not in (b"", TOO_LONG)] == [b"PING a"]
    assert len(out) > 100  # every 512 bytes dropped cost an item, as a flood would


def test_take_stops_and_keeps_the_rest_as_bytes() -> None:
    framer = IrcFramer()
    framer.feed(b"A\r\nB\r\nC\r\nD")
    assert framer.take(2) == [b"A", b"B"]
    assert framer.buffered == len(b"C\r\nD")  # B's CR LF went with it: the rest is held
    assert framer.take(-1) == [b"C"]
    assert framer.take(5) == []
    framer.feed(b"\n")
    assert framer.take(5) == [b"D"]


_STREAM = st.lists(
    st.sampled_from(
        [
            b"\r",
            b"\n",
            b"\r\n",
            b"@",
            b" ",
            b":",
            b"a",
            b"ab",
            b"\xff",
            b"\xc3\xa9",
            b"x" * 9,
            b"@t=1 PING :z",
        ]
    ),
    max_size=120,
).map(b"".join)


@given(_STREAM, st.lists(st.integers(0, 400), max_size=40))
def test_any_chunking_gives_the_same_items(data: bytes, cuts: list[int]) -> None:
    limits = {"max_line": 16, "max_tags": 8}
    whole = items(IrcFramer(**limits), data)
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    assert items(IrcFramer(**limits), *chunks) == whole
    single = items(IrcFramer(**limits), *(data[i : i + 1] for i in range(len(data))))
    assert single == whole


@given(_STREAM, st.lists(st.tuples(st.integers(0, 400), st.integers(0, 3)), max_size=40))
def test_pulling_fewer_items_than_there_are_changes_nothing(data: bytes, plan: list) -> None:
    # Flood control stops pulling; the bytes left wait for the next read.
    limits = {"max_line": 16, "max_tags": 8}
    whole = items(IrcFramer(**limits), data)
    framer = IrcFramer(**limits)
    got: list = []
    start = 0
    for cut, pulls in sorted(plan):
        end = max(start, cut % (len(data) + 1))
        framer.feed(data[start:end])
        start = end
        got += framer.take(pulls)
    framer.feed(data[start:])
    assert got + framer.take(-1) == whole


def test_a_line_end_handed_out_is_not_found_again_after_more_bytes() -> None:
    framer = IrcFramer()
    framer.feed(b"A\nB\n")
    assert framer.take(1) == [b"A"]
    framer.feed(b"C\n")
    assert framer.take(-1) == [b"B", b"C"]


def _outcome(line: bytes | w.TooLong) -> object:
    if line is TOO_LONG:
        return line
    try:
        return parse(line)
    except ParseError as e:
        return str(e)


@given(st.lists(_MESSAGES, max_size=8), st.lists(st.integers(0, 5000), max_size=20))
def test_any_chunking_gives_the_same_messages(msgs: list[Message], cuts: list[int]) -> None:
    data = b"".join(render(m) for m in msgs)
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    got = [_outcome(i) for i in items(IrcFramer(), *chunks) if i != b""]
    assert got == [_outcome(i) for i in items(IrcFramer(), data) if i != b""]
    fitting = [m for m in msgs if len(render(m)) <= 512 + (8191 if m.tags else 0)]
    assert [m for m in got if isinstance(m, Message)] == fitting


@pytest.fixture
def scanned(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A running count of the bytes the framer searches for a line end."""
    count = [0]
    find = w._find_eol

    def counting(buf: bytes | bytearray, start: int, stop: int) -> int:
        end = find(buf, start, stop)
        count[0] += (end + 1 if end >= 0 else stop) - start
        return end

    monkeypatch.setattr(w, "_find_eol", counting)
    return count


def test_slow_input_is_scanned_once(scanned: list[int]) -> None:
    framer = IrcFramer()
    line = b"PRIVMSG #c :" + b"x" * 496 + b"\r\n"  # 510 bytes and CR LF: nearly full
    data = line * 4 + b"y" * 3000 + b"\r\n" + b"@" + b"t" * 9000 + b"\n" + line
    out = items(framer, *(data[i : i + 1] for i in range(len(data))))
    assert out.count(line[:-2]) == 5
    assert out.count(TOO_LONG) == 2
    assert scanned[0] <= len(data)


def test_slow_input_grows_the_buffer_in_place() -> None:
    framer = IrcFramer()
    framer.feed(b"PRIVMSG #c :")
    framer.feed(b"x")
    held = framer._buf
    for _ in range(400):
        framer.feed(b"x")
        assert framer.next() is None
    assert framer._buf is held  # not a new copy per read


# Masks ------------------------------------------------------------------------------------


@given(st.text("abAB!@.*?", max_size=10), st.text("abAB!@.*?", max_size=12))
def test_mask_matching_agrees_with_fnmatch(mask: str, subject: str) -> None:
    assert mask_matches(mask, subject) == fnmatch.fnmatchcase(subject.lower(), mask.lower())
    _, steps = m._match(m._tokens(mask.lower()), subject.lower())
    assert steps <= (len(subject) + 1) * (len(mask) + 1)


def test_a_pathological_mask_takes_linear_steps() -> None:
    mask = "*a" * 40 + "*b"
    for subject in ("a" * 5000, "a" * 5000 + "b", "a" * 2500 + "c" * 2500):
        matched, steps = m._match(m._tokens(mask), subject)
        assert matched == subject.endswith("b")
        assert steps <= 2 * (len(subject) + len(mask))
    assert not mask_matches(mask, "a" * 5000)


def test_mask_matching_folds_ascii_case_only() -> None:
    assert mask_matches("BOB!*@*.EXAMPLE", "bob!u@host.example")
    assert mask_matches("b?b!*@*", "BIB!x@y")
    assert not mask_matches("k*!*@*", "\u212aelvin!u@h")  # KELVIN SIGN is no 'k'
    assert not mask_matches("bob!*@*", "bobby!u@h")


def test_mask_backslash_quotes_wildcards() -> None:
    assert mask_matches(r"a\*b", "a*b")
    assert not mask_matches(r"a\*b", "axb")
    assert mask_matches(r"a\?", "a?")
    assert not mask_matches(r"a\?", "ab")
    assert mask_matches(r"a\\b", "a\\b")
    assert mask_matches("a\\", "a\\")


@pytest.mark.parametrize(
    ("typed", "full"),
    [
        ("nick", "nick!*@*"),
        ("nick!user", "nick!user@*"),
        ("nick!", "nick!*@*"),
        ("user@host", "*!user@host"),
        ("*@host", "*!*@host"),
        ("host.example", "*!*@host.example"),
        ("::1", "*!*@::1"),
        ("n!u@h", "n!u@h"),
        ("*!*@*", "*!*@*"),
        ("", "*!*@*"),
        ("n!@h", "n!*@h"),
    ],
)
def test_normalise_mask(typed: str, full: str) -> None:
    assert normalise_mask(typed) == full


def _by_next(framer: IrcFramer, *chunks: bytes) -> list:
    got: list = []
    for chunk in chunks:
        framer.feed(chunk)
        while (item := framer.next()) is not None:
            got.append(item)
    return got


@given(_STREAM, st.lists(st.integers(0, 400), max_size=40), st.integers(-1, 5))
@example(b"a\rb\n", [], -1)  # a bare CR
@example(b"x" * 20 + b"\nok\n", [], -1)  # over the limit
@example(b"@t=1 PING :zzzzzzzzzzz\r\n", [], -1)  # tags allow a longer line
@example(b"a\r\n\r\nb\n", [2], 1)  # empty lines, CR LF split across reads
def test_take_cuts_what_next_cuts(data: bytes, cuts: list[int], most: int) -> None:
    # take() cuts ordinary lines in a loop of its own; next() is the reference.
    limits = {"max_line": 16, "max_tags": 8}
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    framer = IrcFramer(**limits)
    got: list = []
    for chunk in chunks:
        framer.feed(chunk)
        got += framer.take(most)
    got += framer.take(-1)
    assert got == _by_next(IrcFramer(**limits), *chunks)


def _lines(got: list) -> list:
    """Items with every Run as the lines it stands for."""
    return [line for item in got for line in (item.lines() if isinstance(item, Run) else [item])]


_TALK = st.lists(
    st.sampled_from(
        [
            b"PRIVMSG #r :",
            b"PRIVMSG #r :hi there",
            b"PRIVMSG #r :x",
            b"PRIVMSG #s :x",
            b"PRIVMSG #r,#s :x",
            b"PRIVMSG #r x :y",
            b"PRIVMSG #\xc3\xa9 :x",
            b"\r\n",
            b"\r\n",
            b"\n",
            b"\r",
            b"\x01",
            b"\0",
            b"\xc3\xa9",
            b"PING :z",
            b"y" * 13,
        ]
    ),
    max_size=40,
).map(b"".join)


@given(_TALK, st.lists(st.tuples(st.integers(0, 600), st.integers(0, 6)), max_size=20))
@example(b"PRIVMSG #r :x\r\nPRIVMSG #r :hi there\r\nPRIVMSG #r :x\r\n", [])
@example(b"PRIVMSG #r :x\r\nPRIVMSG #r :" + b"y" * 21 + b"\r\n", [])  # 33 bytes: too long
@example(b"PRIVMSG #r :x\r\nPRIVMSG #r :x\r\nPRIVMSG #r :x\r\n", [(0, 2)])  # budget 2
@example(b"PRIVMSG #r :x\r\nPING :abcdefgh\r\nPRIVMSG #r :y\r\n", [])  # another start
def test_a_run_read_at_once_stands_for_the_lines_one_by_one(data: bytes, plan: list) -> None:
    # Runs or not, the same lines come out in the same pulls, whatever the chunking and
    # the flood budget; and taken counts a Run as its lines.
    pulled = []
    for runs in (False, True):
        framer = (IrcRunFramer if runs else IrcFramer)(max_line=34, max_tags=8)
        got: list = []
        start = 0
        for cut, pulls in [*sorted(plan), (len(data), -1)]:
            end = max(start, cut % (len(data) + 1))
            framer.feed(data[start:end])
            start = end
            took = framer.take(pulls)
            assert took.lines == len(_lines(took))
            got.append(_lines(took))
        pulled.append(got)
    assert pulled[0] == pulled[1]


def test_a_talking_clients_read_is_one_run() -> None:
    framer = IrcRunFramer()
    framer.feed(b"PRIVMSG #r :one\r\nPRIVMSG #r :two words\r\nPRIVMSG #r ::)\r\n")
    took = framer.take(-1)
    assert took == [Run(b"PRIVMSG #r :", ["one", "two words", ":)"])]
    assert took.lines == 3
    assert took[0].room == "#r"
    framer.feed(b"PING :x\r\nPRIVMSG #r :one\r\nPRIVMSG #r :two\r\n")
    assert framer.take(-1) == [b"PING :x", Run(b"PRIVMSG #r :", ["one", "two"])]
    for read in (
        b"PRIVMSG #r :caf\xc3\xa9\r\nPRIVMSG #r :two\r\n",  # the first not ASCII
        b"PRIVMSG #r :one\r\nPRIVMSG #r :two\r\nPING :x\r\n",  # another command
        b"PRIVMSG #r :one\r\nPRIVMSG #r :\x02two\r\n",  # a control: sanitised one by one
        b"PRIVMSG #r :one\r\nPRIVMSG #r :caf\xc3\xa9\r\n",  # not ASCII
        b"PRIVMSG #r :one\r\nPRIVMSG #r :two\n",  # LF alone
        b"PRIVMSG #r,#s :one\r\nPRIVMSG #r,#s :two\r\n",  # two targets
    ):
        framer.feed(read)
        assert not any(isinstance(item, Run) for item in framer.take(-1)), read
    framer.feed(b"PRIVMSG #r :one\r\nPRIVMSG #r :two\r\nPRIVMSG #r :three\r\n")
    assert framer.take(2) == [b"PRIVMSG #r :one", b"PRIVMSG #r :two"]  # budget: no Run
