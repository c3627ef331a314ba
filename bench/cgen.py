"""The C load generator (bench/loadgen.c, built by `make bench`): its command line for a
target and a load, and its one JSON line of results."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from .generator import Load
from .targets import BUILD, Dialect, Target, speakers

LOADGEN = BUILD / "loadgen"
# Every figure a run must report; loadgen prints these or {"error": ...}.
FIGURES = (
    "generator", "clients", "ready", "closed", "connect_s", "expected", "delivered",
    "elapsed_s", "per_second", "p50_ms", "p99_ms", "max_ms", "gen_cpu_pct",
    "server_cpu_pct", "server_rss_kib", "slow_cut",
)  # fmt: skip
# What loadgen --idle prints.
IDLE_FIGURES = (
    "generator", "clients", "connected", "ready", "open", "connect_s", "connect_error",
    "gen_cpu_pct", "server_rss_before_kib", "server_rss_kib", "expected", "delivered",
    "broadcast_s", "p50_ms", "p99_ms", "max_ms",
)  # fmt: skip
CONNECT_BATCH = 128  # connections in flight at most (chatd accepts 128 per event)
# Beyond the load itself: 60 s to connect, 30 to be ready, 60 to settle, 10 to drain.
SLACK = 180.0


def available() -> bool:
    return os.access(LOADGEN, os.X_OK)


def command(target: Target, load: Load) -> list[str]:
    first, *alt = speakers(target, load.rooms, load.protocol)
    cmd = [
        str(LOADGEN),
        "--port", str(first.port),
        "--clients", str(load.clients),
        "--rooms", str(load.rooms),
        "--senders", str(load.senders),
        "--window", str(load.window),
        "--duration", str(load.duration),
        "--connect-batch", str(connect_batch(target)),
        *_dialect("--", first.dialect),
    ]  # fmt: skip
    if alt:  # every other client the second kind, on its own port
        cmd += ["--alt-every", "2", "--alt-port", str(alt[0].port)]
        cmd += _dialect("--alt-", alt[0].dialect)
    if not target.fixed_deliveries:  # every receiver reads and counts lines
        cmd += ["--sample-every", "1"]
    if load.silent_last:
        cmd.append("--silent-last")
    for pid in target.pids():
        cmd += ["--server-pid", str(pid)]
    return cmd


def connect_batch(target: Target) -> int:
    """Connections in flight: never more than the server's listen backlog holds."""
    return max(1, min(CONNECT_BATCH, target.backlog - 2))


def idle_command(target: Target, clients: int, settle: float) -> list[str]:
    """loadgen --idle: clients connected and joined, the server's RSS once it has settled,
    then one line from the first client to all the others."""
    load = Load(clients, senders=1)
    cmd = command(target, load)
    cut = cmd.index("--window")
    return [*cmd[:cut], "--idle", "--settle", str(settle), *cmd[cut + 4 :]]


def _dialect(dashes: str, dialect: Dialect) -> list[str]:
    out = [
        f"{dashes}hello", dialect.hello,
        f"{dashes}ready", dialect.ready,
        f"{dashes}prefix", dialect.prefix,
        f"{dashes}suffix", dialect.suffix,
    ]  # fmt: skip
    if dialect.pong:
        out.append(f"{dashes}pong")
    return out


def parse_output(
    stdout: str, stderr: str = "", figures: tuple[str, ...] = FIGURES
) -> dict[str, Any]:
    """The results in loadgen's last line of output; RuntimeError says what went wrong."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise RuntimeError(f"loadgen printed nothing{_said(stderr)}")
    try:
        out = json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        raise RuntimeError(f"loadgen printed {lines[-1][:200]!r}: {exc}") from None
    if not isinstance(out, dict):
        raise RuntimeError(f"loadgen printed {lines[-1][:200]!r}, not an object")
    if "error" in out:
        raise RuntimeError(f"loadgen: {out['error']}")
    missing = [name for name in figures if name not in out]
    if missing:
        raise RuntimeError(f"loadgen's results lack {', '.join(missing)}")
    return out


def _said(stderr: str) -> str:
    text = stderr.strip()
    return f"; it said: {text[-300:]}" if text else ""


def window_load(target: Target, load: Load) -> dict[str, Any]:
    """Runs loadgen against a started target; its results (as generator.window_load)."""
    return parse_output(*_run(command(target, load), load.duration + SLACK))


def idle(target: Target, clients: int, settle: float = 1.5) -> dict[str, Any]:
    """Runs loadgen --idle against a started target; its results (IDLE_FIGURES)."""
    stdout, stderr = _run(idle_command(target, clients, settle), SLACK)
    return parse_output(stdout, stderr, IDLE_FIGURES)


def _run(cmd: list[str], timeout: float) -> tuple[str, str]:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"loadgen still running after {timeout:.0f} s") from None
    return proc.stdout, proc.stderr
