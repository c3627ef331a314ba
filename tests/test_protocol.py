"""The wire contract's framing, sanitising and formats, in memory."""

from __future__ import annotations

import sys
import tracemalloc

from hypothesis import example, given
from hypothesis import strategies as st

from chatd import protocol as p
from chatd.protocol import LINE_TOO_LONG, LineParser, LineRunParser, TextRun


def items(parser: LineParser, *chunks: bytes) -> list:
    """Everything the parser hands out, in order; "" is input that made no line."""
    out: list = []
    for chunk in chunks:
        parser.feed(chunk)
        while (item := parser.next()) is not None:
            out.append(item)
    return out


def feed_all(parser: LineParser, *chunks: bytes) -> list:
    """The lines and LINE_TOO_LONG reports, without the input that made no line."""
    return [item for item in items(parser, *chunks) if item != ""]


def parse(data: bytes, max_line: int = 100) -> list:
    return feed_all(LineParser(max_line), data)


def test_lf_and_crlf_both_end_lines():
    assert parse(b"one\ntwo\r\nthree") == ["one", "two"]


def test_partial_line_waits_for_its_end():
    parser = LineParser(100)
    assert feed_all(parser, b"hel") == []
    assert feed_all(parser, b"lo\r") == []
    assert feed_all(parser, b"\n") == ["hello"]


def test_blank_and_white_space_lines_are_ignored():
    assert parse(b"\n\r\n   \n\t\r\nreal\n") == ["real"]


def test_every_line_is_an_item_even_when_it_carries_nothing():
    # Flood control takes a token per item: a line that sanitises to nothing is one too.
    assert items(LineParser(100), b"\n\r\n \n\x01\n\x1b\r\nreal\n") == ["", "", "", "", "", "real"]


def test_invalid_utf8_becomes_replacement_character():
    assert parse(b"caf\xc3\xa9 \xfe\xc0 bad\n") == ["café \ufffd\ufffd bad"]
    assert parse(b"a\xc3\x28b\x80\n") == ["a\ufffd(b\ufffd"]


def test_utf8_split_across_chunks_decodes_whole():
    snowman = "☃".encode()
    parser = LineParser(100)
    assert feed_all(parser, b"x" + snowman[:1], snowman[1:] + b"\n") == ["x☃"]


def test_control_characters_are_removed_but_tab_kept():
    line = "a\x1b[31mred\x07\x00\x7f\x9b\u0085b\tc"
    assert parse(line.encode() + b"\n") == ["a[31mredb\tc"]


def test_bare_cr_inside_a_line_is_removed():
    assert parse(b"over\rwrite\n") == ["overwrite"]


def test_line_at_the_limit_passes_and_one_over_is_refused():
    parser = LineParser(10)
    assert feed_all(parser, b"x" * 10 + b"\r\n") == ["x" * 10]
    assert feed_all(parser, b"y" * 11 + b"\n") == [LINE_TOO_LONG]
    assert feed_all(parser, b"ok\n") == ["ok"]


def test_limit_counts_bytes_before_decoding():
    parser = LineParser(4)
    assert feed_all(parser, "éé".encode() + b"\n") == ["éé"]  # 4 bytes
    assert feed_all(parser, "ééé".encode() + b"\n") == [LINE_TOO_LONG]  # 6 bytes, 3 characters


def test_endless_line_is_reported_once_and_memory_stays_bounded():
    parser = LineParser(100)
    reports = feed_all(parser, *[b"z" * 1000] * 50)
    assert reports == [LINE_TOO_LONG]
    assert parser.buffered < 100
    assert sys.getsizeof(parser._buf) < 200  # not the last 1000-byte read
    assert feed_all(parser, b"zzz\nafter\n") == ["after"]


def test_too_long_is_reported_as_soon_as_the_line_passes_the_limit():
    parser = LineParser(16)
    assert feed_all(parser, b"x" * 17) == []  # 17 bytes may still be 16 and a CR
    assert feed_all(parser, b"x") == [LINE_TOO_LONG]


def test_input_that_makes_no_line_costs_an_item_per_max_line_bytes():
    parser = LineParser(16)
    got = items(parser, b"z" * 1000)
    assert got[0] is LINE_TOO_LONG
    assert got[1:] == [""] * ((1000 - 17) // 16)  # one per 16 bytes discarded
    assert parser.buffered < 16
    assert items(parser, b"\nok\n") == ["", "ok"]


def test_crlf_split_at_the_limit_is_not_too_long():
    parser = LineParser(5)
    assert feed_all(parser, b"12345\r") == []
    assert feed_all(parser, b"\n") == ["12345"]


def test_telnet_negotiation_is_removed():
    # IAC DO ECHO, IAC WILL SGA, IAC SB NAWS 0 80 0 24 IAC SE, IAC NOP
    data = b"\xff\xfd\x01hi\xff\xfb\x03 th\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0ere\xff\xf1!\r\n"
    assert parse(data) == ["hi there!"]


def test_telnet_command_split_across_chunks():
    parser = LineParser(100)
    assert feed_all(parser, b"a\xff", b"\xfd", b"\x01b\xff\xfa\x1f", b"\x00\xff", b"\xf0c\n") == [
        "abc"
    ]


def test_iac_iac_is_one_literal_ff_byte():
    assert parse(b"a\xff\xffb\n") == ["a\ufffdb"]
    assert parse(b"\xff\xff\xfb\x01\n") == ["\ufffd\ufffd"]  # after IAC IAC, FB is data


def test_ff_before_the_line_end_does_not_swallow_it():
    assert parse(b"one\xff\ntwo\n") == ["one\ufffd", "two"]
    assert parse(b"one\xff\r\ntwo\n") == ["one\ufffd", "two"]
    assert parse(b"one\xff\xfb\ntwo\n") == ["one\ufffd\ufffd", "two"]  # no option byte
    assert parse(b"one\xff\xfb\r\ntwo\n") == ["one\ufffd\ufffd", "two"]


def test_a_lone_ff_does_not_eat_the_next_byte():
    assert parse(b"x\xffyz\n") == ["x\ufffdyz"]
    assert parse(b"a\xff b\n") == ["a\ufffd b"]


def test_option_byte_is_never_a_cr():
    assert parse(b"a\xff\xfd\rb\n") == ["a\ufffd\ufffdb"]


def test_latin1_y_acute_u_does_not_mute_the_client():
    latin1 = "déjà vu: ÿú".encode("latin-1")
    assert parse(latin1 + b"\n/quit\n") == ["d\ufffdj\ufffd vu: \ufffd\ufffd", "/quit"]


def test_subnegotiation_is_bounded_and_stays_inside_its_line():
    payload = b"\x18\x00" + b"x" * 61 + b"\xff\xff"  # 64 bytes, the last an escaped 0xFF
    assert parse(b"a\xff\xfa" + payload + b"\xff\xf0b\n") == ["ab"]
    over = b"\x18\x00" + b"x" * 62 + b"\xff\xff"  # 65: data (its IAC IAC and IAC SE still are)
    expected = "a\ufffd\ufffd" + "x" * 62 + "\ufffdb"
    assert parse(b"a\xff\xfa" + over + b"\xff\xf0b\n", 200) == [expected]
    longer = b"x" * 65
    assert parse(b"a\xff\xfa" + longer + b"\xff\xf0b\n", 200) == ["a\ufffd\ufffd" + "x" * 65 + "b"]
    assert parse(b"a\xff\xfaopen\nb\xff\xf0c\n") == ["a\ufffd\ufffdopen", "bc"]


def test_slow_input_into_a_nearly_full_buffer_is_scanned_once():
    class CountingBuffer(bytearray):
        scanned = 0

        def find(self, sub, start=0, end=None, /):  # type: ignore[override]
            stop = len(self) if end is None else min(end, len(self))
            CountingBuffer.scanned += max(stop - max(start, 0), 0)
            return super().find(sub, start, end)

    size = 1 << 20
    parser = LineParser(size)
    assert feed_all(parser, b"x" * (size - 1000)) == []
    buf = CountingBuffer(parser._buf)  # the same bytes, in a buffer that counts its scans
    parser._buf = buf
    for _ in range(1000):
        assert feed_all(parser, b"y") == []
        assert parser._buf is buf  # grown in place, never copied into a new object
    assert CountingBuffer.scanned <= 1000  # each new byte looked at once, the old ones never
    assert feed_all(parser, b"\n") == ["x" * (size - 1000) + "y" * 1000]


def test_held_input_costs_about_the_bytes_it_holds():
    paste = b"x\n" * 32768  # 64 KiB of one-character lines, none of them taken out yet
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        parser = LineParser(2048)
        parser.feed(paste)
        assert parser.next() == "x"
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 2 * len(paste)
    assert sys.getsizeof(parser._buf) < 2 * len(paste)


def test_a_partial_line_keeps_only_its_own_bytes():
    parser = LineParser(2048)
    assert len(feed_all(parser, b"x\n" * 30000 + b"partial")) == 30000
    assert parser.buffered == 7
    assert sys.getsizeof(parser._buf) < 100  # not the 60 KB read that it came in


def test_telnet_after_a_partial_line_is_still_stripped():
    parser = LineParser(100)
    assert feed_all(parser, b"plain\npart", b"ial \xff\xfd\x01done\n", b"x\xff\xf1y\n") == [
        "plain",
        "partial done",
        "xy",
    ]


TOKENS = st.lists(
    st.one_of(
        st.binary(max_size=30),
        st.sampled_from(
            [
                b"\n",
                b"\r\n",
                b"\r",
                b"\xff",
                b"\xff\xff",
                b"\xff\xfd\x01",
                b"\xff\xfb",
                b"\xff\xfa\x01\x02\xff\xf0",
                b"\xff\xfa",
                b"\xff\xf0",
                b"\x01\n",
            ]
        ),
        st.just(b"L" * 40),
    ),
    max_size=40,
)


@given(TOKENS, st.lists(st.integers(min_value=0, max_value=400), max_size=20))
def test_any_split_of_a_stream_yields_the_same_items(tokens, cuts):
    stream = b"".join(tokens)
    whole = items(LineParser(32), stream)
    points = sorted({min(c, len(stream)) for c in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    assert items(LineParser(32), *chunks) == whole


@given(TOKENS, st.lists(st.sampled_from([-1, 1, 2, 3, 5]), min_size=1, max_size=20))
def test_however_the_items_are_pulled_they_are_the_same(tokens, sizes):
    stream = b"".join(tokens)
    whole = items(LineParser(32), stream)
    parser = LineParser(32)
    parser.feed(stream)
    got: list = []
    for size in sizes * (len(stream) + 1):  # ends once everything is out
        if not parser.has_line():
            break
        got += parser.take(size)
    assert got == whole
    assert parser.take(-1) == [] and parser.next() is None


LINE_BYTES = st.lists(
    st.one_of(
        st.binary(max_size=12),
        st.sampled_from([b"\r", b"\xe2\x82", b"\xe2\x82\xac", b"\xf0\x9f", b" ", b"\x1b[2J", b"/"]),
        st.text(max_size=8).map(str.encode),
    ),
    max_size=8,
).map(lambda parts: b"".join(parts).replace(b"\n", b"").replace(b"\xff", b""))


@given(
    st.lists(st.tuples(LINE_BYTES, st.sampled_from([b"\n", b"\r\n"])), max_size=30),
    st.binary(max_size=10).map(lambda b: b.replace(b"\n", b"").replace(b"\xff", b"")),
    st.sampled_from([-1, 1, 7, 30]),
    st.sampled_from([16, 64, 4096]),
)
def test_a_read_of_whole_lines_taken_at_once_gives_what_they_give_one_by_one(
    lines, rest, most, limit
):
    # A read of many short lines (what a talking client sends) is decoded and split a
    # window of max_line bytes at a time; it must be item for item what the line-by-line
    # path gives, too long lines included, with a partial line after it left for later.
    stream = b"".join(line + end for line, end in lines) + rest
    one_by_one = LineParser(limit)
    one_by_one.feed(stream)
    expected = []
    while len(expected) != most and (item := one_by_one.next()) is not None:
        expected.append(item)
    parser = LineParser(limit)
    parser.feed(stream)
    assert parser.take(most) == expected
    assert parser.buffered == one_by_one.buffered
    assert items(parser, b"\n") == items(one_by_one, b"\n")


def _flat(got: list) -> list:
    """Items with every TextRun as the items it stands for."""
    return [x for item in got for x in (item.items if isinstance(item, TextRun) else [item])]


PLAIN_LINE = st.lists(
    st.sampled_from([b"hi", b" ", b"/", b"x y", b"  ", b"\r", b"\x1b", b"\xc3\xa9", b"L" * 9]),
    max_size=6,
).map(b"".join)


@given(
    st.lists(st.one_of(PLAIN_LINE, LINE_BYTES), max_size=30),
    st.lists(st.tuples(st.integers(0, 400), st.sampled_from([-1, 1, 2, 7])), max_size=12),
    st.sampled_from([16, 64, 4096]),
)
@example([b"one", b"two words", b"three  "], [], 4096)
@example([b"one", b"/me waves", b"three"], [], 4096)
@example([b"one", b"http://x/y", b"three"], [], 4096)  # a '/' not at a line's start
@example([b"one", b"   ", b"three"], [], 4096)
@example([b"one", b"", b"three"], [], 4096)
@example([b"one", b"two", b"three"], [(0, 2)], 4096)  # a budget of 2
def test_a_run_of_plain_lines_taken_at_once_stands_for_its_items(lines, plan, limit):
    # With runs, a window of plain chat lines comes as one TextRun: it must stand for
    # exactly the items the lines give without, in the same pulls, whatever the chunking
    # and the budget; taken counts its lines; its chat texts are those items stripped.
    stream = b"".join(line + b"\n" for line in lines)
    pulled = []
    for runs in (False, True):
        parser = (LineRunParser if runs else LineParser)(limit)
        got = []
        start = 0
        for cut, most in [*sorted(plan), (len(stream), -1)]:
            end = max(start, min(cut, len(stream)))
            parser.feed(stream[start:end])
            start = end
            took = parser.take(most)
            assert took.lines == len(_flat(took))
            for item in took:
                if isinstance(item, TextRun):
                    assert item.chat == [text.rstrip() for text in item.items]
                    assert all(text and text[0] != "/" for text in item.chat)
            got.append(_flat(took))
        pulled.append(got)
    assert pulled[0] == pulled[1]


def test_a_talking_clients_read_is_one_run_of_plain_lines():
    parser = LineRunParser(4096)
    parser.feed(b"hello\nsee http://x/y \nbye\n")
    took = parser.take(-1)
    (run,) = took
    assert run == TextRun(["hello", "see http://x/y ", "bye"], [])
    assert run.chat == ["hello", "see http://x/y", "bye"] and took.lines == 3
    for read in (b"a\n/me b\n", b"a\n\x02b\n", b"a\ncaf\xc3\xa9\n", b"a\r\nb\r\n", b"a\n \n"):
        parser.feed(read)
        assert not any(isinstance(item, TextRun) for item in parser.take(-1)), read


@given(st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=20))
def test_no_byte_ever_eats_a_line_end(lines):
    got = items(LineParser(40), b"".join(line + b"\n" for line in lines))
    assert len(got) == len(lines)  # one item per line, whatever bytes it holds


@given(st.binary(max_size=2000))
def test_parser_output_is_always_clean_text(data):
    parser = LineParser(64)
    for line in feed_all(parser, data):
        if line is LINE_TOO_LONG:
            continue
        assert line.strip()
        assert not any(ord(c) < 32 and c != "\t" or 0x7F <= ord(c) <= 0x9F for c in line)
    assert parser.buffered <= 65


def test_formats_end_in_crlf_and_follow_the_contract():
    assert p.chat("alice", "hello") == b"<alice> hello\r\n"
    assert p.action("alice", "waves") == b"* alice waves\r\n"
    assert p.private("alice", "psst") == b"*alice* psst\r\n"
    assert p.private_echo("bob", "psst") == b"-> *bob* psst\r\n"
    assert p.notice("bob joined #lobby") == b"*** bob joined #lobby\r\n"
    assert p.error("nick bob is taken") == b"*** error: nick bob is taken\r\n"
    assert p.too_long(2048) == b"*** error: line too long (max 2048 bytes)\r\n"


def test_nick_rules():
    assert p.valid_nick("a")
    assert p.valid_nick("Alice_the-2nd")
    assert p.valid_nick("a" * 24)
    for bad in ["", "a" * 25, "1abc", "_x", "-x", "al ice", "alïce", "a.b"]:
        assert not p.valid_nick(bad), bad


def test_room_rules():
    assert p.normalise_room("lobby") == "#lobby"
    assert p.normalise_room("#Dev-2") == "#Dev-2"
    assert p.normalise_room("#" + "r" * 32) == "#" + "r" * 32
    for bad in ["", "#", "#" + "r" * 33, "##x", "#1x", "a b"]:
        assert p.normalise_room(bad) is None, bad


def test_split_command_lowercases_the_name_only():
    assert p.split_command("/MSG Bob  Hi There ") == ("msg", "Bob  Hi There")
    assert p.split_command("/quit") == ("quit", "")
