"""The scenarios: each takes a started target and returns one Result.

The throughput ones (fanout, rooms, irc, mixed, slowreader, workers) are a Load that the C
generator (bench/loadgen.c) drives when it is built, the Python one otherwise (mixed needs
the C one); idle too.  rate and flood are paced, and stay in Python, which is far from
saturation there.  Every result carries the generator's own CPU share over its load.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

from . import cgen, generator
from .clusterbench import cluster
from .generator import Load, Pool, Result, latency, process_cpu, stamp_line
from .targets import Target
from .tlsbench import fanout_tls

SETTLE = 2.0  # seconds between the two halves of slowreader
ROOMS = 100  # the rooms scenario: 100 rooms of 20 clients, one sender in each
ROOM_SIZE = 20
IDLE_SETTLE = 1.5  # seconds the idle server gets before its RSS is read (malloc_trim runs)


def drive(target: Target, load: Load, args: argparse.Namespace) -> dict[str, Any]:
    """Runs a load with the generator the arguments chose: "c" or "python"."""
    if args.generator == "c":
        return cgen.window_load(target, load)
    return generator.window_load(target, load)


def measured(name: str, target: Target, load: Load, args: argparse.Namespace) -> Result:
    """One throughput run as a Result."""
    result = Result(name, target.name, load.clients, rss_before_kib=target.rss)
    out = drive(target, load, args)
    result.delivered = int(out["delivered"])
    result.expected = int(out["expected"])
    result.per_second = round(float(out["per_second"]))
    result.p50_ms, result.p99_ms, result.max_ms = out["p50_ms"], out["p99_ms"], out["max_ms"]
    result.rss_after_kib = int(out["server_rss_kib"])
    result.generator = str(out["generator"])
    result.gen_cpu_pct = float(out["gen_cpu_pct"])
    result.extra["server_cpu_pct"] = round(float(out["server_cpu_pct"]))
    # CPU time per delivery: steadier than deliveries/s on a machine others share.
    result.extra["server_ns"] = ns_per_delivery(float(out["server_cpu_pct"]), result)
    result.extra["gen_ns"] = ns_per_delivery(result.gen_cpu_pct, result)
    if load.silent_last:  # deliveries to the silent client are not read, so not counted
        result.extra["slow_cut"] = bool(out["slow_cut"])
    if out["ready"] < load.clients:
        result.extra["not_ready"] = load.clients - int(out["ready"])
    if out.get("byte_mismatch"):  # receivers whose bytes were not what they were sent
        result.extra["byte_mismatch"] = int(out["byte_mismatch"])
    result.extra["alive"] = target.alive
    return result


def ns_per_delivery(cpu_pct: float, result: Result) -> int:
    """Nanoseconds of CPU per delivery, from a share of one core and deliveries/s."""
    return round(cpu_pct / 100 / result.per_second * 1e9) if result.per_second else 0


def fanout(target: Target, clients: int, args: argparse.Namespace, slow: bool = False) -> Result:
    """10 senders as fast as a window allows; every other client receives."""
    name = "slowreader" if slow else f"fanout {clients}"
    if "workers" in target.options:
        name = f"workers {target.options['workers']}"
    load = Load(clients, 1, 10, args.window, args.duration, silent_last=slow)
    return measured(name, target, load, args)


def rooms(target: Target, clients: int, args: argparse.Namespace) -> Result:
    """Many small rooms at once, one sender in each as fast as its window allows."""
    load = Load(clients, clients // ROOM_SIZE, 1, args.window, args.duration)
    return measured("rooms", target, load, args)


def irc(target: Target, clients: int, args: argparse.Namespace) -> Result:
    """fanout 100 with IRC clients: NICK, USER, JOIN #bench, PRIVMSG #bench, PONG."""
    load = Load(clients, 1, 10, args.window, args.duration, protocol="irc")
    return measured(f"irc {clients}", target, load, args)


def mixed(target: Target, clients: int, args: argparse.Namespace) -> Result:
    """One room, every other client IRC, the rest line clients; 10 senders (5 of each)."""
    load = Load(clients, 1, 10, args.window, args.duration, protocol="mixed")
    return measured(f"mixed {clients}", target, load, args)


def slowreader(target: Target, clients: int, args: argparse.Namespace) -> Result:
    baseline = fanout(target, clients, args)
    # The same server, warm, for the second half, once the baseline's crowd is gone:
    # ncat --chat quits ("getpeername for sd N failed ... QUITTING") when a client
    # connects while it is still seeing off a hundred that just left.
    time.sleep(SETTLE)
    result = fanout(target, clients, args, slow=True)
    result.extra["others_kept_pct"] = round(100 * result.per_second / max(1, baseline.per_second))
    result.extra["rss_growth_kib"] = result.rss_after_kib - result.rss_before_kib
    result.gen_cpu_pct = max(result.gen_cpu_pct, baseline.gen_cpu_pct)
    return result


@dataclass
class Paced:
    start: float
    end: float
    sent: int
    gen_cpu_pct: float


def paced(
    pool: Pool, target: Target, senders: list[int], per_second: float, duration: float
) -> Paced:
    """Stamped lines at a steady rate, round robin over senders; then the drain."""
    sent = 0
    cpu = process_cpu()
    start = time.monotonic()
    while (now := time.monotonic()) < start + duration:
        for _ in range(int((now - start) * per_second) - sent):
            line = target.frame(stamp_line(time.monotonic_ns()))
            pool.queue(senders[sent % len(senders)], line)
            sent += 1
        pool.flush()
        pool.pump(0.0005)
    end = pool.drain(sent * (len(pool.socks) - 1))
    share = 100 * (process_cpu() - cpu) / max(1e-6, time.monotonic() - start)
    return Paced(start, end, sent, round(share, 1))


def finish(result: Result, pool: Pool, target: Target, expected: int, run: Paced) -> None:
    result.expected = expected
    result.delivered = pool.delivered
    result.per_second = round(pool.delivered / max(1e-6, run.end - run.start))
    latency(result, pool.samples)
    result.rss_after_kib = target.rss
    result.generator = "python"
    result.gen_cpu_pct = run.gen_cpu_pct


def rate(target: Target, clients: int, args: argparse.Namespace) -> Result:
    """2,000 messages a second, paced, into a room of `clients`: latency."""
    result = Result("rate", target.name, clients, rss_before_kib=target.rss)
    pool = Pool(target)
    try:
        pool.join(clients)
        run = paced(pool, target, list(range(10)), args.rate, args.duration)
        finish(result, pool, target, run.sent * (clients - 1), run)
    finally:
        pool.close()
    return result


def idle(target: Target, clients: int, args: argparse.Namespace) -> Result:
    """Many idle connections: connect time, RSS per connection, one broadcast to all."""
    if args.generator == "c":
        return idle_c(target, clients)
    return idle_python(target, clients)


def idle_c(target: Target, clients: int) -> Result:
    out = cgen.idle(target, clients, settle=IDLE_SETTLE)
    result = Result("idle", target.name, rss_before_kib=int(out["server_rss_before_kib"]))
    result.generator = "c"
    result.gen_cpu_pct = float(out["gen_cpu_pct"])  # over connecting and joining
    result.extra["connect_s"] = round(float(out["connect_s"]), 2)
    if out["connect_error"]:
        result.extra["error"] = out["connect_error"]
    result.clients = int(out["open"])
    result.rss_after_kib = int(out["server_rss_kib"])
    result.extra["kib_per_conn"] = per_connection(result)
    result.expected, result.delivered = int(out["expected"]), int(out["delivered"])
    result.extra["broadcast_s"] = out["broadcast_s"]
    result.p50_ms, result.p99_ms, result.max_ms = out["p50_ms"], out["p99_ms"], out["max_ms"]
    result.extra["alive"] = target.alive
    return result


def per_connection(result: Result) -> float:
    """The server's RSS growth per open connection, in KiB (0: none stayed open)."""
    if result.clients <= 0:
        return 0.0
    return round((result.rss_after_kib - result.rss_before_kib) / result.clients, 2)


def idle_python(target: Target, clients: int) -> Result:
    result = Result("idle", target.name, clients, rss_before_kib=target.rss)
    result.generator = "python"
    pool = Pool(target)
    cpu = process_cpu()
    try:
        start = time.monotonic()
        try:
            pool.connect(clients, batch=500, deadline=start + 60)
        except OSError as exc:  # the peers may give up before 10,000 (that is a finding)
            result.extra["error"] = f"{len(pool.socks)} connected, then {exc.strerror or exc}"
        pool.wait_ready(30)
        result.extra["connect_s"] = round(time.monotonic() - start, 2)
        result.gen_cpu_pct = round(100 * (process_cpu() - cpu) / (time.monotonic() - start), 1)
        pool.quiesce(timeout=60)
        settle = time.monotonic() + IDLE_SETTLE  # RSS at steady state, not mid-burst
        while time.monotonic() < settle:
            pool.pump(0.05)
        result.clients = len(pool.socks) - len(pool.closed)
        result.rss_after_kib = target.rss
        result.extra["kib_per_conn"] = per_connection(result)
        begin = time.monotonic()
        if result.clients:
            pool.queue(0, target.frame(stamp_line(time.monotonic_ns())))
            pool.flush()
        result.expected = max(0, result.clients - 1)
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
        run = paced(pool, target, chatters, len(chatters), args.duration)
        finish(result, pool, target, run.sent * (clients - 1), run)
        result.extra["flooder_unsent_bytes"] = pool.backlog(0)
    finally:
        pool.close()
    return result


SCENARIOS: dict[str, tuple[Any, int, dict[str, object]]] = {
    "fanout10": (fanout, 10, {}),
    "fanout100": (fanout, 100, {}),
    "fanout500": (fanout, 500, {}),
    "rooms": (rooms, ROOMS * ROOM_SIZE, {}),
    # IRC clients; every other client IRC in one room ("irc": the target opens an IRC port).
    "irc": (irc, 100, {"irc": True}),
    "mixed": (mixed, 100, {"irc": True}),
    "rate": (rate, 100, {}),
    "idle": (idle, 10_000, {}),
    "slowreader": (slowreader, 100, {}),
    "flood": (flood, 100, {"flood_rate": 5}),
    # chatd alone: fan-out 500 with one worker, two, and one per CPU.
    "workers1": (fanout, 500, {"workers": 1}),
    "workers2": (fanout, 500, {"workers": 2}),
    "workersauto": (fanout, 500, {"workers": "auto"}),
    # fan-out 100 over TLS (bench/tlsbench.py), chatd's plain figure from the same run.
    "tls": (fanout_tls, 100, {"tls": True}),
    "cluster": (cluster, 500, {"cluster": True}),  # two nodes and one (bench/clusterbench.py)
}
# Scenarios that need a server with rooms (ncat --chat has one).
NEEDS_ROOMS = {"rooms"}
# Scenarios with IRC clients, and those with line and IRC clients in one room.
NEEDS_IRC = {"irc", "mixed"}
NEEDS_LINE_AND_IRC = {"mixed"}
