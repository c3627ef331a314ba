"""Config: defaults, the example file, and one clear error (key and file) for each mistake."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from chatd import cli
from chatd import config as cfg

EXAMPLE = Path(__file__).resolve().parent.parent / "etc" / "chatd.yaml"


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "chatd.yaml"
    path.write_text(text)
    return str(path)


def test_defaults_follow_the_contract():
    c = cfg.Config()
    assert (c.bind, c.port, c.max_clients, c.max_clients_per_ip) == ("127.0.0.1", 5000, 1000, 20)
    assert (c.max_line_bytes, c.max_send_buffer) == (2048, 262144)
    assert (c.flood_rate, c.flood_burst, c.idle_timeout) == (5, 10, 0)
    assert (c.default_room, c.motd, c.workers, c.log_level) == ("lobby", "", 1, "info")
    assert (c.log_file, c.log_messages, c.daemon, c.pidfile) == (None, False, False, None)
    assert c.server_name


def test_example_file_lists_every_key_with_its_default():
    loaded = cfg.load(str(EXAMPLE))
    text = EXAMPLE.read_text()
    for key in cfg.KEYS:
        assert f"\n{key}:" in text, key
    assert dataclasses.replace(loaded, source="x") == dataclasses.replace(cfg.Config(), source="x")


def test_values_are_read(tmp_path):
    path = write(
        tmp_path,
        "bind: '::'\nport: 6000\nmotd: |\n  hello\n  world\nworkers: auto\nflood_rate: 2.5\n",
    )
    c = cfg.load(path)
    assert (c.bind, c.port, c.motd, c.workers, c.flood_rate) == (
        "::",
        6000,
        "hello\nworld\n",
        "auto",
        2.5,
    )
    assert c.worker_count() >= 1
    assert c.source == path


def test_empty_file_means_defaults(tmp_path):
    assert cfg.load(write(tmp_path, "")).port == 5000


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("port: 70000", "port", "must be a whole number from 0 to 65535, got 70000"),
        ("port: '5000'", "port", "must be a whole number, got '5000'"),
        ("port: true", "port", "must be a whole number, got True"),
        ("max_clients: 0", "max_clients", "of at least 1"),
        ("bind: example.com", "bind", "must be an IP address"),
        ("flood_rate: -1", "flood_rate", "at least 0"),
        ("flood_rate: .nan", "flood_rate", "must be a number"),
        ("log_level: loud", "log_level", "must be one of debug, info, warning, error"),
        ("workers: 0", "workers", "or 'auto'"),
        ("worker_timeout: 0.5", "worker_timeout", "0 (never) or at least 1 second"),
        ("default_room: '#no room'", "default_room", "must be a room name"),
        ("daemon: yes please", "daemon", "must be true or false"),
        ("log_file: ''", "log_file", "must not be empty"),
        ("colour: blue", "colour", "unknown key"),
    ],
)
def test_bad_value_names_key_and_file(tmp_path, text, key, message):
    path = write(tmp_path, text + "\n")
    with pytest.raises(cfg.ConfigError) as info:
        cfg.load(path)
    assert str(info.value).startswith(f"{path}: {key}: ")
    assert message in str(info.value)


def test_bad_yaml_names_file_and_line(tmp_path):
    path = write(tmp_path, "port: 5000\nbind: [unclosed\n")
    with pytest.raises(cfg.ConfigError, match=r"invalid YAML at line 3") as info:
        cfg.load(path)
    assert str(info.value).startswith(path)


def test_not_a_mapping(tmp_path):
    with pytest.raises(cfg.ConfigError, match="must be a YAML mapping"):
        cfg.load(write(tmp_path, "- port\n- 5000\n"))


def test_missing_file(tmp_path):
    with pytest.raises(cfg.ConfigError, match="cannot read: No such file"):
        cfg.load(str(tmp_path / "absent.yaml"))


def test_command_line_overrides_are_validated_too():
    base = cfg.Config()
    assert cfg.override(base, {"port": 6001, "bind": None}).port == 6001
    with pytest.raises(cfg.ConfigError, match="^command line: port: "):
        cfg.override(base, {"port": -5})


def test_check_config_exits_0_for_a_good_file(tmp_path, capsys):
    assert cli.main(["--check-config", "--config", str(EXAMPLE)]) == 0
    assert "config OK" in capsys.readouterr().out


def test_check_config_exits_78_with_key_and_file(tmp_path, capsys):
    path = write(tmp_path, "max_line_bytes: lots\n")
    assert cli.main(["--check-config", "--config", path]) == 78
    err = capsys.readouterr().err
    assert f"{path}: max_line_bytes: must be a whole number" in err
    assert err.count("\n") == 1


def test_bad_override_exits_78(capsys):
    assert cli.main(["--check-config", "--log-level", "chatty"]) == 78
    assert "command line: log_level: must be one of" in capsys.readouterr().err


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("chatd ")
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for flag in ["--config", "--check-config", "--bind", "--port", "--max-clients", "--log-level"]:
        assert flag in out


def test_bad_usage_exits_64(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--port", "many"])
    assert info.value.code == 64
    assert "invalid int value" in capsys.readouterr().err
