"""One YAML mapping read from a file, with PyYAML's traps closed.

PyYAML lets the last of two equal keys win silently, dumps a reader error over several
lines, and lets ValueError (an int of 5,000 digits, a 13th month) and RecursionError
(deep nesting) escape as tracebacks.  Here each is one YamlError: a message for after
"FILE: " (and the key, for a key given twice).
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node

MERGE = "tag:yaml.org,2002:merge"


class YamlError(Exception):
    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.message, self.key = message, key


class _DuplicateKey(ConstructorError):
    def __init__(self, key: Any, first: int, again: Node) -> None:
        super().__init__(None, None, f"duplicate key {key!r}", again.start_mark)
        self.key, self.lines = key, (first + 1, again.start_mark.line + 1)


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping, and names the line of a
    value Python cannot hold."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            self._refuse_duplicates(node)
        return super().construct_mapping(node, deep=deep)

    def _refuse_duplicates(self, node: MappingNode) -> None:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == MERGE:  # "<<": keys given after it override, by design
                continue
            key = self.construct_object(key_node)
            try:
                first = seen.setdefault(key, key_node.start_mark.line)
            except TypeError:  # unhashable: the base constructor reports it
                continue
            if first != key_node.start_mark.line:
                raise _DuplicateKey(key, first, key_node)

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as exc:
            reason = str(exc).split(";")[0]
            raise ConstructorError(
                None, None, f"cannot read this value ({reason})", node.start_mark
            ) from None


def read_mapping(path: str, limit: int) -> dict[Any, Any]:
    """The file's mapping ({} for an empty file); OSError or YamlError otherwise."""
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise YamlError(f"larger than {limit >> 20} MiB: not a config file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise YamlError(f"not UTF-8 text (line {line})") from None
    try:
        value = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKey as exc:
        first, again = exc.lines
        raise YamlError(f"given twice, at lines {first} and {again}", _key(exc.key)) from None
    except yaml.reader.ReaderError as exc:
        raise YamlError(_reader_problem(text, exc)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise YamlError(f"invalid YAML{where}: {problem}") from None
    except RecursionError:
        raise YamlError("invalid YAML: nested too deeply") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise YamlError(f"must be a YAML mapping of keys, got {type(value).__name__}")
    return value


def _reader_problem(text: str, exc: yaml.reader.ReaderError) -> str:
    line = text.count("\n", 0, exc.position) + 1
    code = exc.character if isinstance(exc.character, int) else ord(exc.character)
    what = "a NUL byte" if code == 0 else f"the control character U+{code:04X}"
    return f"invalid YAML at line {line}: {what} is not allowed"


def _key(key: Any) -> str:
    return key if isinstance(key, str) and len(key) <= SHOWN else shown(key)


SHOWN = 80  # characters of a bad value an error quotes


def shown(value: Any) -> str:
    """repr() of a value for an error message, cut to about SHOWN characters."""
    try:
        text = repr(value)
    except ValueError:  # an int too long for str()
        return "a number of thousands of digits"
    if len(text) <= SHOWN:
        return text
    return f"{text[: SHOWN - 20]}… ({len(text)} characters)"
