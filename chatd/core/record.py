"""@record: a frozen, slotted dataclass whose __init__ is cheap.

A frozen dataclass's generated __init__ sets each field through object.__setattr__, which
costs more than the rest of a chat line's trip through the core; an intent and an
outcome are made per line, so this one sets the slots through their descriptors instead
(what object.__setattr__ ends up calling).  Everything else is the dataclass's: eq, repr,
hash, and FrozenInstanceError on assignment.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")


@dataclass_transform(frozen_default=True)
def record(cls: type[T]) -> type[T]:
    made: Any = dataclasses.dataclass(frozen=True, slots=True)(cls)
    namespace: dict[str, Any] = {}
    params, body = [], []
    for field in dataclasses.fields(made):
        name = field.name
        namespace[f"_set_{name}"] = getattr(made, name).__set__
        if field.default is dataclasses.MISSING:
            params.append(name)
        else:
            namespace[f"_default_{name}"] = field.default
            params.append(f"{name}=_default_{name}")
        body.append(f"    _set_{name}(self, {name})")
    source = f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body or ["    pass"])
    exec(source, namespace)  # the same technique dataclasses uses to build __init__
    init = namespace["__init__"]
    init.__qualname__ = f"{made.__qualname__}.__init__"
    made.__init__ = init
    return made  # type: ignore[no-any-return]
