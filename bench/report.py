"""`make bench`: runs the scenarios against every available server, prints one table of
medians with chatd's ratio to the C relay and to each peer, and the load generator's own
CPU share beside every figure, and writes the whole run as JSON."""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from . import cgen, clusterbench, tlsbench
from .generator import Result
from .scenarios import NEEDS_IRC, NEEDS_LINE_AND_IRC, NEEDS_ROOMS, ROOMS, SCENARIOS
from .targets import TARGETS, workdir

# Which figure a scenario's ratio compares, and whether higher is better.
RATIO = {
    "rate": ("p99_ms", False),
    "idle": ("kib_per_conn", False),
    "flood": ("p99_ms", False),
}
DEFAULT_RATIO = ("per_second", True)
PEERS = ("baseline", "relay", "ncat", "ngircd")  # a ratio column for each, beside chatd's rows
# A generator above this share of one core may be what limits a run, not the server.
GEN_CPU_LIMIT = 60.0
NOT_BUILT = f"{cgen.LOADGEN} is not built (make bench builds it with cc)"
NO_LOADGEN = (
    f"{NOT_BUILT}: the throughput scenarios use the Python load generator, which "
    "saturates before a fast server does"
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="chatd-bench", description=__doc__)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    ap.add_argument("--servers", default=",".join(TARGETS), help="comma-separated")
    ap.add_argument("--runs", type=int, default=3, help="runs per figure (median)")
    ap.add_argument("--duration", type=float, default=3.0, help="seconds of load per run")
    ap.add_argument("--window", type=int, default=16, help="messages in flight per sender")
    ap.add_argument("--rate", type=int, default=2000, help="messages/s in the rate scenario")
    ap.add_argument("--paste", type=int, default=10_000, help="lines in the flood paste")
    ap.add_argument("--idle-clients", type=int, default=10_000)
    ap.add_argument(
        "--generator",
        choices=("auto", "c", "python"),
        default="auto",
        help="load generator of the throughput scenarios (auto: C if built)",
    )
    ap.add_argument("--json", type=Path, default=None, help="where to write the results")
    ap.add_argument("--compare", type=Path, default=None, help="an earlier JSON to compare with")
    args = ap.parse_args(argv)
    args.scenarios = _names(ap, args.scenarios, SCENARIOS)
    args.servers = _names(ap, args.servers, TARGETS)
    if args.runs < 1 or args.duration <= 0:
        ap.error("--runs must be at least 1 and --duration positive")
    args.generator = choose_generator(ap, args.generator, cgen.available())
    return args


def choose_generator(ap: argparse.ArgumentParser, wanted: str, built: bool) -> str:
    if wanted == "c" and not built:
        ap.error(NOT_BUILT)
    if wanted == "auto":
        if not built:
            print(NO_LOADGEN, file=sys.stderr)
        return "c" if built else "python"
    return wanted


def _names(ap: argparse.ArgumentParser, text: str, known: dict[str, Any]) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        ap.error(f"unknown: {', '.join(unknown)} (known: {', '.join(known)})")
    return names


def median_result(runs: list[Result]) -> Result:
    """Each numeric figure is the median of the runs; flags hold only if they held in all;
    the generator's CPU share is the busiest run's, so that a flag on it is never hidden."""
    first = runs[0]
    merged = Result(first.scenario, first.server, generator=first.generator)
    merged.gen_cpu_pct = max(r.gen_cpu_pct for r in runs)
    for f in fields(Result):
        if f.name in ("scenario", "server", "extra", "generator", "gen_cpu_pct"):
            continue
        values = [getattr(r, f.name) for r in runs]
        value = statistics.median(values)
        setattr(merged, f.name, type(getattr(first, f.name))(value))
    for key in first.extra:
        values = [r.extra.get(key) for r in runs]
        if all(isinstance(v, bool) for v in values):
            merged.extra[key] = all(values)
        elif all(isinstance(v, (int, float)) for v in values):
            merged.extra[key] = statistics.median(values)
        else:
            merged.extra[key] = next((v for v in values if v), values[0])
    return merged


def figure(result: Result, name: str) -> float:
    value = getattr(result, name, None)
    if value is None:
        value = result.extra.get(name, 0)
    return float(value or 0)


def ratios(results: list[Result]) -> dict[tuple[str, str], float]:
    """(scenario, peer) -> chatd's figure as a multiple of the peer's ('better' > 1)."""
    out: dict[tuple[str, str], float] = {}
    by_key = {(r.scenario, r.server): r for r in results}
    for (scenario, server), peer in by_key.items():
        ours = by_key.get((scenario, "chatd"))
        if server == "chatd" or ours is None:
            continue
        name, higher = RATIO.get(scenario, DEFAULT_RATIO)
        a, b = figure(ours, name), figure(peer, name)
        if a and b:
            out[(scenario, server)] = round(a / b if higher else b / a, 2)
    return out


def saturated(result: Result) -> bool:
    """True if the generator used more than GEN_CPU_LIMIT % of a core in some run."""
    return result.gen_cpu_pct > GEN_CPU_LIMIT


def generator_cell(result: Result) -> str:
    """Which generator and its CPU share: "c 23%", or "python 85% !" over the limit."""
    if not result.generator:
        return "-"
    flag = " !" if saturated(result) else ""
    return f"{result.generator} {result.gen_cpu_pct:.0f}%{flag}"


def warnings(results: list[Result]) -> str:
    """One line per result whose generator may have been the bottleneck ("" if none)."""
    lines = [
        f"! {r.scenario} / {r.server}: the {r.generator} generator used "
        f"{r.gen_cpu_pct:.0f}% of a core (limit {GEN_CPU_LIMIT:.0f}%): this figure may "
        "measure the generator, not the server"
        for r in results
        if saturated(r)
    ]
    return "\n".join(lines)


def table(results: list[Result]) -> str:
    rat = ratios(results)
    head = (
        "scenario", "server", "clients", "delivered/expected", "deliveries/s",
        "p50 ms", "p99 ms", "max ms", "RSS MiB before>after", "generator CPU",
        *(f"vs {peer}" for peer in PEERS), "notes",
    )  # fmt: skip
    rows = [head]
    for r in results:
        notes = ", ".join(f"{k}={v}" for k, v in r.extra.items())
        rows.append(
            (
                r.scenario,
                r.server,
                str(r.clients),
                f"{r.delivered}/{r.expected}",
                f"{r.per_second:,.0f}",
                f"{r.p50_ms:.2f}",
                f"{r.p99_ms:.2f}",
                f"{r.max_ms:.2f}",
                f"{r.rss_before_kib / 1024:.1f}>{r.rss_after_kib / 1024:.1f}",
                generator_cell(r),
                *(_ratio(rat, r, peer) for peer in PEERS),
                notes,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(w) for cell, w in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _ratio(rat: dict[tuple[str, str], float], r: Result, peer: str) -> str:
    if r.server != "chatd":
        return ""
    value = rat.get((r.scenario, peer))
    return f"{value:.2f}x" if value else "-"


def compare(results: list[Result], previous: dict[str, Any]) -> str:
    """chatd's figures now against an earlier JSON run."""
    old = {(r["scenario"], r["server"]): r for r in previous.get("results", [])}
    lines = ["chatd against the earlier run:"]
    for r in results:
        before = old.get((r.scenario, r.server))
        if r.server != "chatd" or before is None:
            continue
        name, higher = RATIO.get(r.scenario, DEFAULT_RATIO)
        now, then = figure(r, name), float(before.get(name, before["extra"].get(name, 0)) or 0)
        change = f"{(now / then - 1) * 100:+.1f}%" if then else "n/a"
        lines.append(f"  {r.scenario:12} {name}: {then:,.2f} -> {now:,.2f} ({change})")
    return "\n".join(lines)


def run(args: argparse.Namespace, save: Any = None) -> list[Result]:
    """Every scenario on every server; save(results) after each (a stopped run keeps what
    it measured).  Runs interleave (run 1 of every server, then run 2 …), so a machine
    that drifts slower during the scenario costs every server alike."""
    results: list[Result] = []
    for scenario in args.scenarios:
        func, clients, options = SCENARIOS[scenario]
        if scenario == "idle":
            clients = args.idle_clients
        servers = [s for s in args.servers if _runs_on(scenario, s, options)]
        runs: dict[str, list[Result]] = {server: [] for server in servers}
        for attempt in range(args.runs):
            for server in servers:
                print(f"{scenario} / {server} / run {attempt + 1}", file=sys.stderr)
                result = _one_run(TARGETS[server], func, clients, options, args)
                if result is not None:
                    runs[server].append(result)
        for server in servers:
            if runs[server]:
                results.append(median_result(runs[server]))
        if save is not None:
            save(results)
    return results


def _runs_on(scenario: str, server: str, options: dict[str, Any]) -> bool:
    if "cluster" in options:  # chatd's alone, on redis-server (bench/clusterbench.py)
        return clusterbench.runs_on(server)
    if "workers" in options and server not in ("chatd", "baseline"):
        return False  # a chatd setting: the peers have no such thing
    if "tls" in options and server not in ("chatd", "ncat"):
        return False  # of the peers, only ncat serves TLS (--ssl)
    if "tls" in options and not tlsbench.available():
        print(f"skipping tls: {tlsbench.NOT_BUILT}", file=sys.stderr)
        return False
    cls = TARGETS[server]
    if not cls.available():
        print(f"skipping {server}: not installed ({cls.install})", file=sys.stderr)
        return False
    if scenario in NEEDS_ROOMS and cls.dialect(ROOMS) is None:
        print(f"skipping {scenario} on {server}: it has one room", file=sys.stderr)
        return False
    if scenario in NEEDS_IRC and not cls.speaks_irc():
        print(f"skipping {scenario} on {server}: it speaks no IRC", file=sys.stderr)
        return False
    if scenario in NEEDS_LINE_AND_IRC and not cls.speaks_line():
        print(f"skipping {scenario} on {server}: it has no line clients", file=sys.stderr)
        return False
    return True


def _one_run(
    cls: Any, func: Any, clients: int, options: dict[str, Any], args: argparse.Namespace
) -> Result | None:
    target = cls(workdir(), options)
    try:
        target.start(clients)
        return func(target, clients, args)  # type: ignore[no-any-return]
    except (OSError, RuntimeError) as exc:
        print(f"  failed: {exc}", file=sys.stderr)
        return None
    finally:
        target.stop()
        shutil.rmtree(target.workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    path = args.json or Path("bench/results") / f"bench-{started.replace(':', '')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)

    def save(results: list[Result]) -> None:
        record = {
            "started": started,
            "args": _jsonable(vars(args)),
            "results": [asdict(r) for r in results],
        }
        path.write_text(json.dumps(record, indent=1))

    results = run(args, save)
    save(results)
    print(table(results))
    flagged = warnings(results)
    if flagged:
        print(f"\n{flagged}")
    print(f"\nresults written to {path}")
    if args.compare:
        print(compare(results, json.loads(args.compare.read_text())))
    return 0


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in values.items()}


if __name__ == "__main__":
    sys.exit(main())
