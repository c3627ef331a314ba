"""Logging setup: stderr in the foreground (or the journal), or a file reopened on demand.

Trouble with the log file never reaches the server: a file that cannot be reopened keeps
the one opened before, a write that fails (a full disk) costs that line, and each kind of
trouble is said once, on standard error and in the log, not as a traceback per record.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sys

LOGGER = "chatd"

log = logging.getLogger("chatd.logs")

_handler: logging.Handler | None = None  # ours, once setup() took over the 'chatd' logger


def _formatter() -> logging.Formatter:
    # The journal stamps each line itself; a terminal or a file needs our own stamp.
    if os.environ.get("JOURNAL_STREAM"):
        return logging.Formatter("%(levelname)s %(message)s")
    return logging.Formatter(
        "%(asctime)s chatd[%(process)d] %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S%z"
    )


def _open(path: str) -> int:
    # Appending: logrotate moves the file away (create + signal), never truncates it.
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


class LogFile(logging.Handler):
    """One write(2) per record to a file opened for appending: nothing is buffered, so a
    failed write leaves nothing behind to fail again.  Like WatchedFileHandler, it follows
    the path when the file was moved away; unlike it, it never lets go of a working file
    for one it cannot open."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path  # as configured, to compare with a reloaded config
        self.where = os.path.abspath(path)  # daemon mode changes directory
        self.fd = _open(self.where)  # start-up reports an error itself
        self.identity = self._identity()
        self.said: str | None = None  # the open trouble said already
        self.lost = 0  # records whose write failed since the last one that worked

    def fileno(self) -> int:
        return self.fd

    def _identity(self) -> tuple[int, int]:
        st = os.fstat(self.fd)
        return st.st_dev, st.st_ino

    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = (self.format(record) + "\n").encode("utf-8", "backslashreplace")
        except Exception:
            super().handleError(record)  # a bad log call is a bug: the usual traceback
            return
        self._follow()
        self._write(data)

    def _follow(self) -> None:
        try:
            st = os.stat(self.where)
        except OSError:
            st = None
        if st is None or (st.st_dev, st.st_ino) != self.identity:
            self.reopen()

    def reopen(self) -> bool:
        """Opens the path anew; if it cannot, the file opened before stays (and says why)."""
        with self.lock:  # type: ignore[union-attr]
            try:
                fd = _open(self.where)
            except OSError as exc:
                self._say_once(
                    f"cannot reopen log file {self.where}: {_why(exc)}; "
                    "still writing to the file opened before"
                )
                return False
            old, self.fd = self.fd, fd
            self.identity = self._identity()
            self.said = None
            _close(old)
            return True

    def _write(self, data: bytes) -> None:
        try:
            _write_all(self.fd, data)
        except OSError as exc:
            self.lost += 1
            if self.lost == 1:
                _to_stderr(
                    self._line(
                        f"cannot write to log file {self.where}: {_why(exc)}; "
                        "log lines are lost until it can be written"
                    )
                )
            return
        if self.lost:
            lost, self.lost = self.lost, 0
            self._write(self._line(f"log file writable again; {lost} lines were lost"))

    def _say_once(self, message: str) -> None:
        if message != self.said:
            self.said = message
            self.say(message)

    def say(self, message: str) -> None:
        """A warning about the logs themselves: on standard error, and in this file."""
        line = self._line(message)
        _to_stderr(line)
        with contextlib.suppress(OSError):
            _write_all(self.fd, line)  # the log being read says why it goes on

    def _line(self, message: str) -> bytes:
        record = log.makeRecord(log.name, logging.WARNING, __file__, 0, message, None, None)
        return (self.format(record) + "\n").encode("utf-8", "backslashreplace")

    def close(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self.fd >= 0:
                _close(self.fd)
                self.fd = -1
        super().close()


class Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Standard error; a stream that cannot be written (a closed terminal) costs the
    record, not a traceback on that same stream for each one."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def handleError(self, record: logging.LogRecord) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handleError(record)


def setup(level: str, path: str | None) -> logging.Handler:
    """Routes the 'chatd' loggers to one handler; returns it (daemon mode keeps its fd).
    Raises OSError if the file cannot be opened (a start-up error)."""
    handler = _make(path)
    _install(handler)
    set_level(level)
    logger = logging.getLogger(LOGGER)
    logger.propagate = False
    return handler


def _make(path: str | None) -> logging.Handler:
    handler: logging.Handler = LogFile(path) if path else Stderr()
    handler.setFormatter(_formatter())
    return handler


def _install(handler: logging.Handler) -> None:
    global _handler
    logger = logging.getLogger(LOGGER)
    for old in list(logger.handlers):
        logger.removeHandler(old)
        old.close()
    logger.addHandler(handler)
    _handler = handler


def current_path() -> str | None:
    """The log file in use (None: standard error, or not ours)."""
    return _handler.path if isinstance(_handler, LogFile) else None


def use(level: str, path: str | None) -> bool:
    """A reload: the level, and the log file opened anew (the same path: reopened).  A
    file that cannot be opened is said once and the logs stay where they were; False then.
    Nothing happens unless setup() took over the logging (an embedding program's own)."""
    if _handler is None:
        return True
    set_level(level)
    if path is not None and path == current_path():
        return reopen()
    if path is None and current_path() is None:
        return True
    try:
        handler = _make(path)
    except OSError as exc:
        where = current_path() or "standard error"
        message = f"cannot open log file {path}: {_why(exc)}; logs stay in {where}"
        if isinstance(_handler, LogFile):
            _handler.say(message)
        else:
            log.warning("%s", message)
        return False
    _install(handler)
    return True


def reopen() -> bool:
    """SIGHUP/SIGUSR1: reopen the log file, so a rotated log is let go at once.  False if
    it could not be (the file opened before stays; the trouble was said)."""
    if isinstance(_handler, LogFile):
        return _handler.reopen()
    return True


def set_level(level: str) -> None:
    logging.getLogger(LOGGER).setLevel(level.upper())


def open_streams() -> list[LogFile]:
    """The files our handlers write to, for a daemon to keep open while detaching."""
    return [h for h in logging.getLogger(LOGGER).handlers if isinstance(h, LogFile)]


def forget() -> None:
    """Tests: the 'chatd' logger is no longer ours."""
    global _handler
    _handler = None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if not written:  # never for a file; no spinning if it ever were
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        view = view[written:]


def _to_stderr(line: bytes) -> None:
    try:
        sys.stderr.write(line.decode("utf-8", "replace"))
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass  # nowhere left to say it


def _close(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)
