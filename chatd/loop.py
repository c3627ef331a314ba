"""A single-threaded selectors loop: readiness callbacks, timers, signals, end-of-tick work.

One iteration (``run_once``) waits for readiness, runs the ready callbacks, runs the due
timers, then the end-of-tick hooks: that is where the server flushes every client with
pending output, once per tick and right before the loop sleeps again.  Tests step it one
iteration at a time with a timeout of 0 and a clock of their own.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import selectors
import signal
import socket
import time
from collections.abc import Callable

Callback = Callable[[int], None]  # called with the ready event mask

# The longest one select() waits: epoll takes milliseconds in a C int (about 24.8 days),
# and a timer further off only means the loop wakes once an hour to find nothing due.
MAX_WAIT = 3600.0


class Timer:
    __slots__ = ("when", "callback", "cancelled")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def __lt__(self, other: Timer) -> bool:
        return self.when < other.when

    def cancel(self) -> None:
        self.cancelled = True


class Loop:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.selector = selectors.DefaultSelector()
        self.clock = clock
        self._timers: list[Timer] = []
        self._tick_hooks: list[Callable[[], None]] = []
        self._signals: dict[int, Callable[[], None]] = {}
        self._previous: dict[int, object] = {}
        self._wakeup: tuple[socket.socket, socket.socket] | None = None
        self.stopped = False

    # Readiness.

    def register(self, fileobj: socket.socket, events: int, callback: Callback) -> None:
        self.selector.register(fileobj, events, callback)

    def modify(self, fileobj: socket.socket, events: int, callback: Callback) -> None:
        self.selector.modify(fileobj, events, callback)

    def unregister(self, fileobj: socket.socket) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(fileobj)

    # Timers.

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        if when != when:  # NaN would break the heap's order and never come due
            raise ValueError("a timer's time is not a number")
        timer = Timer(when, callback)
        heapq.heappush(self._timers, timer)
        return timer

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return self.call_at(self.clock() + delay, callback)

    def on_tick(self, hook: Callable[[], None]) -> None:
        self._tick_hooks.append(hook)

    # Signals: the handler does nothing but let the C-level handler write the signal
    # number to the wakeup socket; the loop reads it and dispatches outside the handler.

    def add_signal_handler(self, signum: int, callback: Callable[[], None]) -> None:
        if self._wakeup is None:
            self._wakeup = socket.socketpair()
            for end in self._wakeup:
                end.setblocking(False)
            signal.set_wakeup_fd(self._wakeup[1].fileno(), warn_on_full_buffer=False)
            self.register(self._wakeup[0], selectors.EVENT_READ, self._read_signals)
        self._previous.setdefault(signum, signal.getsignal(signum))
        signal.signal(signum, _ignore)
        self._signals[signum] = callback

    def _read_signals(self, mask: int) -> None:
        assert self._wakeup is not None
        try:
            data = self._wakeup[0].recv(4096)
        except BlockingIOError:
            return
        for signum in data:
            callback = self._signals.get(signum)
            if callback is not None:
                callback()

    # Running.

    def run_once(self, timeout: float | None = None) -> None:
        timeout = self._timeout(timeout)
        for key, mask in self._select(timeout):
            key.data(mask)
        self._run_timers()
        for hook in self._tick_hooks:
            hook()

    def run(self) -> None:
        self.stopped = False
        while not self.stopped:
            self.run_once()

    def stop(self) -> None:
        self.stopped = True

    def close(self, restore_signals: bool = True) -> None:
        """Closes the selector; restore_signals=False leaves our signals ignored."""
        if self._wakeup is not None:
            signal.set_wakeup_fd(-1)
            if restore_signals:
                for signum, previous in self._previous.items():
                    signal.signal(signum, previous)  # type: ignore[arg-type]
            for end in self._wakeup:
                end.close()
            self._wakeup = None
        self.selector.close()

    def _timeout(self, timeout: float | None) -> float | None:
        timers = self._timers
        while timers and timers[0].cancelled:
            heapq.heappop(timers)
        if timers:
            delay = max(0.0, timers[0].when - self.clock())
            timeout = delay if timeout is None else min(delay, timeout)
        if timeout is None:
            return None  # nothing due: wait for readiness alone
        return min(timeout, MAX_WAIT)  # whatever the timer: select() cannot overflow

    def _select(self, timeout: float | None) -> list[tuple[selectors.SelectorKey, int]]:
        try:
            return self.selector.select(timeout)
        except OSError as exc:  # EINTR is retried by Python itself; anything else is real
            if exc.errno == errno.EINTR:
                return []
            raise

    def _run_timers(self) -> None:
        """Runs the timers that were due when the pass began.  One that a callback sets
        for "now" (a delay that rounds to nothing) waits for the next pass, after the
        sockets have had a turn, so no timer can keep the loop in here."""
        timers = self._timers
        now = self.clock()
        due = []
        while timers and timers[0].when <= now:
            due.append(heapq.heappop(timers))
        for timer in due:
            if not timer.cancelled:
                timer.callback()


def _ignore(signum: int, frame: object) -> None:
    """Installed so that the wakeup fd sees the signal; the loop does the work."""


def raise_nofile_limit() -> tuple[int, int]:
    """Raises the soft RLIMIT_NOFILE to the hard limit; returns the new (soft, hard)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft, hard
