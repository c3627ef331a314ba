"""Nothing a user or an operator types can fake or hide text: case folding, the
characters that are removed, the greeting, and user text quoted inside server lines."""

from __future__ import annotations

import dataclasses
import sys

import memory
import pytest
from hypothesis import given
from hypothesis import strategies as st
from memory import World

from chatd import protocol as p
from chatd.protocol import LineParser

KELVIN = "\u212a"  # KELVIN SIGN: str.lower() makes it an ASCII 'k'
BIDI = [chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]]
SEPARATORS = ["\u2028", "\u2029"]
TAGS = [chr(c) for c in range(0xE0000, 0xE0080)]
REMOVED = BIDI + SEPARATORS + TAGS


class Client(memory.Client):
    """A user fed the way the server feeds it: bytes through the line parser."""

    def __init__(self, world: World) -> None:
        super().__init__(world)
        self.parser = LineParser(4096)

    def say(self, text: str) -> None:
        self.parser.feed(text.encode("utf-8", "surrogatepass") + b"\n")
        for line in self.parser.take(-1):
            assert isinstance(line, str)
            if line:  # "" is input that carries nothing (the server spends a token on it)
                super().say(line)

    def quit(self) -> None:
        assert self.quit_reason is not None  # and the room has heard it


@pytest.fixture
def chat() -> World:
    return World(server_name="testhost", version="9")


def clients(chat: World, n: int) -> list[Client]:
    made = [Client(chat) for _ in range(n)]
    for c in made:
        c.take()
    return made


# Commands and nicks fold ASCII case only.


def test_a_look_alike_command_name_is_unknown(chat):
    a, b = clients(chat, 2)
    a.say(f"/nic{KELVIN} bob")
    assert a.take() == [f"*** error: unknown command /nic{KELVIN} (try /help)"]
    assert a.nick == "guest1" and b.take() == []


def test_command_names_still_fold_ascii_case(chat):
    a, b = clients(chat, 2)
    a.say("/NiCk bob")
    assert a.take() == ["*** You are now bob"]


def test_a_private_message_to_a_look_alike_nick_reaches_no_one(chat):
    a, b = clients(chat, 2)
    b.say("/nick kelvin2")
    a.take(), b.take()
    a.say(f"/msg {KELVIN}elvin2 psst")
    assert a.take() == [f"*** error: no such nick {KELVIN}elvin2"]
    assert b.take() == []
    a.say("/msg KELVIN2 psst")
    assert b.take() == ["*guest1* psst"]


def test_look_alike_nicks_and_rooms_are_invalid(chat):
    (a,) = clients(chat, 1)
    a.say(f"/nick {KELVIN}elvin")
    a.say(f"/join #{KELVIN}elvin")
    lines = a.take()
    assert lines[0].startswith(f"*** error: invalid nick {KELVIN}elvin ")
    assert lines[1].startswith(f"*** error: invalid room #{KELVIN}elvin ")


def test_rooms_still_match_without_regard_to_ascii_case(chat):
    a, b = clients(chat, 2)
    a.say("/join #Dev")
    b.say("/join #DEV")
    a.take()
    assert b.take()[-1] == "*** You joined #Dev (2 users: guest1, guest2)"
    b.say("/join dev")
    assert b.take() == ["*** error: you are already in #Dev"]


def test_fold_maps_only_ascii_capitals():
    assert p.fold("AZaz09_-@[`{") == "azaz09_-@[`{"
    every = "".join(chr(c) for c in range(0x80, sys.maxunicode + 1) if not 0xD800 <= c < 0xE000)
    assert p.fold(every) == every
    assert p.fold("Ä" + KELVIN + "B") == "Ä" + KELVIN + "b"


def test_split_command_folds_the_name_by_ascii_only():
    assert p.split_command(f"/NIC{KELVIN} x") == (f"nic{KELVIN}", "x")


# The greeting: server_name and motd are sanitised like chat text.

HOSTILE_NAME = "evil\r\n*** You are admin\x1b[2J\x07\u202e\x00"


def greeting(**settings: object) -> list[bytes]:
    return memory.Client(World(**settings)).session.out


def assert_one_clean_line_each(lines: list[bytes]) -> None:
    for data in lines:
        assert data.endswith(b"\r\n") and data.count(b"\n") == 1 and data.count(b"\r") == 1
        text = data.decode()
        assert text.startswith("*** ")
        assert not any(c in text[:-2] for c in ["\x1b", "\x07", "\x00", *REMOVED])


def test_server_name_cannot_add_a_line_or_a_control_to_the_greeting():
    lines = greeting(server_name=HOSTILE_NAME, version="9")
    assert_one_clean_line_each(lines)
    assert lines[0] == b"*** Welcome to evil*** You are admin[2J (chatd 9)\r\n"
    assert [d for d in lines if d.startswith(b"*** You are ")] == [b"*** You are guest1\r\n"]


def test_motd_lines_are_sanitised_and_split_only_at_line_ends():
    motd = "one\x1b[31m red\u2066\rtwo\n\x1b\n\u2028\nthree\r\nfour\x85"
    lines = greeting(server_name="x", motd=motd)
    assert_one_clean_line_each(lines)
    # A bare CR is removed like any control; only LF (or CR LF) ends a motd line, and a
    # line with nothing left after sanitising is left out like a blank one.
    assert [d.decode()[4:-2] for d in lines[1:4]] == ["one[31m redtwo", "three", "four"]
    assert lines[4].startswith(b"*** Type /help")


def test_reloaded_server_name_is_sanitised_too(chat):
    chat.line.reconfigure(dataclasses.replace(chat.line.settings, server_name="a\nb\x1b"))
    out = memory.Client(chat).session.out
    assert out[0] == b"*** Welcome to ab (chatd 9)\r\n"


def test_operator_text_with_lone_surrogates_does_not_break_the_greeting():
    # YAML's "\ud800" escape gives a str that UTF-8 cannot encode.
    lines = greeting(server_name="x\ud800y", motd="a\udfffb")
    assert_one_clean_line_each(lines)
    assert lines[0].startswith(b"*** Welcome to xy") and lines[1] == b"*** ab\r\n"


# Bidi controls, line and paragraph separators, and tags are removed; joiners stay.


@pytest.mark.parametrize(
    "char", [*BIDI, *SEPARATORS, TAGS[0], TAGS[0x41], TAGS[-1]], ids=lambda c: f"U+{ord(c):04X}"
)
def test_text_reordering_or_hiding_characters_are_removed(char):
    assert p.decode(f"a{char}b".encode()) == "ab"


def test_every_tag_character_is_removed():
    assert p.decode(("x".join(TAGS)).encode()) == "x" * (len(TAGS) - 1)
    england = "\U0001f3f4" + "".join(chr(0xE0000 + ord(c)) for c in "gbeng") + "\U000e007f"
    assert p.decode(england.encode()) == "\U0001f3f4"  # documented: a plain black flag


def test_removed_characters_are_all_non_printable_so_the_fast_path_is_sound():
    every = "".join(map(chr, range(sys.maxunicode + 1)))
    removed = p._CONTROLS.findall(every)
    assert set(REMOVED) <= set(removed)
    assert not any(c.isprintable() for c in removed)


def test_printable_text_passes_the_fast_path_untouched():
    text = "héllo wörld ☃ 👍🏽 🇫🇷 日本語 עברית مرحبا\ttab"
    assert text.replace("\t", "").isprintable()
    assert p.decode(text.encode()) == text


def test_joiners_and_emoji_sequences_stay_on_the_slow_path_too():
    family = "👩\u200d👩\u200d👧"  # ZWJ sequence
    persian = "می\u200cخواهم"  # ZWNJ
    keycap = "1\ufe0f\u20e3"  # variation selector and combining keycap
    text = f"{family} {persian} {keycap}"
    assert not text.isprintable()  # ZWJ and ZWNJ are format characters: the slow path
    assert p.decode(f"\u202e{text}\x1b\u2069".encode()) == text


def test_trojan_source_line_is_relayed_in_logical_order(chat):
    a, b = clients(chat, 2)
    a.say("/me says \u202eolleh\u202c and \u2067hi\u2069")
    a.say("/msg guest2 x\u2028y\U000e0041\U000e0042z")
    a.say("hidden\U000e0069\U000e0067\U000e006e tags\u2029")
    assert b.take() == ["* guest1 says olleh and hi", "*guest1* xyz", "<guest1> hidden tags"]


MIXED = st.sampled_from([*BIDI, *SEPARATORS, *TAGS[::16], "a", " ", "\t", "\x1b", "é", "\u200d"])


@given(st.one_of(st.text(), st.text(MIXED)))
def test_decoded_text_never_holds_a_removed_character(text):
    out = p.decode(text.encode("utf-8", "surrogatepass"))
    assert not any(c in out for c in REMOVED)
    if text.isprintable():
        assert out == text


# User text inside a server line is capped and its white space collapsed.


def test_quit_reason_white_space_runs_collapse_to_one_space(chat):
    a, b = clients(chat, 2)
    a.say("/quit gotta \t  go\t\tnow")
    a.quit()
    assert b.take() == ["*** guest1 left #lobby (gotta go now)"]


def test_quit_reason_cannot_be_padded_to_look_like_a_server_line(chat):
    a, b = clients(chat, 2)
    a.say("/quit bye" + " " * 300 + "*** guest2 is now known as admin")
    a.quit()
    assert b.take() == ["*** guest1 left #lobby (bye *** guest2 is now known as admin)"]


def test_quit_reason_is_capped_at_120_characters_with_an_ellipsis(chat):
    a, b = clients(chat, 2)
    a.say("/quit " + "😀" * 200)
    assert a.quit_reason == "😀" * 119 + "…"
    a.quit()
    assert b.take() == [f"*** guest1 left #lobby ({'😀' * 119}…)"]


def test_quit_reason_at_the_cap_is_not_cut(chat):
    (a,) = clients(chat, 1)
    a.say("/quit " + "r" * 120)
    assert a.quit_reason == "r" * 120


def test_quoted_arguments_in_errors_collapse_white_space_and_are_capped(chat):
    (a,) = clients(chat, 1)
    a.say("/nick al \t ice")
    a.say("/join no \t\t way")
    a.say("/msg a\t\tb hi")
    a.say("/dance\t\twildly now")
    a.say("/nick " + "n" * 100)
    assert a.take() == [
        "*** error: invalid nick al ice (1-24 letters, digits, _ or -, starting with a letter)",
        "*** error: invalid room no way (1-32 letters, digits, _ or -, starting with a "
        "letter, after an optional #)",
        "*** error: no such nick a b",
        "*** error: unknown command /dance wildly (try /help)",
        f"*** error: invalid nick {'n' * 39}… (1-24 letters, digits, _ or -, starting with "
        "a letter)",
    ]


def test_chat_text_keeps_its_inner_white_space(chat):
    a, b = clients(chat, 2)
    a.say("  two  spaces\tand a tab   ")
    assert b.take() == ["<guest1>   two  spaces\tand a tab"]


def test_quote():
    assert p.quote("  a \t\u3000 b\u00a0\u00a0c  ", 10) == "a b c"
    assert p.quote("abcdef", 6) == "abcdef"
    assert p.quote("abcdefg", 6) == "abcde…"
    assert p.quote("", 6) == ""
