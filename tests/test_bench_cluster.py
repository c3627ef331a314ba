"""The cluster bench scenario's plumbing: the nodes' config, redis-server's and loadgen's
command lines, what it reads from Redis, which servers it runs on; and a cluster of two
nodes started as the scenario starts it (no load: the bench never runs in the suite)."""

from __future__ import annotations

import argparse
from pathlib import Path

import hiredis
import pytest

from bench import clusterbench, report
from bench.clusterbench import Cluster, Node
from bench.generator import Load
from bench.scenarios import SCENARIOS
from bench.targets import Chatd
from chatd import config


def test_cluster_is_fanout_500_on_chatd_alone(monkeypatch, capsys) -> None:
    func, clients, options = SCENARIOS["cluster"]
    assert (func, clients) == (clusterbench.cluster, 500)
    monkeypatch.setattr(clusterbench, "REDIS_SERVER", "/usr/bin/redis-server")
    monkeypatch.setattr(clusterbench.cgen, "available", lambda: True)
    assert report._runs_on("cluster", "chatd", options)
    for peer in ("baseline", "relay", "ncat", "ngircd"):
        assert not report._runs_on("cluster", peer, options)
    assert "cluster" not in SCENARIOS["fanout500"][2]


def test_without_redis_server_it_says_so_and_skips(monkeypatch, capsys) -> None:
    monkeypatch.setattr(clusterbench, "REDIS_SERVER", None)
    assert not report._runs_on("cluster", "chatd", SCENARIOS["cluster"][2])
    assert "skipping cluster: redis-server is not installed" in capsys.readouterr().err


def test_a_node_config_is_valid_chatd_config(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(clusterbench.node_config(5123, tmp_path / "redis.sock", "a", 510))
    loaded = config.load(str(path))
    assert (loaded.port, loaded.max_clients, loaded.workers, loaded.flood_rate) == (5123, 510, 1, 0)
    assert loaded.cluster is not None
    assert loaded.cluster.redis == str(tmp_path / "redis.sock")
    assert (loaded.cluster.name, loaded.cluster.node) == ("bench", "a")
    assert loaded.cluster.lease == clusterbench.LEASE


def test_redis_listens_on_a_unix_socket_alone_and_saves_nothing(tmp_path: Path) -> None:
    cmd = clusterbench.redis_command(tmp_path)
    pairs = dict(zip(cmd[1::2], cmd[2::2], strict=True))
    assert pairs == {
        "--port": "0",
        "--unixsocket": str(tmp_path / "redis.sock"),
        "--save": "",
        "--appendonly": "no",
        "--dir": str(tmp_path),
    }


def _value(cmd: list[str], option: str) -> str:
    return cmd[cmd.index(option) + 1]


def test_loadgen_splits_the_clients_over_two_nodes(tmp_path: Path, monkeypatch) -> None:
    a, b = Node(tmp_path, tmp_path / "r.sock", "a"), Node(tmp_path, tmp_path / "r.sock", "b")
    monkeypatch.setattr(a, "pids", lambda: [11, 12])  # the first node's, which are replaced
    cmd = clusterbench.loadgen_command([a, b], Load(500, 1, 10, 16, 3.0), [11, 12, 21, 22, 30])
    assert _value(cmd, "--port") == str(a.port) != str(b.port) == _value(cmd, "--alt-port")
    assert _value(cmd, "--alt-every") == "2"
    assert _value(cmd, "--alt-ready") == _value(cmd, "--ready") == "*** You joined"
    pids = [cmd[i + 1] for i, word in enumerate(cmd) if word == "--server-pid"]
    assert pids == ["11", "12", "21", "22", "30"]
    assert _value(cmd, "--clients") == "500" and _value(cmd, "--senders") == "10"


def test_loadgen_on_one_node_dials_one_port(tmp_path: Path) -> None:
    a = Node(tmp_path, tmp_path / "r.sock", "a")
    cmd = clusterbench.loadgen_command([a], Load(500, 1, 10, 16, 3.0), [7])
    assert "--alt-every" not in cmd and "--alt-port" not in cmd
    assert _value(cmd, "--server-pid") == "7"


def test_commands_are_resp_and_entries_added_is_read_from_xinfo() -> None:
    reader = hiredis.Reader()
    reader.feed(clusterbench.resp_command("XINFO", "STREAM", "bench:events"))
    assert reader.gets() == [b"XINFO", b"STREAM", b"bench:events"]
    info = [b"length", 3, b"entries-added", 41, b"last-generated-id", b"1-0"]
    assert clusterbench.entries_added(info) == 41
    with pytest.raises(RuntimeError, match="Redis 7"):
        clusterbench.entries_added([b"length", 3])


def test_events_per_second_is_deliveries_per_receiver() -> None:
    assert clusterbench.events_per_second({"per_second": 4990.0}, 500) == 10


@pytest.mark.e2e
@pytest.mark.cluster
@pytest.mark.skipif(clusterbench.REDIS_SERVER is None, reason=clusterbench.NO_REDIS)
def test_two_nodes_and_redis_start_and_stop_together(tmp_path: Path) -> None:
    with Cluster(tmp_path, 2, 10) as cluster:
        assert all(node.alive for node in cluster.nodes)
        assert len(cluster.roles()["hub"]) == len(cluster.roles()["worker"]) == 2
        assert cluster.entries_added() >= 1  # the epoch's first entry, at least
        procs = [node.proc for node in cluster.nodes] + [cluster.redis]
    assert all(proc is not None and proc.poll() is not None for proc in procs)
    assert b"Traceback" not in b"".join(p.read_bytes() for p in tmp_path.glob("node-*.log"))


def test_the_row_is_two_nodes_with_one_node_beside_it(tmp_path: Path, monkeypatch) -> None:
    def fake(directory: Path, nodes: int, load: Load) -> dict[str, object]:
        rate = 2_000_000.0 if nodes == 2 else 3_000_000.0
        return {
            "per_second": rate, "p50_ms": nodes * 10.0, "p99_ms": nodes * 50.0,
            "max_ms": 200.0, "delivered": 6, "expected": 6, "gen_cpu_pct": 20.0 + nodes,
            "ready": load.clients, "entries": 100 * nodes, "server_cpu_pct": 60.0,
            "hub_cpu_pct": 10, "worker_cpu_pct": 40, "redis_cpu_pct": 2, "alive": True,
            "rss_before_kib": 1, "rss_kib": 2,
        }  # fmt: skip

    monkeypatch.setattr(clusterbench, "measure", fake)
    args = argparse.Namespace(window=16, duration=3.0)
    result = clusterbench.cluster(Chatd(tmp_path, {}), 500, args)
    assert (result.scenario, result.per_second, result.p99_ms) == ("cluster", 2_000_000, 100.0)
    assert result.gen_cpu_pct == 22.0  # the busier of the two loads
    assert result.extra["events_per_s"] == 4008 and result.extra["stream_entries"] == 200
    assert result.extra["one_node_per_second"] == 3_000_000
    assert result.extra["one_node_p99_ms"] == 50.0 and result.extra["one_node_gen_cpu_pct"] == 21
    assert result.extra["two_vs_one"] == 0.67 and "p99_ms" not in result.extra
