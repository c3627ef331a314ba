"""@record: a frozen, slotted dataclass that is cheap to make.

A frozen dataclass's generated __init__ sets each field through object.__setattr__, which
costs more than the rest of a chat line's trip through the core; an intent and an
outcome are made per line.  Setting the slots through their descriptors (what
object.__setattr__ ends up calling) is faster, and plain attribute stores on a class that
does not override __setattr__ are faster still: so a record is built as an instance of a
twin class with the same slots and no __setattr__, then given the record's class (the
layouts are the same, so Python allows it).  Everything else is the dataclass's: eq,
repr, hash, fields, replace, and FrozenInstanceError on assignment.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")


@dataclass_transform(frozen_default=True)
def record(cls: type[T]) -> type[T]:
    made: Any = dataclasses.dataclass(frozen=True, slots=True)(cls)
    names = [field.name for field in dataclasses.fields(made)]
    twin = type(f"{made.__name__}Fields", (), {"__slots__": tuple(names)})
    namespace: dict[str, Any] = {"_new": object.__new__, "_twin": twin}
    params = []
    for field in dataclasses.fields(made):
        if field.default is dataclasses.MISSING:
            params.append(field.name)
        else:
            namespace[f"_default_{field.name}"] = field.default
            params.append(f"{field.name}=_default_{field.name}")
    body = [f"    self.{name} = {name}" for name in names]
    source = "\n".join(
        [
            f"def __new__(cls, {', '.join(params)}):",
            "    self = _new(_twin)",
            *body,
            "    self.__class__ = cls",
            "    return self",
        ]
    )
    exec(source, namespace)  # the same technique dataclasses uses to build __init__
    new = namespace["__new__"]
    new.__qualname__ = f"{made.__qualname__}.__new__"
    made.__new__ = new
    del made.__init__  # object's: the fields are set by __new__
    return made  # type: ignore[no-any-return]
