"""What a Redis client sends: commands encoded as RESP, and the few the cluster needs.

``encode`` writes a command as Redis reads one, a RESP array of bulk strings (replies are
parsed by hiredis, not here).  ``Commands`` builds the arguments of XADD, XREAD, SET,
GET, DEL and EVAL for any class with ``call(*args, callback=..., block=...)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Arg = bytes | bytearray | memoryview | str | int
Callback = Callable[[Any], None]

# Compare-and-set: SET key new only while it holds old; 1 if it did, else 0.  A lease
# holder refreshes its own lease with it and never one that another node took over.
CAS_SCRIPT = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "if ARGV[3] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) "
    "else redis.call('SET', KEYS[1], ARGV[2]) end return 1 end return 0"
)


class ConnectionLost(Exception):
    """The reply will not come: the connection dropped (the command may have run)."""


def encode(*args: Arg) -> bytes:
    """A command as Redis reads it: a RESP array of bulk strings."""
    if not args:
        raise ValueError("a Redis command needs at least its name")
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, bool):  # True would become "True": say what was meant
            raise TypeError("a Redis argument cannot be a bool: pass 1/0 or a string")
        elif isinstance(arg, int):
            data = b"%d" % arg
        elif isinstance(arg, bytes | bytearray | memoryview):
            data = bytes(arg)
        else:
            raise TypeError(f"a Redis argument must be bytes, str or int, not {type(arg).__name__}")
        parts += (b"$%d\r\n" % len(data), data, b"\r\n")
    return b"".join(parts)


class Commands:
    """Thin wrappers: each builds one command's arguments and hands them to call()."""

    def call(self, *args: Arg, callback: Callback | None = None, block: float = 0.0) -> bool:
        raise NotImplementedError

    def get(self, key: Arg, callback: Callback | None = None) -> bool:
        return self.call("GET", key, callback=callback)

    def set(
        self,
        key: Arg,
        value: Arg,
        callback: Callback | None = None,
        *,
        px: int | None = None,
        nx: bool = False,
        xx: bool = False,
    ) -> bool:
        """SET key value [PX ms] [NX|XX]: with NX and PX, a lease only one holder gets."""
        if nx and xx:
            raise ValueError("SET takes NX or XX, not both")
        args: list[Arg] = ["SET", key, value]
        if px is not None:
            args += ["PX", px]
        args += ["NX"] if nx else ["XX"] if xx else []
        return self.call(*args, callback=callback)

    def delete(self, *keys: Arg, callback: Callback | None = None) -> bool:
        return self.call("DEL", *keys, callback=callback)

    def xadd(
        self,
        key: Arg,
        fields: Mapping[Arg, Arg] | Sequence[tuple[Arg, Arg]],
        callback: Callback | None = None,
        *,
        id: Arg = "*",
        maxlen: int | None = None,
        minid: Arg | None = None,
        exact: bool = False,
    ) -> bool:
        """XADD key [MAXLEN|MINID ~ n] id field value...; the reply is the entry's id."""
        if maxlen is not None and minid is not None:
            raise ValueError("XADD trims by MAXLEN or by MINID, not both")
        pairs = list(fields.items()) if isinstance(fields, Mapping) else list(fields)
        if not pairs:
            raise ValueError("XADD needs at least one field and value")
        args: list[Arg] = ["XADD", key]
        # "~" lets Redis trim whole nodes only: far cheaper, and a few entries more stay.
        if maxlen is not None:
            args += ["MAXLEN", "=" if exact else "~", maxlen]
        elif minid is not None:
            args += ["MINID", "=" if exact else "~", minid]
        args.append(id)
        for field, value in pairs:
            args += [field, value]
        return self.call(*args, callback=callback)

    def xread(
        self,
        streams: Mapping[Arg, Arg],
        callback: Callback | None = None,
        *,
        block_ms: int | None = None,
        count: int | None = None,
    ) -> bool:
        """XREAD [COUNT n] [BLOCK ms] STREAMS key... id...: entries after each id.

        The reply is None when BLOCK timed out, else [[key, [[id, [field, value...]]...]]...].
        BLOCK holds this connection: give the reading its own client.
        """
        if not streams:
            raise ValueError("XREAD needs at least one stream")
        args: list[Arg] = ["XREAD"]
        if count is not None:
            args += ["COUNT", count]
        if block_ms is not None:
            args += ["BLOCK", block_ms]
        args += ["STREAMS", *streams.keys(), *streams.values()]
        # BLOCK 0 waits forever, so no timeout can tell a dead connection: prefer a bound.
        block = math.inf if block_ms == 0 else (block_ms or 0) / 1000
        return self.call(*args, callback=callback, block=block)

    def eval(
        self,
        script: str,
        keys: Sequence[Arg] = (),
        args: Sequence[Arg] = (),
        callback: Callback | None = None,
    ) -> bool:
        return self.call("EVAL", script, len(keys), *keys, *args, callback=callback)

    def compare_and_set(
        self,
        key: Arg,
        old: Arg,
        new: Arg,
        callback: Callback | None = None,
        *,
        px: int | None = None,
    ) -> bool:
        """SET key new [PX ms] only if key holds old, atomically (a Lua script)."""
        args = [old, new] if px is None else [old, new, px]
        return self.eval(CAS_SCRIPT, [key], args, callback)
