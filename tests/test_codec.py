"""The bus codec: every intent type survives encode -> decode exactly; bodies that are not
an intent of this version are refused with CodecError."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatd import codec
from chatd.clusterevents import CLUSTER_INTENTS
from chatd.core import intents as i

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
FIELD = {
    "str": st.text(),
    "str | None": st.none() | st.text(),
    "bool": st.booleans(),
    "int": st.integers(-(2**53), 2**53),
    "float": st.floats(allow_nan=False, allow_infinity=False),
    "tuple[str, ...]": st.lists(st.text(), max_size=codec.MAX_ARGS).map(tuple),
    "tuple[Change, ...]": st.lists(
        st.tuples(st.text(max_size=3), st.text()), max_size=codec.MAX_CHANGES
    ).map(tuple),
    "dict[str, Any]": st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=4),
    "dict[str, Any] | None": st.none()
    | st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=4),
}


def _intents(cls: type) -> st.SearchStrategy:
    return st.builds(cls, *[FIELD[str(f.type)] for f in dataclasses.fields(cls)])


ALL_KINDS = [*i.USER_INTENTS, *i.MASTER_INTENTS, *CLUSTER_INTENTS]


def test_every_intent_type_has_a_kind_of_its_own():
    assert set(codec.KINDS) == set(ALL_KINDS)
    assert len(codec.BY_NAME) == len(ALL_KINDS)


@pytest.mark.parametrize("cls", ALL_KINDS, ids=lambda cls: cls.__name__)
@given(data=st.data())
def test_every_intent_survives_the_codec(cls, data):
    intent = data.draw(_intents(cls))
    frame = codec.encode(intent)
    assert codec.HEADER.unpack_from(frame)[0] == len(frame) - 4
    assert frame[4] == codec.VERSION
    decoded = codec.decode_body(frame[4:])
    assert decoded == intent and decoded.__class__ is cls


def test_a_frame_is_the_version_then_compact_json_of_the_kind_and_fields():
    frame = codec.encode(i.Say("0:1", "#lobby", "hé"))
    assert frame[4:] == b'\x01["say","0:1","#lobby","h\xc3\xa9"]'
    assert codec.decode_body(b'\x01["join","0:1","#a"]') == i.Join("0:1", "#a")  # defaults


@pytest.mark.parametrize(
    "body",
    [
        b'\x02["say","0:1","","x"]',
        b'["say","0:1","","x"]',
        b"\x01",
        b"\x01not json",
        b"\x01{}",
        b"\x01[]",
        b"\x01[5]",
        b'\x01["nosuch","0:1"]',
        b'\x01["say","0:1",""]',
        b'\x01["say","0:1","","x","extra"]',
        b'\x01["say","0:1","",["x"]]',
        b'\x01["join","0:1","#a","",1]',
        b'\x01["topic","0:1","#a",null,true]',
        b'\x01["gone",1.5,"x"]',
        b'\x01["gone",true,"x"]',
        b'\x01["reject","0:1","usage",[1]]',
        b'\x01["mode","0:1","#a",[["+o","b","c"]]]',
        b'\x01["settings",[]]',
        b"\x01" + b"[" * 100_000,
    ],
)
def test_what_is_not_an_intent_is_refused(body):
    with pytest.raises(codec.CodecError):
        codec.decode_body(body)


def test_a_whole_number_is_a_time():
    body = b"\x01" + json.dumps(["topic", "0:1", "#a", "t", 7]).encode()
    assert codec.decode_body(body) == i.Topic("0:1", "#a", "t", 7.0)
