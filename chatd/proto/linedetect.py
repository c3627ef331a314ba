"""Spotting IRC clients and web browsers on the line port by their first lines.

Only the shapes those programs send match, in their exact case: an IRC client opens with
``CAP LS``/``CAP REQ``, ``PASS word``, ``USER u m h :real`` or ``NICK n`` followed by such a
USER line; a browser with a request line such as ``GET / HTTP/1.1``.  A person who types
"nick bob", "CAP lock is on" or "GET me a coffee" is chatting, and is relayed as ever.
A first line ``NICK n`` alone is held until the next line tells which it is.
"""

from __future__ import annotations

import re

IRC, HTTP, CHAT, MORE = "irc", "http", "chat", "more"

_IRC_FIRST = re.compile(
    r"CAP (?:LS(?: \d+)?|LIST|END|REQ :?\S.*)"
    r"|PASS :?\S+"
    r"|USER \S+ \S+ \S+ :.*"
)
_NICK = re.compile(r"NICK :?[^\s:]\S*")
_USER = re.compile(r"USER \S+ \S+ \S+ (?::.*|\S+)")
_HTTP = re.compile(
    r"(?:GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH|CONNECT|TRACE|PRI) \S+ HTTP/\d(?:\.\d)?"
)


def look(first: str, second: str | None) -> str:
    """IRC, HTTP or CHAT for a connection's first line (and its second, once there is
    one); MORE: the first line could be either, wait for the second."""
    first = first.rstrip()
    if _IRC_FIRST.fullmatch(first):
        return IRC
    if _HTTP.fullmatch(first):
        return HTTP
    if _NICK.fullmatch(first):
        if second is None:
            return MORE
        return IRC if _USER.fullmatch(second.rstrip()) else CHAT
    return CHAT


def irc_port_text(port: int | None) -> str:
    if port is None:
        return "this is chatd's line-protocol port, and this server has no IRC port"
    return f"this is chatd's line-protocol port; IRC clients connect to port {port}"


HTTP_TEXT = "this is a chat server (chatd line protocol), not a web server"
IRC_REASON = "IRC client on the line port"
HTTP_REASON = "HTTP request on the line port"
