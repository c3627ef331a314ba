"""Classic daemon mode for hosts without systemd, through python-daemon.

The steps, in order (python-daemon's DaemonContext.open does the detaching):
  1. the caller opens the listening sockets and the log file first, so their errors
     reach the terminal;
  2. take the pidfile (create it and flock it) before forking, so "cannot create" and
     "already running" reach the terminal too; its fd is kept, and the lock with it;
  3. detach: fork twice, setsid, chdir /, umask 027, close every fd but the listeners,
     the log file and the pidfile, stdio to /dev/null;
  4. write the daemon's own pid into the pidfile (removed on exit).
Signals stay ours: the library's default map would turn SIGTERM into SystemExit and
ignore SIGHUP, so it gets an empty map and the loop installs the real handlers.
"""

from __future__ import annotations

import fcntl
import os
from types import TracebackType
from typing import Any

from .config import os_error_words

EX_UNAVAILABLE = 69  # another chatd holds the pidfile
EX_CANTCREAT = 73  # the pidfile cannot be created or written


class PidfileError(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status  # the exit status it stands for


class Pidfile:
    """A pidfile that holds our pid and an flock while we run.

    A live chatd holding it refuses the start; a stale one (its process gone, or its
    lock free) is taken over, so a crashed daemon never blocks a restart.  The lock is
    on the open file, so it survives daemon mode's forks with the fd.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    def fileno(self) -> int:
        """For python-daemon's files_preserve: the fd (and the lock) outlive detaching."""
        assert self._fd is not None, "lock() first"
        return self._fd

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

    def lock(self) -> None:
        """Creates (or takes over) the pidfile and locks it; PidfileError if it cannot."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise PidfileError(
                f"cannot create pidfile {self.path}: {os_error_words(exc)}", EX_CANTCREAT
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            who = f"as pid {pid}" if pid else "(starting: its pid is not written yet)"
            raise PidfileError(
                f"{self.path}: chatd is already running {who}", EX_UNAVAILABLE
            ) from None
        self._fd = fd

    def write_pid(self) -> None:
        """Writes our pid (the daemon's, once detached) into the locked pidfile."""
        fd = self.fileno()
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            os.fsync(fd)
        except OSError as exc:
            raise PidfileError(
                f"cannot write pidfile {self.path}: {os_error_words(exc)}", EX_CANTCREAT
            ) from None

    def acquire(self) -> None:
        """lock() and write_pid() in one, for a process that does not detach."""
        if self._fd is None:
            self.lock()
        self.write_pid()

    def release(self) -> None:
        """Removes the pidfile if it is still the one we locked, and lets the lock go."""
        if self._fd is None:
            return
        try:
            ours = os.fstat(self._fd)
            there = os.stat(self.path)
            if (ours.st_dev, ours.st_ino) == (there.st_dev, there.st_ino):
                os.unlink(self.path)
        except OSError:
            pass  # gone already, or not ours to remove: nothing to clean up
        finally:
            os.close(self._fd)
            self._fd = None

    # python-daemon takes any context manager as its pidfile, entered after detaching.
    def __enter__(self) -> Pidfile:
        try:
            self.acquire()
        except BaseException:
            self.release()
            raise
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
    """A DaemonContext that detaches, keeps `keep` open (the locked pidfile among them),
    and leaves signals to us."""
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
