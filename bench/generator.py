"""The load generator in Python: every scenario's clients, and the fallback for the
throughput scenarios when bench/loadgen.c (which does the same in C) is not built.

One process, non-blocking sockets and epoll.  Payloads are built once per batch; every
chat line carries a send timestamp after the marker ``@@``; receivers count markers in
the bytes they read (C speed, no line splitting) and take one latency sample per read
from the last complete timestamp in it.  Everything runs on 127.0.0.1 and every run is
bounded in time.  On a small machine this generator saturates before a fast server does,
which is why each result carries the generator's own CPU share.
"""

from __future__ import annotations

import selectors
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from .targets import Dialect, Speaker, Target, room_name, room_of, speakers

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
    generator: str = ""  # "c" (bench/loadgen.c) or "python"
    gen_cpu_pct: float = 0.0  # the generator's own CPU, % of one core, over the load
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Load:
    """A throughput run: the first `senders` members of each room keep `window` lines each
    in flight for `duration` seconds; clients fill the rooms in contiguous blocks."""

    clients: int
    rooms: int = 1
    senders: int = 10
    window: int = 16
    duration: float = 3.0
    silent_last: bool = False  # the last client never reads (slowreader)
    protocol: str = "line"  # "irc": IRC clients; "mixed": every other client IRC (targets)


def process_cpu() -> float:
    """User and system CPU seconds this process has used."""
    return time.process_time()


class Pool:
    """N clients of one target, read together through one epoll."""

    def __init__(self, target: Target, rooms: int = 1, speaker: Speaker | None = None) -> None:
        speaker = speaker or speakers(target, rooms, "line")[0]
        self.target = target
        self.port = speaker.port
        self.dialect: Dialect = speaker.dialect
        self.rooms = rooms
        self.room: list[int] = []  # each client's room
        self.markers: list[bytes] = []  # what each client waits for before it is ready
        self.room_delivered = [0] * rooms
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
        addr = ("127.0.0.1", self.port)
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
                room = room_of(index, count, self.rooms)
                name = room_name(room, self.rooms)
                marker = Dialect.expand(self.dialect.ready, index, name)
                self.socks.append(sock)
                self.room.append(room)
                self.markers.append(marker)
                self.per_client.append(0)
                self.at_end.append(False)
                self.ready.append(not marker or index in silent)
                hello = Dialect.expand(self.dialect.hello, index, name)
                if hello:
                    sock.sendall(hello)
                if index not in silent:
                    self.sel.register(sock, selectors.EVENT_READ, index)
            self.pump(0)

    def join(self, count: int, silent: set[int] = frozenset()) -> float:
        """Connects count clients, waits until they are in their rooms, lets the joins
        settle; returns the seconds until the last one was in."""
        start = time.monotonic()
        self.connect(count, silent)
        self.wait_ready(30)
        took = time.monotonic() - start
        self.quiesce()
        return took

    def frame(self, index: int, text: bytes) -> bytes:
        """A chat line from client index, in its room."""
        name = room_name(self.room[index], self.rooms)
        d = self.dialect
        return Dialect.expand(d.prefix, index, name) + text + Dialect.expand(d.suffix, index, name)

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
        self.room_delivered = [0] * self.rooms
        self.samples = []

    def pump(self, timeout: float) -> bool:
        """One epoll wait and the reads it allows; True if anything arrived."""
        events = self.sel.select(timeout)
        if not events:
            return False
        now = time.monotonic_ns()
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
            if not self.ready[index] and self.markers[index] in data:
                self.ready[index] = True
            count = count_marks(data, self.at_end[index])
            self.at_end[index] = data[-1:] == b"@"
            if count:
                self.delivered += count
                self.per_client[index] += count
                self.room_delivered[self.room[index]] += count
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


@dataclass
class _Room:
    senders: list[int]
    receivers: int
    head: bytes  # a chat line in this room is head + text + tail
    tail: bytes
    sent: int = 0


def _plan(pool: Pool, load: Load, silent: set[int]) -> list[_Room]:
    members: list[list[int]] = [[] for _ in range(load.rooms)]
    for index, room in enumerate(pool.room):
        members[room].append(index)
    plan = []
    for room in members:
        senders = room[: max(0, min(load.senders, len(room) - 1))]
        receivers = len(room) - 1 - len(silent.intersection(room))
        head, tail = pool.frame(senders[0], b"\0").split(b"\0") if senders else (b"", b"")
        plan.append(_Room(senders, receivers, head, tail))
    return plan


def window_load(target: Target, load: Load) -> dict[str, Any]:
    """The Python twin of bench/loadgen.c: the same load, and its figures under the same
    names as the JSON line that loadgen prints (one kind of client only, and no PONG:
    the server's PINGs come far apart from the few seconds of a run)."""
    kinds = speakers(target, load.rooms, load.protocol)
    if len(kinds) > 1:
        raise RuntimeError("mixed clients need the C load generator (make bench builds it)")
    pool = Pool(target, load.rooms, kinds[0])
    silent = {load.clients - 1} if load.silent_last else set()
    try:
        connect_s = pool.join(load.clients, silent)
        plan = _plan(pool, load, silent)
        window, batch = load.window, max(1, load.window // 2)
        cpu, server_cpu = process_cpu(), target.cpu_seconds
        start = time.monotonic()
        stop = start + load.duration
        while time.monotonic() < stop:
            stamp = None
            for number, room in enumerate(plan):
                in_flight = room.sent * room.receivers - pool.room_delivered[number]
                if in_flight >= window * len(room.senders) * room.receivers:
                    continue
                stamp = stamp or stamp_line(time.monotonic_ns())
                payload = (room.head + stamp + room.tail) * batch
                for index in room.senders:
                    if pool.backlog(index) == 0:
                        pool.queue(index, payload)
                        room.sent += batch
            pool.flush()
            pool.pump(0)
        expected = sum(room.sent * room.receivers for room in plan)
        end = pool.drain(expected)
        wall = max(1e-6, time.monotonic() - start)
        out: dict[str, Any] = {
            "generator": "python",
            "clients": load.clients,
            "rooms": load.rooms,
            "ready": sum(pool.ready),
            "closed": len(pool.closed),
            "connect_s": round(connect_s, 3),
            "expected": expected,
            "delivered": pool.delivered,
            "elapsed_s": end - start,
            "per_second": round(pool.delivered / max(1e-6, end - start)),
            "samples": len(pool.samples),
            "gen_cpu_pct": round(100 * (process_cpu() - cpu) / wall, 1),
            "server_cpu_pct": round(100 * (target.cpu_seconds - server_cpu) / wall, 1),
            "slow_cut": was_cut(pool.socks[-1]) if silent else None,
        }
        figures = Result("", "")
        latency(figures, pool.samples)
        out.update(p50_ms=figures.p50_ms, p99_ms=figures.p99_ms, max_ms=figures.max_ms)
        out["server_rss_kib"] = target.rss
        return out
    finally:
        pool.close()


def was_cut(sock: socket.socket) -> bool:
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
