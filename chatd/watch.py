"""When a connection must have been heard from: registration, idle and IRC ping deadlines.

Each connection has one timer, re-armed lazily (an active client costs nothing per line):
``due`` says when it should next look, ``check`` what it finds then.  The clocks:

- registration: from the connect, for a connection not in the chat yet (IRC before NICK,
  USER and CAP END; a line client before its /pass): talking does not stretch it;
- idle (``idle_timeout``, both protocols): since the user last sent anything that is not
  a keep-alive (IRC's PING and PONG prove the connection, not the user);
- ping (``irc_ping_interval``, IRC users only): after that long without any input the
  server sends PING; any input within the next interval answers it, else "Ping timeout".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .connection import IDLE

if TYPE_CHECKING:
    from .connection import Connection

PING = "ping"  # check's word for "send a PING now"
REGISTRATION_TIMEOUT = "Registration timeout"
PING_TIMEOUT = "Ping timeout"


@dataclass(frozen=True)
class Limits:
    idle: float = 0  # idle_timeout; 0: never
    ping: float = 0  # irc_ping_interval; 0: never


def due(conn: Connection, limits: Limits, deadline: float | None, irc: bool) -> float | None:
    """When the timer should look next; None: nothing to watch.  deadline: the
    registration deadline of a connection not in the chat yet."""
    times = [] if deadline is None else [deadline]
    if limits.idle:
        times.append(conn.last_active + limits.idle)
    if irc and deadline is None and limits.ping:
        times.append(max(conn.pinged, conn.last_heard) + limits.ping)
    return min(times, default=None)


def check(
    conn: Connection, now: float, limits: Limits, deadline: float | None, irc: bool
) -> str | None:
    """None, PING (sent now: the caller writes it), or why the connection must close."""
    if deadline is not None and now >= deadline:
        return REGISTRATION_TIMEOUT
    if limits.idle and now - conn.last_active >= limits.idle:
        return IDLE
    if irc and deadline is None and limits.ping:
        if conn.pinged > conn.last_heard:  # a PING is out and nothing came since
            if now - conn.pinged >= limits.ping:
                return PING_TIMEOUT
        elif now - conn.last_heard >= limits.ping:
            conn.pinged = now
            return PING
    return None
