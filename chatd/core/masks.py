"""Ban masks ("nick!user@host" with '*' and '?'), matched in steps linear in the mask and
the subject: a backtracking matcher (or a regular expression of '.*'s) takes exponential
time on a mask like "*a*a*a…*b", and a room operator chooses the masks."""

from __future__ import annotations

from functools import lru_cache
from typing import Final

from .names import fold

_STAR: Final = "**"  # wildcards as two-character tokens: a literal token is one character
_ANY: Final = "??"


def _tokens(mask: str) -> list[str]:
    """The mask as tokens: '*' runs collapsed, '\\' making the next character literal."""
    out: list[str] = []
    i, n = 0, len(mask)
    while i < n:
        c = mask[i]
        if c == "\\" and i + 1 < n:
            i += 1
            out.append(mask[i])
        elif c == "*":
            if not out or out[-1] != _STAR:
                out.append(_STAR)
        else:
            out.append(_ANY if c == "?" else c)
        i += 1
    return out


def _match(pattern: list[str], text: str) -> tuple[bool, int]:
    """Whether the tokens match all of text, and the loop's step count.

    Two pointers, and on a mismatch a return to just after the last '*' with one more
    character given to it: a '*' before that one never needs to take more, so the steps
    are at most (len(text) + 1) * (len(pattern) + 1), never exponential as backtracking is.
    """
    p = t = steps = 0
    star = -1
    mark = 0
    n_pattern, n_text = len(pattern), len(text)
    while t < n_text:
        steps += 1
        token = pattern[p] if p < n_pattern else None
        if token == _STAR:
            star, mark = p, t
            p += 1
        elif token is not None and (token == _ANY or token == text[t]):
            p += 1
            t += 1
        elif star >= 0:
            mark += 1
            p, t = star + 1, mark
        else:
            return False, steps
    while p < n_pattern and pattern[p] == _STAR:
        p += 1
    return p == n_pattern, steps


def mask_matches(mask: str, subject: str) -> bool:
    """Whether ``subject`` ("nick!user@host") matches ``mask``: '*' any run, '?' any one
    character, '\\' quoting either; ASCII letters match either case."""
    return _match(_folded_tokens(mask), fold(subject))[0]


@lru_cache(maxsize=256)
def _folded_tokens(mask: str) -> list[str]:
    return _tokens(fold(mask))


def normalise_mask(mask: str) -> str:
    """The full nick!user@host form of a ban mask as users type it: "nick" is nick!*@*,
    "user@host" and "*@host" get "*!", "nick!user" gets "@*", a bare name with a '.' or
    ':' is a host; an empty part is '*'."""
    at = mask.rfind("@")
    head, host = (mask[:at], mask[at + 1 :]) if at >= 0 else (mask, "")
    nick, bang, user = head.partition("!")
    if not bang:
        if at >= 0:
            nick, user = "", head
        elif "." in head or ":" in head:  # nicks hold neither: a host
            nick, host = "", head
    return f"{nick or '*'}!{user or '*'}@{host or '*'}"
