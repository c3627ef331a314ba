"""The wire contract's framing, sanitising and formats, in memory."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chatd import protocol as p
from chatd.protocol import LINE_TOO_LONG, LineParser


def feed_all(parser: LineParser, *chunks: bytes) -> list:
    out: list = []
    for chunk in chunks:
        out += parser.feed(chunk)
    return out


def test_lf_and_crlf_both_end_lines():
    assert LineParser(100).feed(b"one\ntwo\r\nthree") == ["one", "two"]


def test_partial_line_waits_for_its_end():
    parser = LineParser(100)
    assert parser.feed(b"hel") == []
    assert parser.feed(b"lo\r") == []
    assert parser.feed(b"\n") == ["hello"]


def test_blank_and_white_space_lines_are_ignored():
    assert LineParser(100).feed(b"\n\r\n   \n\t\r\nreal\n") == ["real"]


def test_invalid_utf8_becomes_replacement_character():
    # (0xFF is telnet's IAC, stripped before decoding; other invalid bytes become U+FFFD.)
    assert LineParser(100).feed(b"caf\xc3\xa9 \xfe\xc0 bad\n") == ["café \ufffd\ufffd bad"]
    assert LineParser(100).feed(b"a\xc3\x28b\x80\n") == ["a\ufffd(b\ufffd"]


def test_utf8_split_across_chunks_decodes_whole():
    snowman = "☃".encode()
    parser = LineParser(100)
    assert feed_all(parser, b"x" + snowman[:1], snowman[1:] + b"\n") == ["x☃"]


def test_control_characters_are_removed_but_tab_kept():
    line = "a\x1b[31mred\x07\x00\x7f\x9b\u0085b\tc"
    assert LineParser(100).feed(line.encode() + b"\n") == ["a[31mredb\tc"]


def test_bare_cr_inside_a_line_is_removed():
    assert LineParser(100).feed(b"over\rwrite\n") == ["overwrite"]


def test_line_at_the_limit_passes_and_one_over_is_refused():
    parser = LineParser(10)
    assert parser.feed(b"x" * 10 + b"\r\n") == ["x" * 10]
    assert parser.feed(b"y" * 11 + b"\n") == [LINE_TOO_LONG]
    assert parser.feed(b"ok\n") == ["ok"]


def test_limit_counts_bytes_before_decoding():
    parser = LineParser(4)
    assert parser.feed("éé".encode() + b"\n") == ["éé"]  # 4 bytes
    assert parser.feed("ééé".encode() + b"\n") == [LINE_TOO_LONG]  # 6 bytes, 3 characters


def test_endless_line_is_reported_once_and_memory_stays_bounded():
    parser = LineParser(100)
    reports = feed_all(parser, *[b"z" * 1000] * 50)
    assert reports == [LINE_TOO_LONG]
    assert parser.buffered == 0
    assert parser.feed(b"zzz\nafter\n") == ["after"]


def test_crlf_split_at_the_limit_is_not_too_long():
    parser = LineParser(5)
    assert parser.feed(b"12345\r") == []
    assert parser.feed(b"\n") == ["12345"]


def test_telnet_negotiation_is_removed():
    # IAC DO ECHO, IAC WILL SGA, IAC SB NAWS 0 80 0 24 IAC SE, IAC NOP, IAC IAC
    data = (
        b"\xff\xfd\x01hi\xff\xfb\x03 th\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0ere\xff\xf1!\xff\xff\r\n"
    )
    assert LineParser(100).feed(data) == ["hi there!"]


def test_telnet_command_split_across_chunks():
    parser = LineParser(100)
    assert feed_all(parser, b"a\xff", b"\xfd", b"\x01b\xff\xfa\x1f", b"\x00\xff", b"\xf0c\n") == [
        "abc"
    ]


TOKENS = st.lists(
    st.one_of(
        st.binary(max_size=30),
        st.sampled_from([b"\n", b"\r\n", b"\r", b"\xff\xfd\x01", b"\xff\xfa\x01\x02\xff\xf0"]),
        st.just(b"L" * 40),
    ),
    max_size=40,
)


@given(TOKENS, st.lists(st.integers(min_value=0, max_value=400), max_size=20))
def test_any_split_of_a_stream_yields_the_same_lines(tokens, cuts):
    stream = b"".join(tokens)
    whole = LineParser(32).feed(stream)
    points = sorted({min(c, len(stream)) for c in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    assert feed_all(LineParser(32), *chunks) == whole


@given(st.binary(max_size=2000))
def test_parser_output_is_always_clean_text(data):
    parser = LineParser(64)
    for line in parser.feed(data):
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
