"""YAML -> a validated, frozen Config.  Every error names the key and where it came from.

Every number has a range the loop can use (no timer a select() cannot wait for, no value
float() cannot hold), paths are made absolute against the directory chatd was started in,
and the paths chatd must open are checked with the rest (``check_start``).
"""

from __future__ import annotations

import dataclasses
import errno
import ipaddress
import os
import re
import socket
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .peeraddr import first_overlap
from .yamlfile import SHOWN, YamlError, read_mapping, shown

EX_CONFIG = 78  # sysexits.h: configuration error

LOG_LEVELS = ("debug", "info", "warning", "error")
DEFAULTS = "(defaults)"
COMMAND_LINE = "command line"
MAX_FILE = 1 << 20  # a config file is a few KiB; anything past this is not one


def _cwd() -> str | None:
    try:
        return os.getcwd()
    except OSError:  # started in a directory that was removed
        return None


# Relative paths mean the directory chatd was started in, also after daemon mode moved
# to / and for a reload: taken once, when chatd starts (forked workers inherit it).
START_DIRECTORY = _cwd()


@dataclass(frozen=True)
class Listen:
    """One listener of the ``listen`` key; bind None: the top-level ``bind``."""

    protocol: str
    port: int
    bind: str | None = None
    tls: bool = False


PROTOCOLS = ("line", "irc")
LISTEN_KEYS = ("protocol", "bind", "port", "tls")
# `credential:NAME` names a file systemd passed with LoadCredential=NAME:PATH; it is read
# from $CREDENTIALS_DIRECTORY, which only the service's own user can read.
CREDENTIAL = "credential:"


@dataclass(frozen=True)
class Cluster:
    """The ``cluster`` key: several nodes serve one chat through one Redis stream."""

    # A redis://, rediss:// or unix:// URL or a socket path (chatd.redisurl); repr=False:
    # it may hold a password.
    redis: str = field(repr=False)
    name: str = "chatd"  # the prefix of every key, so several chats can share one Redis
    node: str = field(default_factory=lambda: _host_node())
    lease: float = 5.0  # seconds a node's lease lives without a refresh


CLUSTER_KEYS = ("redis", "name", "node", "lease")


class ConfigError(Exception):
    """A bad config: ``str()`` is the one line an operator needs."""

    def __init__(self, source: str, key: str | None, message: str) -> None:
        self.source, self.key, self.message = source, key, message
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Config:
    bind: str = "127.0.0.1"
    port: int = 5000
    max_clients: int = 1000
    max_clients_per_ip: int = 20
    ipv6_prefix_length: int = 64  # max_clients_per_ip counts an IPv6 client's /64 (peeraddr)
    max_line_bytes: int = 2048
    max_send_buffer: int = 262144
    flood_rate: float = 5
    flood_burst: int = 10
    idle_timeout: float = 0
    default_room: str = "lobby"
    server_name: str = field(default_factory=socket.gethostname)
    motd: str = ""
    workers: int | str = 1
    worker_timeout: float = 30
    log_level: str = "info"
    log_file: str | None = None
    log_messages: bool = False
    daemon: bool = False
    pidfile: str | None = None
    listen: tuple[Listen, ...] | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_handshake_timeout: float = 10
    registration_timeout: float = 60
    irc_ping_interval: float = 90
    server_password: str | None = field(default=None, repr=False)  # never in a log line
    cluster: Cluster | None = None
    # Not keys: the file it was read from, and where each key given came from.
    source: str = DEFAULTS
    origins: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def worker_count(self) -> int:
        if self.workers == "auto":
            return len(os.sched_getaffinity(0)) or 1
        return int(self.workers)

    def listeners(self) -> list[tuple[str, str, int]]:
        """(protocol, bind, port) of every listener: one line listener without ``listen``."""
        if self.listen is None:
            return [("line", self.bind, self.port)]
        return [(e.protocol, e.bind or self.bind, e.port) for e in self.listen]

    def listeners_tls(self) -> list[bool]:
        """Whether each of listeners() speaks TLS, in the same order."""
        return [bool(_field(e, "tls")) for e in self.listen or ()] or [False]

    def uses_tls(self) -> bool:
        return any(self.listeners_tls())

    def origin(self, key: str) -> str:
        """The file or "command line" a key's value came from."""
        return self.origins.get(key, DEFAULTS)


KEYS = tuple(f.name for f in dataclasses.fields(Config) if f.name not in ("source", "origins"))


# Validators take the raw YAML value and return the clean one or raise ValueError with
# the message that follows "KEY: " in the error.


def _range(
    low: float, high: float, whole: bool = True, zero: str | None = None
) -> Callable[[Any], Any]:
    """A number from low to high; zero, if named ("off", "never"), is accepted as well."""
    kind = "a whole number" if whole else "a number"
    bounds = f"from {low} to {high}"
    if zero:
        bounds = f"0 ({zero}) or {bounds}"

    def check(value: Any) -> Any:
        types = int if whole else (int, float)
        if isinstance(value, bool) or not isinstance(value, types) or value != value:
            raise ValueError(f"must be {kind}, got {shown(value)}")
        if not (low <= value <= high or (zero and value == 0)):
            raise ValueError(f"must be {kind} {bounds}, got {shown(value)}")
        return value

    return check


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {shown(value)}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {shown(value)}")
    return value


def _nonempty(value: Any) -> str:
    value = _text(value)
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _path_or_none(value: Any) -> str | None:
    if value is None:
        return None
    value = _nonempty(value)
    if "\0" in value:
        raise ValueError(f"must not contain a NUL character, got {shown(value)}")
    if os.path.isabs(value):
        return os.path.normpath(value)
    if START_DIRECTORY is None:
        raise ValueError(f"{shown(value)} is relative, and chatd's start directory is gone")
    return os.path.normpath(os.path.join(START_DIRECTORY, value))


def _address(value: Any) -> str:
    value = _text(value)
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(
            f"must be an IP address such as 127.0.0.1, 0.0.0.0 or ::, got {shown(value)}"
        ) from None
    return value


def _room(value: Any) -> str:
    from .protocol import normalise_room

    value = _text(value)
    if normalise_room(value) is None:
        raise ValueError(
            f"must be a room name (1-32 letters, digits, _ or -, starting with a letter), "
            f"got {shown(value)}"
        )
    return value


def _tls_file(value: Any) -> str | None:
    """A PEM file's path, or ``credential:NAME``: the file NAME in $CREDENTIALS_DIRECTORY."""
    if not (isinstance(value, str) and value.startswith(CREDENTIAL)):
        return _path_or_none(value)
    name = value[len(CREDENTIAL) :]
    if not name or "/" in name or name in (".", "..") or "\0" in name:
        raise ValueError(
            f"{shown(value)}: a credential is a plain file name, as in LoadCredential="
        )
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        raise ValueError(
            f"{shown(value)} needs $CREDENTIALS_DIRECTORY, which systemd sets for a unit "
            "with LoadCredential=; it is not set"
        )
    return os.path.join(directory, name)


def _field(entry: Any, name: str) -> Any:
    """A Listen's field; a worker's shipped config carries listeners as mappings."""
    return entry.get(name) if isinstance(entry, dict) else getattr(entry, name)


class EntryError(ValueError):
    """A bad part of a list entry: ``where`` follows the key's name ("[1].port")."""

    def __init__(self, where: str, message: str) -> None:
        self.where = where
        super().__init__(message)


def _listen(value: Any) -> tuple[Listen, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError(
            f"must be a list of {{protocol: line | irc, bind: ADDR, port: N}}, got {shown(value)}"
        )
    return tuple(_listen_entry(n, entry) for n, entry in enumerate(value))


def _listen_entry(n: int, entry: Any) -> Listen:
    if not isinstance(entry, dict):
        raise EntryError(f"[{n}]", f"must be a mapping with protocol and port, got {shown(entry)}")
    for key in entry:
        if key not in LISTEN_KEYS:
            name = key if isinstance(key, str) and len(key) <= SHOWN else shown(key)
            raise EntryError(f"[{n}].{name}", f"unknown key (known: {', '.join(LISTEN_KEYS)})")
    for key in ("protocol", "port"):
        if key not in entry:
            raise EntryError(f"[{n}]", f"needs {key}")
    protocol = entry["protocol"]
    if protocol not in PROTOCOLS:
        raise EntryError(
            f"[{n}].protocol", f"must be one of {', '.join(PROTOCOLS)}, got {shown(protocol)}"
        )
    try:
        port = _range(0, 65535)(entry["port"])
    except ValueError as exc:
        raise EntryError(f"[{n}].port", str(exc)) from None
    bind = entry.get("bind")
    if bind is not None:
        try:
            bind = _address(bind)
        except ValueError as exc:
            raise EntryError(f"[{n}].bind", str(exc)) from None
    try:
        tls = _bool(entry.get("tls", False))
    except ValueError as exc:
        raise EntryError(f"[{n}].tls", str(exc)) from None
    return Listen(protocol, port, bind, tls)


MAX_PASSWORD = 256  # bytes: with the command, it fits an IRC line (512) and any line limit


def _password(value: Any) -> str | None:
    """Never quotes the value: a bad password in an error line is still a password."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got a {type(value).__name__}")
    if not value:
        raise ValueError("must not be empty (leave it out, or null, for no password)")
    if not value.isprintable():  # sanitised away on input: it could never be typed
        raise ValueError("must not contain control characters (newline, NUL, tab ...)")
    if value != value.strip():  # the line protocol's /pass strips what it is given
        raise ValueError("must not start or end with white space")
    if len(value.encode()) > MAX_PASSWORD:
        raise ValueError(f"must be at most {MAX_PASSWORD} bytes in UTF-8")
    return value


_CLUSTER_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _cluster_word(value: Any) -> str:
    """A name or node: it goes into Redis keys and member ids, so no ':', '/' or '~'."""
    if not isinstance(value, str) or not _CLUSTER_WORD.fullmatch(value):
        raise ValueError(
            "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit, "
            f"got {shown(value)}"
        )
    return value


def _cluster(value: Any) -> Cluster | None:
    from .redisurl import RedisTargetError, parse_target

    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError(f"must be a mapping with at least redis, got {shown(value)}")
    for key in value:
        if key not in CLUSTER_KEYS:
            name = key if isinstance(key, str) and len(key) <= SHOWN else shown(key)
            raise EntryError(f".{name}", f"unknown key (known: {', '.join(CLUSTER_KEYS)})")
    if "redis" not in value:
        raise ValueError("needs redis (a redis:// URL or a unix socket path)")
    clean: dict[str, Any] = {}
    try:
        parse_target(value["redis"], key="")
    except RedisTargetError as exc:
        raise EntryError(".redis", str(exc).removeprefix(": ")) from None
    clean["redis"] = value["redis"].strip()
    checks = {"name": _cluster_word, "node": _cluster_word, "lease": _range(1, 3600, whole=False)}
    for key, check in checks.items():
        if key in value and (key != "node" or value[key] is not None):
            try:
                clean[key] = check(value[key])
            except ValueError as exc:
                raise EntryError(f".{key}", str(exc)) from None
    if "node" not in clean:
        clean["node"] = _host_node()
    return Cluster(**clean)


def _host_node() -> str:
    """The host name as a node name: its first label, cut to what a node may be."""
    host = socket.gethostname().split(".")[0]
    word = re.sub(r"[^A-Za-z0-9._-]", "-", host)[:64].lstrip("._-")
    return word or "node"


def _workers(value: Any) -> int | str:
    if value == "auto":
        return value
    try:
        return _range(1, 256)(value)
    except ValueError:
        raise ValueError(
            f"must be a whole number from 1 to 256 or 'auto', got {shown(value)}"
        ) from None


def _log_level(value: Any) -> str:
    if not isinstance(value, str) or value.lower() not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}, got {shown(value)}")
    return value.lower()


# The ranges, documented in the README's config table and etc/chatd.yaml:
# - max_clients: more than any host gives one process file descriptors for;
# - max_line_bytes: the bus sizes its frames for lines up to 1 MiB;
# - max_send_buffer: 1 KiB holds a few lines; above 1 GiB one reader could take the host;
# - flood_rate: 0.01 is one line per 100 s; above 10,000 flood control is off in all but
#   name (say 0); flood_burst up to 10,000 lines (the bucket is a float: exact far past it);
# - idle_timeout: a second at least (less drops clients before they can type), 7 days at
#   most (epoll cannot wait longer than about 24.8 days);
# - worker_timeout: the heartbeat beats every 0.25 s; an hour is already "never".
# - tls_handshake_timeout: 1 s lets a client across the world finish; past 5 minutes a
#   handshake is an attack, not a slow link.
# - registration_timeout: a second at least, an hour at most (a slot of max_clients is
#   held meanwhile); irc_ping_interval: 0 (never) or a second to a day.
# - cluster.lease: refreshed every third of it, so under a second a busy Redis or a GC
#   pause would expire a live node; an hour leaves users of a dead node hanging as long.
VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "bind": _address,
    "port": _range(0, 65535),
    "max_clients": _range(1, 1_000_000),
    "max_clients_per_ip": _range(0, 1_000_000),
    "ipv6_prefix_length": _range(16, 128),
    "max_line_bytes": _range(16, 1 << 20),
    "max_send_buffer": _range(1024, 1 << 30),
    "flood_rate": _range(0.01, 10000, whole=False, zero="off"),
    "flood_burst": _range(1, 10000),
    "idle_timeout": _range(1, 7 * 86400, whole=False, zero="never"),
    "default_room": _room,
    "server_name": lambda v: socket.gethostname() if v is None else _nonempty(v),
    "motd": lambda v: "" if v is None else _text(v),
    "workers": _workers,
    "worker_timeout": _range(1, 3600, whole=False, zero="never"),
    "log_level": _log_level,
    "log_file": _path_or_none,
    "log_messages": _bool,
    "daemon": _bool,
    "pidfile": _path_or_none,
    "listen": lambda v: None if v is None else _listen(v),
    "tls_cert": _tls_file,
    "tls_key": _tls_file,
    "tls_handshake_timeout": _range(1, 300, whole=False),
    "registration_timeout": _range(1, 3600, whole=False),
    "irc_ping_interval": _range(1, 86400, whole=False, zero="never"),
    "server_password": _password,
    "cluster": _cluster,
}
assert set(VALIDATORS) == set(KEYS)


def from_mapping(values: dict[Any, Any], source: str, base: Config | None = None) -> Config:
    clean: dict[str, Any] = {}
    for key, value in values.items():
        if key not in VALIDATORS:
            name = key if isinstance(key, str) and len(key) <= SHOWN else shown(key)
            raise ConfigError(source, name, f"unknown key (known keys: {', '.join(KEYS)})")
        try:
            clean[key] = VALIDATORS[key](value)
        except EntryError as exc:
            raise ConfigError(source, key + exc.where, str(exc)) from None
        except ValueError as exc:
            raise ConfigError(source, key, str(exc)) from None
    base = base or Config()
    origins = {**base.origins, **dict.fromkeys(clean, source)}
    config = dataclasses.replace(base, source=source, origins=origins, **clean)
    _check_together(config, clean)
    return config


# One line of the longest kind grows up to 3 times on the way out (U+FFFD for each invalid
# byte), and a reader's queue must hold it and then some, or a single accepted line would
# drop every reader that cannot take it in one send as "too slow".
SEND_BUFFER_PER_LINE = 4


def _check_together(config: Config, given: dict[str, Any]) -> None:
    """Keys whose values must agree with each other; named from where they were set."""
    _check_listen(config)
    _check_tls_keys(config)
    least = SEND_BUFFER_PER_LINE * config.max_line_bytes
    if config.max_send_buffer < least:
        key = "max_send_buffer" if "max_send_buffer" in given else "max_line_bytes"
        raise ConfigError(
            config.origin(key),
            key,
            f"max_send_buffer ({config.max_send_buffer}) must be at least "
            f"{SEND_BUFFER_PER_LINE} x max_line_bytes ({least}), so that a reader's queue "
            "holds the longest line",
        )


def _check_listen(config: Config) -> None:
    if config.listen is None:
        return
    if "port" in config.origins:
        raise ConfigError(
            config.origin("listen"),
            "listen",
            f"port (from {config.origin('port')}) cannot be given with listen: "
            "with listen, every listener's port is in its entry",
        )
    _check_overlaps(config)


def _check_overlaps(config: Config) -> None:
    """Two listeners of one port on overlapping addresses: one would take the other's
    connections (with workers, SO_REUSEPORT lets both bind), or the kernel refuses it."""
    listeners = config.listeners()
    by_port: dict[int, list[int]] = {}
    for n, (_, _, port) in enumerate(listeners):
        if port:  # port 0: any free port, a different one for each listener
            by_port.setdefault(port, []).append(n)
    clashes = []
    for entries in by_port.values():
        found = first_overlap([listeners[n][1] for n in entries])
        if found is not None:
            clashes.append((entries[found[0]], entries[found[1]]))
    if clashes:
        n, m = min(clashes)
        (_, bind, port), (_, other, _) = listeners[n], listeners[m]
        if ipaddress.ip_address(bind) == ipaddress.ip_address(other):
            message = f"{bind} port {port} is listen[{m}]'s already"
        else:
            message = (
                f"{bind} port {port} overlaps listen[{m}]'s {other} port {port} "
                "('::' takes every address, IPv4 too; '0.0.0.0' every IPv4 address)"
            )
        raise ConfigError(config.origin("listen"), f"listen[{n}]", message)


def _check_tls_keys(config: Config) -> None:
    """A TLS listener needs the pair, and half a pair is a mistake wherever it is."""
    for key, other in (("tls_cert", "tls_key"), ("tls_key", "tls_cert")):
        if getattr(config, key) and not getattr(config, other):
            raise ConfigError(config.origin(key), other, f"must be given with {key}")
    if config.tls_cert is None and config.listen is not None:
        for n, entry in enumerate(config.listen):
            if _field(entry, "tls"):
                raise ConfigError(
                    config.origin("listen"),
                    f"listen[{n}].tls",
                    "needs tls_cert and tls_key (the server's certificate and its key)",
                )


def check_tls(config: Config) -> None:
    """The certificate and key can be loaded as a pair: the context is made and thrown
    away, so --check-config fails exactly where a start would."""
    if config.tls_cert is None or config.tls_key is None:
        return
    from .tls import TlsConfigError, server_context

    try:
        server_context(config.tls_cert, config.tls_key)
    except TlsConfigError as exc:
        raise ConfigError(config.origin(exc.key), exc.key, f"{exc.path}: {exc.problem}") from None


def load(path: str) -> Config:
    """Reads and validates one YAML file; raises ConfigError for anything wrong."""
    try:
        path = _path_or_none(path) or path
    except ValueError as exc:
        raise ConfigError(shown(path), None, str(exc)) from None
    try:
        data = read_mapping(path, MAX_FILE)
    except OSError as exc:
        raise ConfigError(path, None, f"cannot read: {os_error_words(exc)}") from None
    except YamlError as exc:
        raise ConfigError(path, exc.key, exc.message) from None
    return from_mapping(data, path)


def override(config: Config, values: dict[str, Any]) -> Config:
    """Applies command-line overrides, validated like the file's keys."""
    given = {k: v for k, v in values.items() if v is not None}
    if not given:
        return config
    merged = from_mapping(given, COMMAND_LINE, base=config)
    return dataclasses.replace(merged, source=config.source)


# What a start needs beyond valid values: checked by --check-config as well.


def check_start(config: Config) -> None:
    """Raises ConfigError for a config that is valid but cannot start: daemon mode
    without a log file, a log file or pidfile chatd could not create or write, or a TLS
    certificate and key that cannot be loaded as a pair."""
    if config.daemon and not config.log_file:
        raise ConfigError(
            config.origin("daemon"),
            "daemon",
            "needs log_file (a daemon's standard error goes nowhere)",
        )
    for key in ("log_file", "pidfile"):
        path = getattr(config, key)
        problem = path and path_problem(path)
        if problem:
            raise ConfigError(config.origin(key), key, problem)
    check_tls(config)


def path_problem(path: str) -> str | None:
    """Why chatd could not open path for writing (creating it if need be), or None.

    An existing file needs only to be writable (/dev/null, a log the installer made);
    a new one needs a directory chatd may create files in."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return _directory_problem(os.path.dirname(path))
    except NotADirectoryError:
        return f"{_first_non_directory(path)} is not a directory"
    except OSError as exc:
        return f"{path}: {os_error_words(exc)}"
    if stat.S_ISDIR(info.st_mode):
        return f"{path} is a directory"
    if not os.access(path, os.W_OK):
        return f"{path}: permission denied (chatd may not write to it)"
    return None


def _directory_problem(directory: str) -> str | None:
    try:
        info = os.stat(directory)
    except FileNotFoundError:
        return f"directory {directory} does not exist"
    except NotADirectoryError:
        return f"{_first_non_directory(directory)} is not a directory"
    except OSError as exc:
        return f"directory {directory}: {os_error_words(exc)}"
    if not stat.S_ISDIR(info.st_mode):
        return f"{directory} is not a directory"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"directory {directory}: permission denied (chatd may not create files in it)"
    return None


def _first_non_directory(path: str) -> str:
    """The ancestor of path that exists but is no directory (what ENOTDIR is about)."""
    parent = os.path.dirname(path)
    while parent != path and not os.path.isdir(parent):
        path, parent = parent, os.path.dirname(parent)
    return path


_WORDS = {
    errno.ENOENT: "does not exist",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOTDIR: "has a part that is not a directory",
    errno.EISDIR: "is a directory",
    errno.EROFS: "is on a read-only file system",
    errno.ENOSPC: "cannot grow: no space left on the device",
    errno.EDQUOT: "cannot grow: disk quota reached",
    errno.ELOOP: "has too many symbolic links",
    errno.ENAMETOOLONG: "has too long a name",
    errno.ENXIO: "is not a file that can be opened",
}


def os_error_words(exc: OSError) -> str:
    """What went wrong with a path, in words (no errno numbers, no repr of the path)."""
    if exc.errno in _WORDS:
        return _WORDS[exc.errno]
    return (exc.strerror or "cannot be used").lower()
