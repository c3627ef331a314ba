"""Reload, the same with one process or many: the file is read once, by the master when
there is one (by the single process otherwise), and the result goes to every server as
one ordered "settings" event.

The event is ``Settings(shared, config)``: every replica of the chat applies ``shared``
(the settings that decide shared outcomes, core.chat.REPLICATED) at the same point of the
event order, and each process's server applies the whole ``config`` to itself (its
log file and level, limits, flood control, motd).  No worker reads the file.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from . import config as cfg
from .core.chat import REPLICATED
from .core.intents import Settings

log = logging.getLogger("chatd.reload")


def read(running: cfg.Config, overrides: dict[str, Any]) -> cfg.Config | None:
    """The config a reload asks for: the file read once with the command line over it;
    the running config when there is no file (the logs are reopened all the same); None
    when the file is bad (said here: the running config stays)."""
    if running.source == cfg.Config.source:
        log.info("SIGHUP: no config file to re-read: settings kept, log files reopened")
        return running
    try:
        return cfg.override(cfg.load(running.source), overrides)
    except cfg.ConfigError as exc:
        log.error("SIGHUP: config not reloaded, keeping the running one: %s", exc)
        return None


def event(config: cfg.Config) -> Settings:
    shared = {key: getattr(config, key) for key in REPLICATED}
    return Settings(shared, dataclasses.asdict(config))


def config_of(settings: Settings) -> cfg.Config | None:
    """The whole config a settings event carries (None: only the shared part)."""
    if settings.config is None:
        return None
    return cfg.Config(**settings.config)
