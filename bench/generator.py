"""The load generator behind `make bench`: chatd against ncat --chat and ngIRCd, one table.

One process, non-blocking sockets and epoll.  Payloads are built once per batch; every
chat line carries a send timestamp after the marker ``@@``; receivers count markers in
the bytes they read (C speed, no line splitting) and take one latency sample per read
from the last complete timestamp in it.  Everything runs on 127.0.0.1, every run is
bounded in time, and every figure is the median of --runs runs.
"""

from __future__ import annotations

import argparse
import selectors
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from .targets import Target

MARK = b"@@"
STAMP = 19  # digits of a monotonic_ns timestamp
READ_SIZE = 1 << 18
FILLER = b" the quick brown fox jumps over the lazy dog"
SETTLE = 2.0  # seconds between the two halves of slowreader


def stamp_line(now_ns: int) -> bytes:
    return b"%s%019d%s" % (MARK, now_ns, FILLER)


def count_marks(data: bytes, after_at: bool) -> int:
    """Markers in data; after_at says the previous read ended in '@' (a split marker)."""
    count = data.count(MARK)
    if after_at and data[:1] == b"@" and data[:2] != MARK:
        count += 1
    return count


def last_stamp(data: bytes) -> int | None:
    """The last complete timestamp in data, if any."""
    end = len(data)
    while True:
        at = data.rfind(MARK, 0, end)
        if at < 0:
            return None
        digits = data[at + 2 : at + 2 + STAMP]
        if len(digits) == STAMP and digits.isdigit():
            return int(digits)
        end = at


@dataclass
class Result:
    scenario: str
    server: str
    clients: int = 0
    delivered: int = 0
    expected: int = 0
    per_second: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    rss_before_kib: int = 0
    rss_after_kib: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class Pool:
    """N clients of one target, read together through one epoll."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.socks: list[socket.socket] = []
        self.sel = selectors.EpollSelector()
        self.delivered = 0
        self.per_client: list[int] = []
        self.at_end: list[bool] = []
        self.ready: list[bool] = []
        self.closed: set[int] = set()
        self.samples: list[float] = []
        self.last_progress = time.monotonic()
        self.pending: dict[int, bytearray] = {}

    def connect(
        self,
        count: int,
        silent: set[int] = frozenset(),
        batch: int = 200,
        deadline: float | None = None,
    ) -> None:
        """Connects count clients (silent ones are never read), pumping between batches;
        raises TimeoutError when the deadline (monotonic) passes first."""
        addr = ("127.0.0.1", self.target.port)
        for start in range(0, count, batch):
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"connect deadline passed after {len(self.socks)} clients")
            for index in range(start, min(count, start + batch)):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                if index in silent:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.settimeout(3)
                sock.connect(addr)
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.socks.append(sock)
                self.per_client.append(0)
                self.at_end.append(False)
                self.ready.append(not self.target.joined or index in silent)
                hello = self.target.hello(index)
                if hello:
                    sock.sendall(hello)
                if index not in silent:
                    self.sel.register(sock, selectors.EVENT_READ, index)
            self.pump(0)

    def join(self, count: int, silent: set[int] = frozenset()) -> None:
        """Connects count clients, waits until they are in the room, lets the joins settle."""
        self.connect(count, silent)
        self.wait_ready(30)
        self.quiesce()

    def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not all(self.ready) and time.monotonic() < deadline:
            self.pump(0.05)
        return all(self.ready)

    def quiesce(self, quiet: float = 0.3, timeout: float = 60) -> None:
        """Reads until nothing has arrived for `quiet` seconds (join notices and the like)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if time.monotonic() - self.last_progress > quiet and not self.pump(quiet):
                break
            self.pump(0.05)
        self.reset_counts()

    def reset_counts(self) -> None:
        self.delivered = 0
        self.per_client = [0] * len(self.socks)
        self.samples = []

    def pump(self, timeout: float) -> bool:
        """One epoll wait and the reads it allows; True if anything arrived."""
        events = self.sel.select(timeout)
        if not events:
            return False
        now = time.monotonic_ns()
        joined = self.target.joined
        for key, _ in events:
            index = key.data
            sock = self.socks[index]
            try:
                data = sock.recv(READ_SIZE)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                self.sel.unregister(sock)
                self.closed.add(index)
                continue
            if not self.ready[index] and joined in data:
                self.ready[index] = True
            count = count_marks(data, self.at_end[index])
            self.at_end[index] = data[-1:] == b"@"
            if count:
                self.delivered += count
                self.per_client[index] += count
                stamp = last_stamp(data)
                if stamp is not None:
                    self.samples.append((now - stamp) / 1e6)
        self.last_progress = time.monotonic()
        return True

    def queue(self, index: int, data: bytes) -> None:
        self.pending.setdefault(index, bytearray()).extend(data)

    def flush(self) -> None:
        for index, buf in list(self.pending.items()):
            if not buf:
                continue
            try:
                sent = self.socks[index].send(buf)
            except BlockingIOError:
                continue
            except OSError:
                buf.clear()
                continue
            del buf[:sent]

    def backlog(self, index: int) -> int:
        return len(self.pending.get(index, b""))

    def drain(self, expected: int, timeout: float = 10, stall: float = 1.0) -> float:
        """Reads until expected deliveries arrived or progress stalls; returns the end time."""
        deadline = time.monotonic() + timeout
        while self.delivered < expected and time.monotonic() < deadline:
            self.flush()
            self.pump(0.05)
            if time.monotonic() - self.last_progress > stall:
                break
        return self.last_progress

    def close(self) -> None:
        for sock in self.socks:
            sock.close()
        self.sel.close()


def latency(result: Result, samples: list[float]) -> None:
    if samples:
        ordered = sorted(samples)
        result.p50_ms = round(ordered[len(ordered) // 2], 3)
        result.p99_ms = round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3)
        result.max_ms = round(ordered[-1], 3)


# Scenarios: each takes a started target and returns one Result.


def fanout(target: Target, clients: int, args: argparse.Namespace, slow: bool = False) -> Result:
    """10 senders as fast as a window allows; every other client receives."""
    name = "slowreader" if slow else f"fanout {clients}"
    if "workers" in target.options:
        name = f"workers {target.options['workers']}"
    result = Result(name, target.name, clients, rss_before_kib=target.rss)
    pool = Pool(target)
    silent = {clients - 1} if slow else set()
    try:
        pool.join(clients, silent)
        senders = list(range(min(10, clients - 1)))
        receivers = clients - 1 - len(silent)
        window, batch = args.window, max(1, args.window // 2)
        sent = 0
        cpu = target.cpu_seconds
        start = time.monotonic()
        stop = start + args.duration
        while time.monotonic() < stop:
            if (sent * receivers - pool.delivered) < window * len(senders) * receivers:
                ts = stamp_line(time.monotonic_ns())
                line = target.frame(ts)
                for index in senders:
                    if pool.backlog(index) == 0:
                        pool.queue(index, line * batch)
                        sent += batch
            pool.flush()
            pool.pump(0)
        end = pool.drain(sent * receivers)
        result.extra["server_cpu_pct"] = round(100 * (target.cpu_seconds - cpu) / (end - start))
        result.expected = sent * receivers
        result.delivered = pool.delivered
        if slow:  # deliveries to the silent client are not read, so not counted
            result.extra["slow_cut"] = _was_cut(pool.socks[clients - 1])
        result.per_second = round(pool.delivered / max(1e-6, end - start))
        latency(result, pool.samples)
        result.rss_after_kib = target.rss
        result.extra["alive"] = target.alive
    finally:
        pool.close()
    return result


def _was_cut(sock: socket.socket) -> bool:
    """Reads a silent client's buffer: True if the server closed it."""
    deadline = time.monotonic() + 3
    sock.setblocking(False)
    while time.monotonic() < deadline:
        try:
            if not sock.recv(READ_SIZE):
                return True
        except BlockingIOError:
            time.sleep(0.01)
        except OSError:
            return True
    return False


def slowreader(target: Target, clients: int, args: argparse.Namespace) -> Result:
    baseline = fanout(target, clients, args)
    # The same server, warm, for the second half, once the baseline's crowd is gone:
    # ncat --chat quits ("getpeername for sd N failed ... QUITTING") when a client
    # connects while it is still seeing off a hundred that just left.
    time.sleep(SETTLE)
    result = fanout(target, clients, args, slow=True)
    result.extra["others_kept_pct"] = round(100 * result.per_second / max(1, baseline.per_second))
    result.extra["rss_growth_kib"] = result.rss_after_kib - result.rss_before_kib
    return result


def paced(
    pool: Pool, target: Target, senders: list[int], per_second: float, duration: float
) -> tuple[float, float, int]:
    """Stamped lines at a steady rate, round robin over senders; then the drain."""
    sent = 0
    start = time.monotonic()
    while (now := time.monotonic()) < start + duration:
        for _ in range(int((now - start) * per_second) - sent):
            line = target.frame(stamp_line(time.monotonic_ns()))
            pool.queue(senders[sent % len(senders)], line)
            sent += 1
        pool.flush()
        pool.pump(0.0005)
    return start, pool.drain(sent * (len(pool.socks) - 1)), sent


def finish(
    result: Result, pool: Pool, target: Target, expected: int, start: float, end: float
) -> None:
    result.expected = expected
    result.delivered = pool.delivered
    result.per_second = round(pool.delivered / max(1e-6, end - start))
    latency(result, pool.samples)
    result.rss_after_kib = target.rss


def rate(target: Target, clients: int, args: argparse.Namespace) -> Result:
    """2,000 messages a second, paced, into a room of `clients`: latency."""
    result = Result("rate", target.name, clients, rss_before_kib=target.rss)
    pool = Pool(target)
    try:
        pool.join(clients)
        start, end, sent = paced(pool, target, list(range(10)), args.rate, args.duration)
        finish(result, pool, target, sent * (clients - 1), start, end)
    finally:
        pool.close()
    return result


def idle(target: Target, clients: int, args: argparse.Namespace) -> Result:
    """Many idle connections: connect time, RSS per connection, one broadcast to all."""
    result = Result("idle", target.name, clients, rss_before_kib=target.rss)
    pool = Pool(target)
    try:
        start = time.monotonic()
        try:
            pool.connect(clients, batch=500, deadline=start + 60)
        except OSError as exc:  # the peers may give up before 10,000 (that is a finding)
            result.extra["error"] = f"{len(pool.socks)} connected, then {exc.strerror or exc}"
        pool.wait_ready(30)
        result.extra["connect_s"] = round(time.monotonic() - start, 2)
        pool.quiesce(timeout=60)
        settle = time.monotonic() + 1.5  # RSS at steady state, not mid-burst
        while time.monotonic() < settle:
            pool.pump(0.05)
        connected = len(pool.socks) - len(pool.closed)
        result.clients = connected
        result.rss_after_kib = target.rss
        result.extra["kib_per_conn"] = round(
            (result.rss_after_kib - result.rss_before_kib) / max(1, connected), 2
        )
        begin = time.monotonic()
        if connected:
            pool.queue(0, target.frame(stamp_line(time.monotonic_ns())))
            pool.flush()
        result.expected = max(0, connected - 1)
        end = pool.drain(result.expected, timeout=30, stall=5)
        result.delivered = pool.delivered
        result.extra["broadcast_s"] = round(end - begin, 3)
        latency(result, pool.samples)
        result.extra["alive"] = target.alive
    finally:
        pool.close()
    return result


def flood(target: Target, clients: int, args: argparse.Namespace) -> Result:
    """One client pastes 10,000 lines while the others chat once a second each."""
    result = Result("flood", target.name, clients, rss_before_kib=target.rss)
    pool = Pool(target)
    try:
        pool.join(clients)
        pool.queue(0, b"".join(target.frame(b"flood line %d" % i) for i in range(args.paste)))
        chatters = list(range(1, clients))  # one line per chatter per second
        start, end, sent = paced(pool, target, chatters, len(chatters), args.duration)
        finish(result, pool, target, sent * (clients - 1), start, end)
        result.extra["flooder_unsent_bytes"] = pool.backlog(0)
    finally:
        pool.close()
    return result


SCENARIOS: dict[str, tuple[Any, int, dict[str, object]]] = {
    "fanout10": (fanout, 10, {}),
    "fanout100": (fanout, 100, {}),
    "fanout500": (fanout, 500, {}),
    "rate": (rate, 100, {}),
    "idle": (idle, 10_000, {}),
    "slowreader": (slowreader, 100, {}),
    "flood": (flood, 100, {"flood_rate": 5}),
    # chatd alone: fan-out 500 with one worker, two, and one per CPU.
    "workers1": (fanout, 500, {"workers": 1}),
    "workers2": (fanout, 500, {"workers": 2}),
    "workersauto": (fanout, 500, {"workers": "auto"}),
}
