"""Config: defaults, the example file, and one clear error (key and file) for each mistake."""

from __future__ import annotations

import dataclasses
import os
import selectors
import shutil
import socket
from pathlib import Path

import pytest

from chatd import cli
from chatd import config as cfg

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "etc" / "chatd.yaml"
README = ROOT / "README.md"


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
    assert c.worker_count() == len(os.sched_getaffinity(0))  # auto: one per CPU we may use
    assert c.source == path


def test_empty_file_means_defaults(tmp_path):
    assert cfg.load(write(tmp_path, "")).port == 5000


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("port: 70000", "port", "must be a whole number from 0 to 65535, got 70000"),
        ("port: '5000'", "port", "must be a whole number, got '5000'"),
        ("port: true", "port", "must be a whole number, got True"),
        ("max_clients: 0", "max_clients", "from 1 to 1000000, got 0"),
        ("bind: example.com", "bind", "must be an IP address"),
        ("flood_rate: -1", "flood_rate", "0 (off) or from 0.01 to 10000, got -1"),
        ("flood_rate: .nan", "flood_rate", "must be a number"),
        ("log_level: loud", "log_level", "must be one of debug, info, warning, error"),
        ("workers: 0", "workers", "or 'auto'"),
        ("worker_timeout: 0.5", "worker_timeout", "0 (never) or from 1 to 3600"),
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
    with pytest.raises(cfg.ConfigError, match="cannot read: does not exist$"):
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


# Numeric keys: a documented range, enforced, and usable by the loop.

# key -> (lowest, highest, whether 0 is accepted below the range, whole numbers only)
BOUNDS: dict[str, tuple[float, float, bool, bool]] = {
    "port": (0, 65535, False, True),
    "max_clients": (1, 1_000_000, False, True),
    "max_clients_per_ip": (0, 1_000_000, False, True),
    "ipv6_prefix_length": (16, 128, False, True),
    "max_line_bytes": (16, 1 << 20, False, True),
    "max_send_buffer": (1024, 1 << 30, False, True),
    "flood_rate": (0.01, 10000, True, False),
    "flood_burst": (1, 10000, False, True),
    "idle_timeout": (1, 7 * 86400, True, False),
    "workers": (1, 256, False, True),
    "worker_timeout": (1, 3600, True, False),
    "tls_handshake_timeout": (1, 300, False, False),
    "registration_timeout": (1, 3600, False, False),
    "irc_ping_interval": (1, 86400, True, False),
}


def _accepted(key: str, value: object) -> bool:
    # The longest lines need a send buffer to match (test_send_buffer_holds_the_longest_line).
    room = {
        "max_line_bytes": {"max_send_buffer": 1 << 30},
        "max_send_buffer": {"max_line_bytes": 16},
    }.get(key, {})
    try:
        cfg.from_mapping({key: value, **room}, "f.yaml")
    except cfg.ConfigError as exc:
        assert str(exc).startswith(f"f.yaml: {key}: "), exc
        return False
    return True


def test_every_numeric_key_has_bounds_in_this_test():
    numeric = {
        f.name
        for f in dataclasses.fields(cfg.Config)
        if f.name in cfg.KEYS and type(getattr(cfg.Config(), f.name)) in (int, float)
    }
    assert numeric == set(BOUNDS)


@pytest.mark.parametrize("key", sorted(BOUNDS))
def test_numeric_key_accepts_its_bounds_and_nothing_outside(key):
    low, high, zero, whole = BOUNDS[key]
    step = 1 if whole else min(low / 10, 0.001)
    for value in (low, high, (low + high) // 2):
        assert _accepted(key, value), value
    for value in (low - step, high + step, -1, 10**400, float("inf"), float("nan"), True, "1"):
        if value == 0 and zero:
            continue
        assert not _accepted(key, value), value
    assert _accepted(key, 0) is (zero or low == 0)
    if whole:
        assert not _accepted(key, low + 0.5)
    else:
        assert _accepted(key, int(low) + 1) and _accepted(key, low + 0.5)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("idle_timeout", 30 * 86400),  # past epoll's limit (about 24.8 days)
        ("idle_timeout", 1e300),
        ("flood_burst", 10**400),  # float() of it overflows
        ("flood_rate", 1e-300),  # 1 / rate overflows
        ("worker_timeout", 1e300),
        ("max_send_buffer", 1 << 62),
    ],
)
def test_values_that_crashed_the_loop_are_refused(key, value):
    assert not _accepted(key, value)


def _range_cells() -> dict[str, str]:
    """The README's config table: key -> its 'range' cell."""
    text = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:-1] for line in text.splitlines() if line.startswith("| `")]
    header = [line for line in text.splitlines() if line.startswith("| key")][0]
    column = [cell.strip() for cell in header.split("|")[1:-1]].index("range")
    return {row[0].strip().strip("`"): row[column].strip() for row in rows}


def _shown(number: float) -> str:
    return f"{number:,}" if isinstance(number, int) else f"{number:g}"


@pytest.mark.parametrize("key", sorted(BOUNDS))
def test_readme_documents_each_range(key):
    low, high, zero, _ = BOUNDS[key]
    cell = _range_cells()[key]
    assert f"{_shown(low)}–{_shown(high)}" in cell
    assert cell.startswith("0 or ") is zero


def test_example_file_states_each_range():
    text = EXAMPLE.read_text()
    for key, (low, high, _, _) in BOUNDS.items():
        comment = text.split(f"\n{key}:")[0].rsplit("\n", 1)[-1]  # the line above it
        assert f"{_shown(low)}–{_shown(high)}".replace(",", "") in comment.replace(",", ""), key


def _extremes() -> list[dict[str, object]]:
    """Every key at its lowest, then at its highest; the longest idle timeout with the
    lowest rate (the longest timers); workers and port belong to the end-to-end test."""
    lows = {k: (0.01 if k == "flood_rate" else low) for k, (low, _, _, _) in BOUNDS.items()}
    highs = {k: high for k, (_, high, _, _) in BOUNDS.items()}
    lows["idle_timeout"] = highs["idle_timeout"]
    lows["max_clients"] = 3  # the three clients below
    for values in (lows, highs):
        del values["port"], values["workers"]
    return [lows, highs]


@pytest.mark.parametrize("values", _extremes(), ids=["lowest", "highest"])
def test_extreme_accepted_values_serve_a_connect_and_a_delayed_line(harness, values):
    config = cfg.from_mapping(values, "f.yaml")
    h = harness(**{k: getattr(config, k) for k in values})
    a, b = h.connect(), h.connect()
    a.lines()
    burst = int(values["flood_burst"])  # type: ignore[call-overload]
    a.send("".join(f"{i}\n" for i in range(burst + 1)).encode())
    h.step()
    assert len(b.lines()) == burst  # the last one waits for a token
    b.send("/rooms")  # ready at once, so the real wait below returns
    h.loop.run_once(None)  # select gets the flood timer's delay (or the idle timer's)
    assert b.lines() == ["*** #lobby (2 users)"]
    h.tick(1.5 / float(values["flood_rate"]))  # type: ignore[arg-type]
    assert b.lines() == [f"<guest1> {burst}"]
    c = h.connect()
    c.send("/who")
    h.step()
    assert c.lines()[-1].startswith("*** 3 users in #lobby")


# The loop clamps what it hands to select: no timer can overflow it.


@pytest.mark.parametrize("delay", [30 * 86400, 1e300, float("inf")])
def test_loop_waits_safely_whatever_the_timer(delay):
    from chatd.loop import MAX_WAIT, Loop

    loop = Loop()
    ours, theirs = socket.socketpair()
    try:
        seen: list[int] = []
        loop.register(ours, selectors.EVENT_READ, seen.append)
        loop.call_later(delay, lambda: None)
        theirs.send(b"x")
        loop.run_once()  # epoll would raise OverflowError for the raw delay
        assert seen == [selectors.EVENT_READ]
        assert 0 < loop._timeout(None) <= MAX_WAIT
        assert loop._timeout(1e300) <= MAX_WAIT
    finally:
        loop.close()
        ours.close()
        theirs.close()


def test_loop_refuses_a_timer_at_no_time():
    from chatd.loop import Loop

    loop = Loop()
    try:
        with pytest.raises(ValueError, match="not a number"):
            loop.call_later(float("nan"), lambda: None)
    finally:
        loop.close()


# Paths chatd must open: checked with the config, named with where they came from.


def check(*argv: str) -> tuple[int, str]:
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = cli.main(["--check-config", *argv])
    return status, err.getvalue()


def test_log_file_in_a_missing_directory_is_named_with_the_command_line(tmp_path):
    status, err = check("--log-file", str(tmp_path / "nope" / "chatd.log"))
    assert status == 78
    assert err == (
        f"chatd: config error: command line: log_file: directory {tmp_path / 'nope'} "
        "does not exist\n"
    )


def test_pidfile_in_a_missing_directory_is_named_with_the_file(tmp_path):
    path = write(tmp_path, f"pidfile: {tmp_path / 'run' / 'chatd.pid'}\n")
    status, err = check("--config", path)
    assert status == 78
    assert err == (
        f"chatd: config error: {path}: pidfile: directory {tmp_path / 'run'} does not exist\n"
    )


def test_the_source_of_each_key_survives_the_merge(tmp_path):
    path = write(tmp_path, f"log_file: {tmp_path}/x/a.log\npidfile: {tmp_path}/y/a.pid\n")
    status, err = check("--config", path, "--log-file", str(tmp_path / "chatd.log"))
    assert (status, err.split(": ")[2:4]) == (78, [path, "pidfile"])
    status, err = check("--config", path, "--pidfile", str(tmp_path / "y" / "b.pid"))
    assert (status, err.split(": ")[2:4]) == (78, [path, "log_file"])
    status, err = check(
        "--config", path, "--log-file", str(tmp_path / "a.log"), "--pidfile", f"{tmp_path}/z/p"
    )
    assert (status, err.split(": ")[2:4]) == (78, ["command line", "pidfile"])
    c = cfg.override(cfg.load(path), {"log_file": str(tmp_path / "a.log")})
    assert (c.origin("log_file"), c.origin("pidfile"), c.origin("port")) == (
        "command line",
        path,
        "(defaults)",
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: (d / "dir").mkdir() or d / "dir", "{p} is a directory"),
        (lambda d: (d / "f").write_text("") or d / "f" / "chatd.log", "{d}/f is not a directory"),
        (lambda d: d / "a" / "b" / "chatd.log", "directory {d}/a/b does not exist"),
    ],
)
def test_a_bad_path_is_one_line_in_words(tmp_path, make, message):
    path = make(tmp_path)
    for key in ("log-file", "pidfile"):
        status, err = check(f"--{key}", str(path))
        want = message.format(p=path, d=tmp_path)
        assert (status, err) == (
            78,
            f"chatd: config error: command line: {key.replace('-', '_')}: {want}\n",
        )
        assert "Errno" not in err


def test_an_existing_writable_file_in_a_read_only_directory_is_fine(tmp_path):
    # /dev/null, or a log file made by the installer in a directory chatd cannot write
    assert check("--log-file", "/dev/null") == (0, "")


def test_daemon_without_log_file_names_where_daemon_was_set(tmp_path):
    path = write(tmp_path, "daemon: true\n")
    status, err = check("--config", path)
    assert status == 78 and err.startswith(f"chatd: config error: {path}: daemon: needs log_file")
    status, err = check("--daemon")
    assert status == 78 and err.startswith("chatd: config error: command line: daemon: needs")


def _check_as_nobody(*argv: str) -> tuple[int, str]:
    """--check-config in a forked child that runs as nobody (root may write anywhere)."""
    read, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read)
            os.setgid(65534)
            os.setuid(65534)
            status, err = check(*argv)
            os.write(write_end, err.encode())
            os._exit(status)
        finally:
            os._exit(99)
    os.close(write_end)
    with os.fdopen(read) as f:
        err = f.read()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), err


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to check as another user")
def test_a_directory_chatd_cannot_write_is_permission_denied():
    import tempfile

    top = Path(tempfile.mkdtemp(prefix="chatd-test-"))  # pytest's own is root's alone
    try:
        top.chmod(0o755)
        (top / "ro").mkdir(mode=0o555)
        (top / "file.log").write_text("")
        (top / "file.log").chmod(0o444)
        (top / "closed").mkdir(mode=0o700)
        for path, words in [
            (top / "ro" / "chatd.log", f"directory {top}/ro: permission denied"),
            (top / "file.log", f"{top}/file.log: permission denied"),
            (top / "closed" / "chatd.log", f"{top}/closed/chatd.log: permission denied"),
        ]:
            status, err = _check_as_nobody("--log-file", str(path))
            assert status == 78, err
            assert err.startswith(f"chatd: config error: command line: log_file: {words}")
            assert err.count("\n") == 1
    finally:
        shutil.rmtree(top)


# Relative paths: made absolute at load time, against the directory chatd started in.


def test_relative_paths_are_made_absolute_against_the_start_directory(tmp_path, monkeypatch):
    (tmp_path / "logs").mkdir()
    (tmp_path / "chatd.yaml").write_text("log_file: logs/chatd.log\npidfile: chatd.pid\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cfg, "START_DIRECTORY", str(tmp_path))
    c = cfg.override(cfg.load("chatd.yaml"), {"pidfile": "other.pid"})
    assert c.source == str(tmp_path / "chatd.yaml")
    assert c.log_file == str(tmp_path / "logs" / "chatd.log")
    assert c.pidfile == str(tmp_path / "other.pid")
    monkeypatch.chdir("/")  # daemon mode moved; a reload still finds the same files
    again = cfg.override(cfg.load(c.source), {"pidfile": "other.pid"})
    assert (again.log_file, again.pidfile) == (c.log_file, c.pidfile)


# Traps in the file itself.


def test_a_key_given_twice_is_an_error_naming_it_and_its_lines(tmp_path):
    path = write(tmp_path, "port: 5000\nmotd: hi\nport: 6000\n")
    with pytest.raises(cfg.ConfigError) as info:
        cfg.load(path)
    assert str(info.value) == f"{path}: port: given twice, at lines 1 and 3"


def test_a_merge_key_may_still_be_overridden(tmp_path):
    path = write(tmp_path, "base: &b {port: 1}\n")  # unknown key, but the loader must parse
    with pytest.raises(cfg.ConfigError, match="base: unknown key"):
        cfg.load(path)
    path = write(tmp_path, "<<: {port: 6000}\nport: 7000\n")
    assert cfg.load(path).port == 7000


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"port: 5000\nmotd: a\x00b\n", "line 2: a NUL byte is not allowed"),
        (b"port: 5000\n\n\x07\n", "line 3: the control character U+0007 is not allowed"),
    ],
)
def test_a_control_byte_is_one_clear_line(tmp_path, data, message):
    path = tmp_path / "chatd.yaml"
    path.write_bytes(data)
    with pytest.raises(cfg.ConfigError) as info:
        cfg.load(str(path))
    assert str(info.value) == f"{path}: invalid YAML at {message}"


def test_a_number_python_cannot_read_is_one_clear_line(tmp_path, capsys):
    path = write(tmp_path, "port: 5000\nflood_burst: " + "9" * 5000 + "\n")
    assert cli.main(["--check-config", "--config", path]) == 78
    err = capsys.readouterr().err
    assert err.startswith(f"chatd: config error: {path}: invalid YAML at line 2, column 14: ")
    assert err.count("\n") == 1 and len(err) < len(path) + 200


def test_deep_nesting_is_one_clear_line(tmp_path):
    with pytest.raises(cfg.ConfigError, match="nested too deeply"):
        cfg.load(write(tmp_path, "motd: " + "[" * 100000 + "\n"))


def test_a_huge_file_is_refused_without_reading_it_all(tmp_path):
    with pytest.raises(cfg.ConfigError, match="larger than 1 MiB"):
        cfg.load("/dev/zero")


LONG = "x" * 5000


@pytest.mark.parametrize("key", cfg.KEYS)
def test_an_error_quotes_at_most_80_characters_of_the_value(key):
    for bad in (LONG, [LONG], {"a": LONG}, 10**400, 1e300):
        try:
            cfg.from_mapping({key: bad}, "f.yaml")
        except cfg.ConfigError as exc:
            message = exc.message
            assert len(message) < 80 + 100, message
            assert LONG[:81] not in message
    with pytest.raises(cfg.ConfigError) as info:
        cfg.from_mapping({LONG: 1}, "f.yaml")
    assert len(str(info.value).split(": unknown key")[0]) <= 8 + 80


def test_a_long_bad_option_is_shortened_too(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--port", "9" * 5000])
    err = capsys.readouterr().err
    assert "invalid int value" in err and len(err.splitlines()[-1]) < 200


@pytest.mark.parametrize("text", ["²", "9" * 5000, "3.5", "-1"])
def test_a_bad_workers_option_is_a_config_error_not_a_traceback(text, capsys):
    assert cli.main(["--check-config", "--workers", text]) == 78
    err = capsys.readouterr().err
    assert err.startswith("chatd: config error: command line: workers: must be a whole number")
    assert len(err) < 200


def test_send_buffer_holds_the_longest_line(tmp_path):
    """One accepted line must never be what drops its readers as too slow."""
    with pytest.raises(cfg.ConfigError) as exc:
        cfg.from_mapping({"max_line_bytes": 1 << 20}, "f.yaml")
    assert str(exc.value).startswith("f.yaml: max_line_bytes: max_send_buffer (262144) must")
    assert "at least 4 x max_line_bytes (4194304)" in str(exc.value)
    assert cfg.from_mapping({"max_line_bytes": 65536}, "f.yaml").max_line_bytes == 65536
    path = tmp_path / "c.yaml"
    path.write_text("max_line_bytes: 4096\n")
    with pytest.raises(cfg.ConfigError) as exc:  # the key given last is the one named
        cfg.override(cfg.load(str(path)), {"max_send_buffer": 8192})
    assert str(exc.value).startswith("command line: max_send_buffer: ")
