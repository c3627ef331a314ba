"""Connections that are not in the chat yet, and the server password.

An IRC connection before it registers and a line connection before its /pass are this
process's alone (the chat knows nothing of them), yet each holds a socket: they count
against ``max_clients`` and ``max_clients_per_ip`` with the chat's users, and each has a
registration deadline.  The password is compared in constant time, as bytes, and never
shown anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from collections.abc import Hashable

from . import protocol as p

TRIES = 3  # wrong /pass attempts before a line connection is closed

# What a pending line client's line is, for the password gate.
ADMIT, WRONG, USAGE, QUIT, OTHER = "admit", "wrong", "usage", "quit", "other"


def matches(given: str, secret: str) -> bool:
    """True if given is the secret; the time taken depends neither on how alike they are
    nor on their lengths (compare_digest alone returns at once on a length mismatch)."""
    return hmac.compare_digest(_digest(given), _digest(secret))


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def line_gate(text: str, secret: str) -> str | None:
    """What a line from a client that has not given the password yet asks for (None: a
    blank line, nothing)."""
    text = text.strip()
    if not text:
        return None
    if not text.startswith("/") or text.startswith("//"):
        return OTHER
    name, arg = p.split_command(text)
    if name == "quit":
        return QUIT
    if name != "pass":
        return OTHER
    if not arg:
        return USAGE
    return ADMIT if matches(arg, secret) else WRONG


class Waiting:
    __slots__ = ("ip", "deadline", "tries")

    def __init__(self, ip: str, deadline: float) -> None:
        self.ip = ip
        self.deadline = deadline
        self.tries = 0


class Pending:
    """This process's connections not in the chat yet, by connection."""

    def __init__(self) -> None:
        self.waiting: dict[Hashable, Waiting] = {}
        self.per_ip: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self.waiting)

    def __contains__(self, conn: Hashable) -> bool:
        return conn in self.waiting

    def add(self, conn: Hashable, ip: str, deadline: float) -> None:
        self.waiting[conn] = Waiting(ip, deadline)
        self.per_ip[ip] += 1

    def get(self, conn: Hashable) -> Waiting | None:
        return self.waiting.get(conn)

    def deadline(self, conn: Hashable) -> float | None:
        waiting = self.waiting.get(conn)
        return None if waiting is None else waiting.deadline

    def discard(self, conn: Hashable) -> None:
        waiting = self.waiting.pop(conn, None)
        if waiting is not None:
            self.per_ip[waiting.ip] -= 1
            if not self.per_ip[waiting.ip]:
                del self.per_ip[waiting.ip]

    def refusal(
        self, ip: str, users: int, users_from_ip: int, most: int, most_per_ip: int
    ) -> tuple[str, tuple[str, ...]] | None:
        """Why one more connection from ip would be over a limit, counting the chat's users
        and the connections waiting here (the chat's own codes)."""
        if users + len(self.waiting) >= most:
            return "server_full", (str(most),)
        if most_per_ip and users_from_ip + self.per_ip.get(ip, 0) >= most_per_ip:
            return "per_ip", ()
        return None
