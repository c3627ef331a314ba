"""The bus's encoding of intents: versioned, compact, checked field by field.

A frame is a 4-byte big-endian length, then the body: one version byte, then the JSON
array ``[kind, field, ...]`` of one intent, fields in their dataclass order (tuples as
arrays).  Decoding checks every field's type, so a frame that decodes is an intent the
chat can apply; the master still checks that a worker speaks only for its own users
(bus.check_from_worker).
"""

from __future__ import annotations

import dataclasses
import json
import struct
from collections.abc import Callable
from typing import Any

from .clusterevents import CLUSTER_INTENTS
from .core import intents as i
from .core.intents import Intent

VERSION = 1
HEADER = struct.Struct("!I")
_VERSION_BYTE = bytes([VERSION])
MAX_CHANGES = 64  # mode changes in one intent (a front-end sends far fewer)
MAX_ARGS = 16


class CodecError(ValueError):
    """A body that is not an intent of this version."""


def _text(value: Any) -> Any:
    if value.__class__ is not str:
        raise CodecError("not a string")
    return value


def _optional_text(value: Any) -> Any:
    return None if value is None else _text(value)


def _flag(value: Any) -> Any:
    if value.__class__ is not bool:
        raise CodecError("not a boolean")
    return value


def _whole(value: Any) -> Any:
    if value.__class__ is not int:
        raise CodecError("not a whole number")
    return value


def _number(value: Any) -> Any:
    if value.__class__ is not float and value.__class__ is not int:
        raise CodecError("not a number")
    return float(value)


def _strings(value: Any) -> Any:
    if value.__class__ is not list or len(value) > MAX_ARGS:
        raise CodecError("not a short list")
    return tuple(map(_text, value))


def _changes(value: Any) -> Any:
    if value.__class__ is not list or len(value) > MAX_CHANGES:
        raise CodecError("not a short list of changes")
    out = []
    for change in value:
        if change.__class__ is not list or len(change) != 2:
            raise CodecError("not a change")
        out.append((_text(change[0]), _text(change[1])))
    return tuple(out)


def _mapping(value: Any) -> Any:
    if value.__class__ is not dict:
        raise CodecError("not a mapping")
    return value


def _optional_mapping(value: Any) -> Any:
    return None if value is None else _mapping(value)


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "str": _text,
    "str | None": _optional_text,
    "bool": _flag,
    "int": _whole,
    "float": _number,
    "tuple[str, ...]": _strings,
    "tuple[Change, ...]": _changes,
    "dict[str, Any]": _mapping,
    "dict[str, Any] | None": _optional_mapping,
}


@dataclasses.dataclass(frozen=True)
class Kind:
    name: str
    cls: type
    fields: tuple[str, ...]
    checks: tuple[Callable[[Any], Any], ...]
    required: int  # fields without a default


def _kind(cls: type) -> Kind:
    fields = dataclasses.fields(cls)
    return Kind(
        name=cls.__name__.lower(),
        cls=cls,
        fields=tuple(f.name for f in fields),
        checks=tuple(_CHECKS[str(f.type)] for f in fields),
        required=sum(f.default is dataclasses.MISSING for f in fields),
    )


# A cluster's own kinds (chatd.clusterevents) come last; without a cluster none is sent.
KINDS: dict[type, Kind] = {
    cls: _kind(cls) for cls in (*i.USER_INTENTS, *i.MASTER_INTENTS, *CLUSTER_INTENTS)
}
BY_NAME: dict[str, Kind] = {kind.name: kind for kind in KINDS.values()}


def encode(intent: Intent) -> bytes:
    """One frame: header, version, body."""
    kind = KINDS[intent.__class__]
    body = json.dumps(
        [kind.name, *[getattr(intent, name) for name in kind.fields]],
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    return HEADER.pack(len(body) + 1) + _VERSION_BYTE + body


def decode_body(body: bytes) -> Intent:
    """A frame's body (after the header) -> its intent; CodecError if it is not one."""
    if body[:1] != _VERSION_BYTE:
        raise CodecError(f"not version {VERSION}")
    try:
        value = json.loads(body[1:])
    except (ValueError, RecursionError) as exc:  # RecursionError: [[[[... nested too deep
        raise CodecError(f"not JSON ({type(exc).__name__})") from None
    if value.__class__ is not list or not value or value[0].__class__ is not str:
        raise CodecError("not an intent")
    kind = BY_NAME.get(value[0])
    if kind is None:
        raise CodecError("an unknown kind")
    args = value[1:]
    if not kind.required <= len(args) <= len(kind.fields):
        raise CodecError(f"{len(args)} fields for {kind.name}")
    return kind.cls(*[check(arg) for check, arg in zip(kind.checks, args, strict=False)])
