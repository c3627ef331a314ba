"""The C load generator (bench/loadgen.c, built by `make bench`): its command line for a
target and a load, and its one JSON line of results."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from .generator import Load
from .targets import BUILD, Target

LOADGEN = BUILD / "loadgen"
# Every figure a run must report; loadgen prints these or {"error": ...}.
FIGURES = (
    "generator", "clients", "ready", "closed", "connect_s", "expected", "delivered",
    "elapsed_s", "per_second", "p50_ms", "p99_ms", "max_ms", "gen_cpu_pct",
    "server_cpu_pct", "server_rss_kib", "slow_cut",
)  # fmt: skip
# Beyond the load itself: 60 s to connect, 30 to be ready, 60 to settle, 10 to drain.
SLACK = 180.0


def available() -> bool:
    return os.access(LOADGEN, os.X_OK)


def command(target: Target, load: Load) -> list[str]:
    dialect = target.dialect(load.rooms)
    if dialect is None:
        raise RuntimeError(f"{target.name} has no rooms")
    cmd = [
        str(LOADGEN),
        "--port", str(target.port),
        "--clients", str(load.clients),
        "--rooms", str(load.rooms),
        "--senders", str(load.senders),
        "--window", str(load.window),
        "--duration", str(load.duration),
        "--hello", dialect.hello,
        "--ready", dialect.ready,
        "--prefix", dialect.prefix,
        "--suffix", dialect.suffix,
    ]  # fmt: skip
    if load.silent_last:
        cmd.append("--silent-last")
    for pid in target.pids():
        cmd += ["--server-pid", str(pid)]
    return cmd


def parse_output(stdout: str, stderr: str = "") -> dict[str, Any]:
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
    missing = [name for name in FIGURES if name not in out]
    if missing:
        raise RuntimeError(f"loadgen's results lack {', '.join(missing)}")
    return out


def _said(stderr: str) -> str:
    text = stderr.strip()
    return f"; it said: {text[-300:]}" if text else ""


def window_load(target: Target, load: Load) -> dict[str, Any]:
    """Runs loadgen against a started target; its results (as generator.window_load)."""
    try:
        proc = subprocess.run(
            command(target, load),
            capture_output=True,
            text=True,
            timeout=load.duration + SLACK,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"loadgen still running after {load.duration + SLACK:.0f} s") from None
    return parse_output(proc.stdout, proc.stderr)
