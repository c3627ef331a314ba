"""Logging setup: stderr in the foreground (or the journal), or a file reopened on demand."""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys

LOGGER = "chatd"


def _formatter() -> logging.Formatter:
    # The journal stamps each line itself; a terminal or a file needs our own stamp.
    if os.environ.get("JOURNAL_STREAM"):
        return logging.Formatter("%(levelname)s %(message)s")
    return logging.Formatter(
        "%(asctime)s chatd[%(process)d] %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S%z"
    )


def setup(level: str, path: str | None) -> logging.Handler:
    """Routes the 'chatd' loggers to one handler; returns it (daemon mode keeps its fd)."""
    handler: logging.Handler
    if path:
        # Append mode, and reopened when logrotate moves the file away (create + signal).
        handler = logging.handlers.WatchedFileHandler(path, mode="a", encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_formatter())
    logger = logging.getLogger(LOGGER)
    for old in list(logger.handlers):
        logger.removeHandler(old)
        old.close()
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False
    return handler


def reopen() -> None:
    """SIGHUP/SIGUSR1: reopen the log file, so a rotated log is let go at once."""
    for handler in logging.getLogger(LOGGER).handlers:
        if isinstance(handler, logging.FileHandler):
            handler.acquire()
            try:
                if handler.stream:
                    handler.stream.close()
                handler.stream = handler._open()
                if isinstance(handler, logging.handlers.WatchedFileHandler):
                    handler._statstream()
            finally:
                handler.release()


def set_level(level: str) -> None:
    logging.getLogger(LOGGER).setLevel(level.upper())


def open_streams() -> list[object]:
    """The files our handlers write to, for a daemon to keep open while detaching."""
    return [
        handler.stream
        for handler in logging.getLogger(LOGGER).handlers
        if isinstance(handler, logging.FileHandler) and handler.stream
    ]
