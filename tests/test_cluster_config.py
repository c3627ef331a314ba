"""The cluster key: validated like every key, errors naming cluster.<key> and the file."""

from __future__ import annotations

import pytest

from chatd import cli
from chatd import config as cfg


def test_no_cluster_key_means_no_cluster() -> None:
    assert cfg.Config().cluster is None
    assert cfg.from_mapping({"cluster": None}, "f.yaml").cluster is None


def test_a_cluster_takes_defaults_for_all_but_redis() -> None:
    cluster = cfg.from_mapping({"cluster": {"redis": "/run/redis.sock"}}, "f.yaml").cluster
    assert cluster is not None
    assert (cluster.redis, cluster.name, cluster.lease) == ("/run/redis.sock", "chatd", 5.0)
    assert cluster.node and ":" not in cluster.node


def test_every_cluster_key_is_kept() -> None:
    given = {"redis": "redis://u:pw@h:6380/2", "name": "chat-b", "node": "n1", "lease": 2.5}
    cluster = cfg.from_mapping({"cluster": given}, "f.yaml").cluster
    assert cluster == cfg.Cluster(**given)
    assert "pw" not in repr(cluster)


@pytest.mark.parametrize(
    ("value", "key", "words"),
    [
        (5, "cluster", "must be a mapping"),
        ({}, "cluster", "needs redis"),
        ({"redis": "http://h"}, "cluster.redis", "unknown scheme"),
        ({"redis": "redis://u:hunter2@h:x"}, "cluster.redis", "the port must be a number"),
        ({"redis": "/r", "lease": 0.5}, "cluster.lease", "from 1 to 3600"),
        ({"redis": "/r", "lease": True}, "cluster.lease", "must be a number"),
        ({"redis": "/r", "node": "a:b"}, "cluster.node", "letters, digits"),
        ({"redis": "/r", "name": ""}, "cluster.name", "letters, digits"),
        ({"redis": "/r", "name": "x" * 65}, "cluster.name", "letters, digits"),
        ({"redis": "/r", "port": 1}, "cluster.port", "unknown key (known: redis, name"),
    ],
)
def test_bad_cluster_values_name_the_key_and_the_file(value, key: str, words: str) -> None:
    with pytest.raises(cfg.ConfigError) as caught:
        cfg.from_mapping({"cluster": value}, "/etc/chatd.yaml")
    assert (caught.value.source, caught.value.key) == ("/etc/chatd.yaml", key)
    assert words in caught.value.message
    assert "hunter2" not in str(caught.value)


def test_a_bad_cluster_exits_78(tmp_path, capsys) -> None:
    path = tmp_path / "chatd.yaml"
    path.write_text("cluster:\n  redis: /run/redis.sock\n  lease: 0\n")
    assert cli.main(["--check-config", "--config", str(path)]) == 78
    err = capsys.readouterr().err
    assert err.startswith(f"chatd: config error: {path}: cluster.lease: must be a number")
