"""Classic daemon mode for hosts without systemd, through python-daemon.

The steps, in order (python-daemon's DaemonContext.open does the detaching):
  1. the caller opens the listening sockets first, so bind errors reach the terminal;
  2. check the pidfile before forking, so "already running" reaches the terminal too;
  3. detach: fork twice, setsid, chdir /, umask 027, close every fd but the listeners
     and the log file, stdio to /dev/null;
  4. take the pidfile with the daemon's own pid (held with a lock, removed on exit).
Signals stay ours: the library's default map would turn SIGTERM into SystemExit and
ignore SIGHUP, so it gets an empty map and the loop installs the real handlers.
"""

from __future__ import annotations

import errno
import fcntl
import os
from types import TracebackType
from typing import Any


class PidfileError(Exception):
    pass


class Pidfile:
    """A pidfile that holds our pid and an flock while we run.

    A live chatd holding it refuses the start; a stale one (its process gone, or its
    lock free) is taken over, so a crashed daemon never blocks a restart.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    def check(self) -> None:
        """Raises PidfileError if a live process holds the pidfile (before forking)."""
        pid = self.holder()
        if pid is not None:
            raise PidfileError(f"{self.path}: chatd is already running as pid {pid}")

    def holder(self) -> int | None:
        """The pid of a live process that holds the pidfile's lock, if any."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return _read_pid(fd) or -1  # locked: someone lives
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None  # nobody holds the lock: stale, whatever pid it names
        finally:
            os.close(fd)

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise PidfileError(f"{self.path}: chatd is already running as pid {pid}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            if _read_pid(self._fd) == os.getpid():
                os.unlink(self.path)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise
        finally:
            os.close(self._fd)
            self._fd = None

    # python-daemon takes any context manager as its pidfile.
    def __enter__(self) -> Pidfile:
        self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).split()[0])
    except (ValueError, IndexError, OSError):
        return None


def daemon_context(keep: list[Any], pidfile: Pidfile | None) -> Any:
    """A DaemonContext that detaches, keeps `keep` open, and leaves signals to us."""
    import daemon  # python-daemon

    return daemon.DaemonContext(
        detach_process=True,
        files_preserve=keep,
        umask=0o027,
        working_directory="/",
        pidfile=pidfile,
        signal_map={},  # ours: the loop installs handle_<signal> after this
        prevent_core=True,
    )
