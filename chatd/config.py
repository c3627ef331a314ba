"""YAML -> a validated, frozen Config.  Every error names the key and the file."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

EX_CONFIG = 78  # sysexits.h: configuration error

LOG_LEVELS = ("debug", "info", "warning", "error")


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
    source: str = "(defaults)"  # where it was read from, for messages; not a key

    def worker_count(self) -> int:
        if self.workers == "auto":
            return len(os.sched_getaffinity(0)) or 1
        return int(self.workers)


KEYS = tuple(f.name for f in dataclasses.fields(Config) if f.name != "source")


# Validators take the raw YAML value and return the clean one or raise ValueError with
# the message that follows "KEY: " in the error.


def _int(low: int, high: int | None = None) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be a whole number, got {value!r}")
        if value < low or (high is not None and value > high):
            bound = f"from {low} to {high}" if high is not None else f"of at least {low}"
            raise ValueError(f"must be a whole number {bound}, got {value}")
        return value

    return check


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ValueError(f"must be a number, got {value!r}")
    if value < 0 or value == float("inf"):
        raise ValueError(f"must be a finite number of at least 0, got {value}")
    return value


def _worker_timeout(value: Any) -> float:
    value = _number(value)
    if 0 < value < 1:
        raise ValueError(f"must be 0 (never) or at least 1 second, got {value}")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {value!r}")
    return value


def _nonempty(value: Any) -> str:
    value = _text(value)
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _path_or_none(value: Any) -> str | None:
    return None if value is None else _nonempty(value)


def _address(value: Any) -> str:
    value = _text(value)
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(
            f"must be an IP address such as 127.0.0.1, 0.0.0.0 or ::, got {value!r}"
        ) from None
    return value


def _room(value: Any) -> str:
    from .protocol import normalise_room

    value = _text(value)
    if normalise_room(value) is None:
        raise ValueError(
            f"must be a room name (1-32 letters, digits, _ or -, starting with a letter), "
            f"got {value!r}"
        )
    return value


def _workers(value: Any) -> int | str:
    if value == "auto":
        return value
    try:
        return _int(1, 256)(value)
    except ValueError:
        raise ValueError(f"must be a whole number from 1 to 256 or 'auto', got {value!r}") from None


def _log_level(value: Any) -> str:
    if not isinstance(value, str) or value.lower() not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}, got {value!r}")
    return value.lower()


VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "bind": _address,
    "port": _int(0, 65535),
    "max_clients": _int(1),
    "max_clients_per_ip": _int(0),
    "max_line_bytes": _int(16, 1 << 20),
    "max_send_buffer": _int(1024),
    "flood_rate": _number,
    "flood_burst": _int(1),
    "idle_timeout": _number,
    "default_room": _room,
    "server_name": lambda v: socket.gethostname() if v is None else _nonempty(v),
    "motd": lambda v: "" if v is None else _text(v),
    "workers": _workers,
    "worker_timeout": _worker_timeout,
    "log_level": _log_level,
    "log_file": _path_or_none,
    "log_messages": _bool,
    "daemon": _bool,
    "pidfile": _path_or_none,
}
assert set(VALIDATORS) == set(KEYS)


def from_mapping(values: dict[Any, Any], source: str, base: Config | None = None) -> Config:
    clean: dict[str, Any] = {}
    for key, value in values.items():
        if key not in VALIDATORS:
            raise ConfigError(source, str(key), f"unknown key (known keys: {', '.join(KEYS)})")
        try:
            clean[key] = VALIDATORS[key](value)
        except ValueError as exc:
            raise ConfigError(source, key, str(exc)) from None
    return dataclasses.replace(base or Config(), source=source, **clean)


def load(path: str) -> Config:
    """Reads and validates one YAML file; raises ConfigError for anything wrong."""
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except OSError as exc:
        raise ConfigError(path, None, f"cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(path, None, "not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(path, None, f"invalid YAML{where}: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path, None, f"must be a YAML mapping of keys, got {type(data).__name__}")
    return from_mapping(data, path)


def override(config: Config, values: dict[str, Any]) -> Config:
    """Applies command-line overrides, validated like the file's keys."""
    given = {k: v for k, v in values.items() if v is not None}
    if not given:
        return config
    merged = from_mapping(given, "command line", base=config)
    return dataclasses.replace(merged, source=config.source)
