"""Where a Redis server is: a ``redis://`` or ``rediss://`` URL, or a unix socket.

Accepted forms (the first two are the usual Redis URL scheme):

* ``redis://[user[:password]@]host[:port][/db]``: TCP, port 6379 by default, db 0;
  ``[::1]`` for an IPv6 address; user and password may be percent-encoded.
* ``rediss://...``: the same over TLS (``tls`` is true).
* ``unix://[user[:password]@]/path/to/redis.sock[?db=N]``, or a bare absolute path
  ``/run/redis/redis.sock``: a unix socket.

A password alone gives ``AUTH password`` (the ``default`` user, ``requirepass``); a user
and password give ``AUTH user password`` (an ACL user).  Errors say what is wrong in
words, after the setting's name, and never repeat the password.
"""

from __future__ import annotations

import dataclasses
import urllib.parse

DEFAULT_PORT = 6379
MAX_DB = 2**31 - 1  # Redis keeps the db index in an int; the server's `databases` caps it


class RedisTargetError(ValueError):
    """A connection target that cannot be used; the message names the setting."""


@dataclasses.dataclass(frozen=True)
class RedisTarget:
    host: str | None = None  # TCP: a host name or an IP address
    port: int = DEFAULT_PORT
    path: str | None = None  # unix: the socket's path
    db: int = 0
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    tls: bool = False

    @property
    def is_unix(self) -> bool:
        return self.path is not None

    def describe(self) -> str:
        """Where, for a log line: 'redis://127.0.0.1:6379/2' or 'unix:/run/redis.sock'."""
        if self.path is not None:
            where = f"unix:{self.path}"
        else:
            host = f"[{self.host}]" if self.host and ":" in self.host else self.host
            where = f"{'rediss' if self.tls else 'redis'}://{host}:{self.port}"
        return where if self.db == 0 else f"{where}/{self.db}"

    def hello_commands(self) -> list[tuple[str, ...]]:
        """What every (re)connection sends before anything else: AUTH, then SELECT."""
        commands: list[tuple[str, ...]] = []
        if self.password is not None:
            if self.username is not None:
                commands.append(("AUTH", self.username, self.password))
            else:
                commands.append(("AUTH", self.password))
        if self.db != 0:
            commands.append(("SELECT", str(self.db)))
        return commands


def parse_target(text: object, key: str = "cluster.redis") -> RedisTarget:
    """The target that text names; RedisTargetError("<key>: ...") if it names none."""

    def fail(problem: str) -> RedisTargetError:
        return RedisTargetError(f"{key}: {problem}")

    if not isinstance(text, str):
        raise fail(f"must be a redis:// or rediss:// URL or a unix socket path, not {text!r}")
    text = text.strip()
    if not text:
        raise fail("is empty: give a redis://host:port URL or a unix socket path")
    if text.startswith("/"):
        return RedisTarget(path=text)
    scheme, sep, _ = text.partition("://")
    if not sep:
        raise fail(f"{_redact(text)!r} is neither a URL (redis://host:port) nor an absolute path")
    scheme = scheme.lower()
    if scheme not in ("redis", "rediss", "unix"):
        raise fail(f"unknown scheme {scheme + '://'!r}: use redis://, rediss:// or unix://")
    parts = urllib.parse.urlsplit(text)
    shown = _redact(text)
    if parts.fragment:
        raise fail(f"{shown!r} has a '#' part, which means nothing here")
    username, password = _credentials(parts, shown, fail)
    query_db = _query_db(parts.query, shown, fail)
    if scheme == "unix":
        if parts.hostname:
            raise fail(f"{shown!r}: write unix:///path (three slashes), a unix URL has no host")
        if not parts.path.startswith("/"):
            raise fail(f"{shown!r}: a unix socket needs an absolute path (unix:///run/redis.sock)")
        db = 0 if query_db is None else query_db
        return RedisTarget(path=parts.path, db=db, username=username, password=password)
    host = parts.hostname
    if not host:
        raise fail(f"{shown!r} has no host (redis://host:port)")
    try:
        port = parts.port if parts.port is not None else DEFAULT_PORT
    except ValueError:
        raise fail(f"{shown!r}: the port must be a number from 1 to 65535") from None
    if port == 0:
        raise fail(f"{shown!r}: the port must be a number from 1 to 65535")
    db = _path_db(parts.path, shown, fail)
    if query_db is not None:
        if db is not None and db != query_db:
            raise fail(f"{shown!r} names two databases: /{db} and ?db={query_db}")
        db = query_db
    return RedisTarget(
        host=host,
        port=port,
        db=db or 0,
        username=username,
        password=password,
        tls=scheme == "rediss",
    )


def _credentials(parts: urllib.parse.SplitResult, shown: str, fail) -> tuple[str | None, ...]:
    username = urllib.parse.unquote(parts.username) if parts.username else None
    password = urllib.parse.unquote(parts.password) if parts.password is not None else None
    if password == "":
        password = None
    if username is not None and password is None:
        raise fail(f"{shown!r}: the user {username!r} needs a password (user:password@host)")
    return username, password


def _parse_db(value: str, shown: str, fail) -> int:
    if not value.isdigit() or not value.isascii():
        raise fail(f"{shown!r}: the database {value!r} is not a number (0, 1, 2...)")
    db = int(value)
    if db > MAX_DB:
        raise fail(f"{shown!r}: the database {db} is out of range")
    return db


def _path_db(path: str, shown: str, fail) -> int | None:
    if path in ("", "/"):
        return None
    return _parse_db(path[1:], shown, fail)


def _query_db(query: str, shown: str, fail) -> int | None:
    if not query:
        return None
    try:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise fail(f"{shown!r}: cannot read the '?' part (use ?db=N)") from None
    db = None
    for name, value in pairs:
        if name != "db":
            raise fail(f"{shown!r}: unknown option {name!r} (only ?db=N is known)")
        if db is not None:
            raise fail(f"{shown!r}: ?db= is given twice")
        db = _parse_db(value, shown, fail)
    return db


def _redact(text: str) -> str:
    """The URL with its password replaced by '***', for an error message."""
    scheme, sep, rest = text.partition("://")
    userinfo, at, location = rest.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return text
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{location}"
