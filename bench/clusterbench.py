"""The cluster scenario: fan-out 500 with the clients split over two chatd nodes that share
one chat through one redis-server, and the same load on one node of its own cluster in the
same run, so the two figures come from one machine in one state.

The one-node comparison runs the cluster code path too (a node with `cluster:` and its own
Redis), not plain chatd: the question is what a second node adds, and only the same path
isolates that; what the Redis hop itself costs is the `fanout500` row of plain chatd.
Every client of node b is every other one (loadgen's --alt-every 2), so five of the ten
senders are on each node and every line crosses the stream to half of its receivers.

Redis is the distribution's redis-server on a unix socket in the bench's directory, nothing
saved.  What the stream sustained is read from it: XINFO STREAM's entries-added before and
after the load (each entry is a batch of events), beside the chat lines per second that
every node applied (each line one event, delivered to clients - 1 receivers).  Without
redis-server the scenario says so and measures nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import cgen
from .generator import Load, Result
from .targets import Chatd, Target

REDIS_SERVER = shutil.which("redis-server")
NO_REDIS = "redis-server is not installed (apt-get install redis-server)"
CHAT_NAME = "bench"  # the cluster's key prefix: its stream is bench:events
STREAM = f"{CHAT_NAME}:events"
LEASE = 10  # seconds: a node starved of CPU on a loaded machine must not be said gone
NO_LOADGEN = f"{cgen.LOADGEN} is not built (make bench builds it): one client set, two ports"


def runs_on(server: str) -> bool:
    """The scenario is chatd's alone, and needs redis-server and the C generator."""
    if server != "chatd":
        return False
    for missing, hint in ((REDIS_SERVER is None, NO_REDIS), (not cgen.available(), NO_LOADGEN)):
        if missing:
            print(f"skipping cluster: {hint}", file=sys.stderr)
            return False
    return True


def redis_command(directory: Path) -> list[str]:
    """redis-server on directory/redis.sock alone (no TCP port), nothing saved."""
    return [
        str(REDIS_SERVER or "redis-server"),
        "--port", "0",
        "--unixsocket", str(directory / "redis.sock"),
        "--save", "",
        "--appendonly", "no",
        "--dir", str(directory),
    ]  # fmt: skip


def node_config(port: int, redis: Path, node: str, max_clients: int) -> str:
    """A node's YAML: one line listener, one worker (under its hub), flood control off."""
    return (
        f"port: {port}\n"
        f"max_clients: {max_clients}\n"
        "max_clients_per_ip: 0\n"
        "log_level: warning\n"
        "server_name: bench\n"
        "flood_rate: 0\n"
        "workers: 1\n"
        f"cluster:\n  redis: {redis}\n  name: {CHAT_NAME}\n  node: {node}\n  lease: {LEASE}\n"
    )


class Node(Chatd):
    """One chatd node of the bench's cluster, on its own free port; chatd's dialect."""

    def __init__(self, workdir: Path, redis: Path, node: str) -> None:
        super().__init__(workdir, {})
        self.name = f"node-{node}"
        self.redis, self.node = redis, node

    def command(self, max_clients: int) -> list[str]:
        path = self.workdir / f"{self.name}.yaml"
        path.write_text(node_config(self.port, self.redis, self.node, max_clients + 10))
        return [sys.executable, "-m", "chatd", "--config", str(path)]


class Cluster:
    """redis-server and `nodes` chatd nodes in a directory of their own; a context manager
    that stops every process it started."""

    def __init__(self, directory: Path, nodes: int, max_clients: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory, self.max_clients = directory, max_clients
        self.socket = directory / "redis.sock"
        self.redis: subprocess.Popen[bytes] | None = None
        self.nodes = [Node(directory, self.socket, chr(ord("a") + i)) for i in range(nodes)]

    def __enter__(self) -> Cluster:
        try:
            self._start_redis()
            for node in self.nodes:  # one after the other: the first starts the epoch
                node.start(self.max_clients)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start_redis(self) -> None:
        log = open(self.directory / "redis.log", "ab")  # noqa: SIM115
        self.redis = subprocess.Popen(
            redis_command(self.directory), stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.redis.poll() is not None:
                raise RuntimeError(f"redis-server exited at start; see {self.directory}")
            try:
                self.query("PING")
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not listen on {self.socket}")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        if self.redis is not None and self.redis.poll() is None:
            self.redis.terminate()
            try:
                self.redis.wait(5)
            except subprocess.TimeoutExpired:
                self.redis.kill()
                self.redis.wait()
        self.redis = None

    def pids(self) -> list[int]:
        """Every process of the cluster: each node's master and worker, and Redis."""
        redis = [self.redis.pid] if self.redis is not None else []
        return [pid for node in self.nodes for pid in node.pids()] + redis

    def rss(self) -> int:
        return sum(node.rss for node in self.nodes)

    def roles(self) -> dict[str, list[int]]:
        """The processes by role: every node's hub (its master), worker, and Redis."""
        hubs = [node.proc.pid for node in self.nodes if node.proc is not None]
        workers = [pid for node in self.nodes for pid in node.pids()[1:]]
        return {"hub": hubs, "worker": workers, "redis": [self.redis.pid] if self.redis else []}

    def query(self, *words: str) -> Any:
        """One command to Redis and its reply, parsed by hiredis (chatd's RESP parser)."""
        import hiredis

        reader = hiredis.Reader()
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(str(self.socket))
            sock.sendall(resp_command(*words))
            while (reply := reader.gets()) is False:
                data = sock.recv(65536)
                if not data:
                    raise OSError("redis-server closed the connection")
                reader.feed(data)
        if isinstance(reply, hiredis.ReplyError):
            raise RuntimeError(f"redis-server: {reply}")
        return reply

    def entries_added(self) -> int:
        """How many entries the stream has had (Redis 7's XINFO STREAM entries-added)."""
        return entries_added(self.query("XINFO", "STREAM", STREAM))


def resp_command(*words: str) -> bytes:
    """A command as RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(words)]
    for word in words:
        data = word.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def entries_added(info: list[Any]) -> int:
    """entries-added from XINFO STREAM's flat reply; RuntimeError before Redis 7."""
    fields = dict(zip(info[::2], info[1::2], strict=True))
    if b"entries-added" not in fields:
        raise RuntimeError("XINFO STREAM has no entries-added: the cluster scenario needs Redis 7")
    return int(fields[b"entries-added"])


def loadgen_command(nodes: list[Node], load: Load, pids: list[int]) -> list[str]:
    """loadgen against the first node; with two, every other client dials the second.

    Every process of the cluster is a --server-pid, so server_cpu_pct is the cluster's."""
    cmd = cgen.command(nodes[0], load)
    if "--server-pid" in cmd:  # the first node's alone: the cluster's replace them
        cmd = cmd[: cmd.index("--server-pid")]
    if len(nodes) > 1:
        cmd += ["--alt-every", "2", "--alt-port", str(nodes[1].port)]
        cmd += cgen._dialect("--alt-", nodes[1].dialect(load.rooms))
    for pid in pids:
        cmd += ["--server-pid", str(pid)]
    return cmd


def measure(directory: Path, nodes: int, load: Load) -> dict[str, Any]:
    """One load on a fresh cluster of `nodes`: loadgen's figures, the stream's entries."""
    with Cluster(directory, nodes, load.clients) as cluster:
        rss_before, before = cluster.rss(), cluster.entries_added()
        cmd = loadgen_command(cluster.nodes, load, cluster.pids())
        roles, start = cluster.roles(), time.monotonic()
        cpu = {role: cpu_seconds(pids) for role, pids in roles.items()}
        out = cgen.parse_output(*cgen._run(cmd, load.duration + cgen.SLACK))
        wall = time.monotonic() - start
        out["entries"] = cluster.entries_added() - before
        for role, pids in roles.items():  # over the whole run, connecting included
            out[f"{role}_cpu_pct"] = round(100 * (cpu_seconds(pids) - cpu[role]) / wall)
        out["rss_before_kib"], out["alive"] = rss_before, all(n.alive for n in cluster.nodes)
        out["rss_kib"] = cluster.rss()
    return out


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time these processes have used so far."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def events_per_second(out: dict[str, Any], clients: int) -> int:
    """Chat lines per second through the stream: each reaches clients - 1 receivers."""
    return round(float(out["per_second"]) / max(1, clients - 1))


def cluster(target: Target, clients: int, args: argparse.Namespace) -> Result:
    """Fan-out `clients` over two nodes, then over one node, each on a fresh cluster."""
    target.stop()  # the plain chatd the report started: its port and CPU are not needed
    load = Load(clients, 1, 10, args.window, args.duration)
    two = measure(target.workdir / "two", 2, load)
    one = measure(target.workdir / "one", 1, load)
    result = Result("cluster", target.name, clients, rss_before_kib=two["rss_before_kib"])
    result.delivered, result.expected = int(two["delivered"]), int(two["expected"])
    result.per_second = round(float(two["per_second"]))
    result.p50_ms, result.p99_ms, result.max_ms = two["p50_ms"], two["p99_ms"], two["max_ms"]
    result.rss_after_kib = int(two["rss_kib"])
    result.generator = "c"
    result.gen_cpu_pct = max(float(two["gen_cpu_pct"]), float(one["gen_cpu_pct"]))
    result.extra.update(_figures("", two, clients))
    result.extra.update(_figures("one_node_", one, clients))
    result.extra["two_vs_one"] = round(result.per_second / max(1.0, float(one["per_second"])), 2)
    return result


ROW_COLUMNS = ("per_second", "p50_ms", "p99_ms", "gen_cpu_pct")


def _figures(prefix: str, out: dict[str, Any], clients: int) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "per_second": round(float(out["per_second"])),
        "p50_ms": out["p50_ms"],
        "p99_ms": out["p99_ms"],
        "gen_cpu_pct": float(out["gen_cpu_pct"]),
        "events_per_s": events_per_second(out, clients),
        "stream_entries": int(out["entries"]),
        "cluster_cpu_pct": round(float(out["server_cpu_pct"])),
        # each role's share of one core summed over its processes (hub: both masters)
        **{f"{role}_cpu_pct": out[f"{role}_cpu_pct"] for role in ("hub", "worker", "redis")},
        "alive": bool(out["alive"]),
    }
    if out["ready"] < clients:
        figures["not_ready"] = clients - int(out["ready"])
    if not prefix:  # the two-node run's: these are the row's own columns
        figures = {k: v for k, v in figures.items() if k not in ROW_COLUMNS}
    return {f"{prefix}{k}": v for k, v in figures.items()}
