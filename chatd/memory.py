"""Process memory hygiene.

glibc keeps the heap a burst used (a join storm of 10,000 clients leaves megabytes of
freed queue storage mapped); malloc_trim(0) hands the free pages back to the OS.
Elsewhere than glibc there is nothing to do.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # not glibc: nothing to trim
        return None


_TRIM = _malloc_trim()


def release_free_heap() -> None:
    if _TRIM is not None:
        _TRIM(0)
