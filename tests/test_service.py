"""chatd as a service, without a boot: sd_notify, socket activation, daemon mode and its
pidfile, the unit files (systemd-analyze), log rotation with the real logrotate."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from e2e import BIN, Chatd, TcpPeer, chatd_command, socket_activated

from chatd import systemd
from chatd.daemon import Pidfile, PidfileError

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.e2e


# sd_notify


class NotifySocket:
    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.path = str(path)
        self.seen: list[dict[str, str]] = []  # every message, in order

    def next(self, timeout: float = 10) -> dict[str, str]:
        self.sock.settimeout(timeout)
        data = self.sock.recv(4096).decode()
        message = dict(line.split("=", 1) for line in data.splitlines())
        self.seen.append(message)
        return message

    def until(self, key: str, timeout: float = 10) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while True:
            message = self.next(max(0.01, deadline - time.monotonic()))
            if key in message:
                return message


def test_notifier_speaks_the_datagram_protocol(tmp_path):
    listener = NotifySocket(tmp_path / "notify")
    notifier = systemd.Notifier({"NOTIFY_SOCKET": listener.path})
    assert notifier.ready("serving 0 clients")
    message = listener.next()
    assert message["READY"] == "1" and message["STATUS"] == "serving 0 clients"
    assert message["MAINPID"] == str(os.getpid())
    assert notifier.reloading()
    assert "MONOTONIC_USEC" in listener.next()
    notifier.close()


def test_notifier_reaches_an_abstract_socket():
    name = f"chatd-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        assert systemd.Notifier({"NOTIFY_SOCKET": "@" + name}).stopping()
        assert b"STOPPING=1" in sock.recv(100)


def test_no_notify_socket_means_no_notifications():
    notifier = systemd.Notifier({})
    assert not notifier.enabled and not notifier.ready("x")
    assert notifier.watchdog_interval is None


def test_watchdog_interval_is_half_of_watchdog_usec():
    env = {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}
    assert systemd.Notifier(env).watchdog_interval == 15.0
    assert systemd.Notifier({**env, "WATCHDOG_PID": "1"}).watchdog_interval is None


def test_chatd_notifies_ready_reloading_stopping_and_the_watchdog(tmp_path, monkeypatch):
    listener = NotifySocket(tmp_path / "notify")
    config = tmp_path / "chatd.yaml"
    config.write_text("motd: hi\n")
    monkeypatch.setenv("NOTIFY_SOCKET", listener.path)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    with Chatd("--config", str(config)) as server:
        ready = listener.until("READY")
        assert ready["STATUS"].startswith("serving 0 clients on 127.0.0.1:")
        assert ready["MAINPID"] == str(server.proc.pid)
        assert "WATCHDOG" in listener.until("WATCHDOG", timeout=2)
        server.signal(signal.SIGHUP)
        assert "MONOTONIC_USEC" in listener.until("RELOADING")
        assert listener.until("READY")["READY"] == "1"
        server.signal(signal.SIGTERM)
        assert listener.until("STOPPING")["STOPPING"] == "1"
        assert server.stop() == 0


# Socket activation


def test_socket_activation_uses_the_inherited_listener(tmp_path):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = tmp_path / "chatd.yaml"
    config.write_text("port: 1\n")  # never bound: the socket is systemd's

    proc = socket_activated(listener, "--config", str(config))
    try:
        peer = TcpPeer(socket.create_connection(("127.0.0.1", port), timeout=5))
        assert peer.greeted() == "guest1"
        config.write_text("port: 2\n")
        proc.send_signal(signal.SIGHUP)  # a changed port cannot move systemd's socket
        peer.send("/who")
        assert peer.line() == "*** 1 users in #lobby: guest1"
        second = TcpPeer(socket.create_connection(("127.0.0.1", port), timeout=5))
        assert second.greeted() == "guest2"
        proc.send_signal(signal.SIGTERM)
        assert peer.until("*** server shutting down")[-1] == "*** server shutting down"
        assert proc.wait(10) == 0
        log = proc.stderr.read()
        assert f"listening on 127.0.0.1:{port}".encode() in log
        assert b"bind/port are the socket unit's under socket activation" in log
    finally:
        proc.kill()
        proc.wait()
        listener.close()


def test_listen_fds_ignores_another_process_sockets():
    assert systemd.listen_fds({"LISTEN_PID": "1", "LISTEN_FDS": "1"}) == []
    assert systemd.listen_fds({}) == []


# Daemon mode and the pidfile


def _wait_for(predicate, timeout: float = 10) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def start_daemon(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        chatd_command(
            "--daemon",
            "--port",
            "0",
            "--pidfile",
            str(tmp_path / "chatd.pid"),
            "--log-file",
            str(tmp_path / "chatd.log"),
            *extra,
        ),
        capture_output=True,
        timeout=20,
    )


def test_daemon_mode_detaches_writes_its_pid_and_cleans_up(tmp_path):
    pidfile, log = tmp_path / "chatd.pid", tmp_path / "chatd.log"
    result = start_daemon(tmp_path)
    assert result.returncode == 0, result.stderr
    _wait_for(lambda: pidfile.exists() and pidfile.read_text().strip())
    pid = int(pidfile.read_text())
    try:
        assert _pid_alive(pid)
        _wait_for(lambda: b"listening on" in log.read_bytes())
        port = int(log.read_text().split("listening on 127.0.0.1:")[1].split()[0])
        peer = TcpPeer(socket.create_connection(("127.0.0.1", port), timeout=5))
        assert peer.greeted() == "guest1"
        assert os.getsid(pid) != os.getsid(0)  # detached from our session
        assert _umask(pid) == 0o027
        os.kill(pid, signal.SIGHUP)  # its own signal handling: a reload, not a death
        _wait_for(lambda: b"SIGHUP" in log.read_bytes())
        assert _pid_alive(pid)
        os.kill(pid, signal.SIGTERM)
        assert peer.line() == "*** server shutting down"
        _wait_for(lambda: not _pid_alive(pid))
        assert not pidfile.exists()
    finally:
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_a_live_pidfile_refuses_a_second_daemon(tmp_path):
    pidfile = tmp_path / "chatd.pid"
    assert start_daemon(tmp_path).returncode == 0
    _wait_for(lambda: pidfile.exists() and pidfile.read_text().strip())
    pid = int(pidfile.read_text())
    try:
        second = start_daemon(tmp_path)
        assert second.returncode == 69
        assert f"already running as pid {pid}".encode() in second.stderr
        assert int(pidfile.read_text()) == pid
    finally:
        os.kill(pid, signal.SIGTERM)
        _wait_for(lambda: not _pid_alive(pid))


def test_a_stale_pidfile_is_taken_over(tmp_path):
    pidfile = tmp_path / "chatd.pid"
    dead = subprocess.Popen(["true"])
    dead.wait()
    pidfile.write_text(f"{dead.pid}\n")  # a crashed daemon's leftover: no lock held
    assert start_daemon(tmp_path).returncode == 0
    _wait_for(lambda: pidfile.read_text().strip() not in ("", str(dead.pid)))
    pid = int(pidfile.read_text())
    assert _pid_alive(pid)
    os.kill(pid, signal.SIGTERM)
    _wait_for(lambda: not _pid_alive(pid))
    assert not pidfile.exists()


def test_pidfile_lock_in_process(tmp_path):
    first, second = Pidfile(str(tmp_path / "p")), Pidfile(str(tmp_path / "p"))
    with first:
        assert second.holder() == os.getpid()
        with pytest.raises(PidfileError, match="already running") as info:
            second.lock()
        assert info.value.status == 69
    assert second.holder() is None
    assert not (tmp_path / "p").exists()


def test_pidfile_is_locked_before_its_pid_is_written(tmp_path):
    first, second = Pidfile(str(tmp_path / "p")), Pidfile(str(tmp_path / "p"))
    first.lock()  # what daemon mode does before detaching
    try:
        assert second.holder() == -1  # locked: a second start is refused already
        with pytest.raises(PidfileError, match="already running"):
            second.lock()
        first.write_pid()  # after detaching, in the daemon
        assert second.holder() == os.getpid()
    finally:
        first.release()
    assert not (tmp_path / "p").exists()


def test_a_pidfile_that_cannot_be_created_is_73_in_words(tmp_path):
    with pytest.raises(PidfileError) as info:
        Pidfile(str(tmp_path / "gone" / "p")).lock()
    assert info.value.status == 73
    assert str(info.value) == f"cannot create pidfile {tmp_path}/gone/p: does not exist"


def test_serve_reports_a_pidfile_it_cannot_take_in_one_line(tmp_path, monkeypatch, capsys):
    """What the config check cannot foresee (a race, a full disk): one line and 73, or 69
    for a pidfile another chatd holds; nothing is left listening."""
    from chatd import cli, runner
    from chatd import config as cfg

    monkeypatch.setattr(runner, "hold_signals", lambda: None)  # pytest keeps its signals
    config = cfg.Config(port=0, pidfile=str(tmp_path / "gone" / "chatd.pid"))
    assert cli.serve(config, {}) == 73
    assert capsys.readouterr().err == (
        f"chatd: cannot create pidfile {tmp_path}/gone/chatd.pid: does not exist\n"
    )
    held = Pidfile(str(tmp_path / "chatd.pid"))
    with held:
        config = cfg.Config(port=0, pidfile=held.path)
        assert cli.serve(config, {}) == 69
    assert capsys.readouterr().err == (
        f"chatd: {held.path}: chatd is already running as pid {os.getpid()}\n"
    )


def _umask(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("Umask:")[1].split()[0], 8)


def test_daemon_has_its_pidfile_locked_when_the_start_returns(tmp_path):
    pidfile = tmp_path / "chatd.pid"
    assert start_daemon(tmp_path).returncode == 0
    holder = Pidfile(str(pidfile)).holder()
    try:
        assert holder is not None  # locked before detaching, not some time after
        _wait_for(lambda: pidfile.read_text().strip())
        pid = int(pidfile.read_text())
        assert holder in (-1, pid) and pid != os.getpid()
    finally:
        _wait_for(lambda: pidfile.read_text().strip())
        pid = int(pidfile.read_text())
        os.kill(pid, signal.SIGTERM)
        _wait_for(lambda: not _pid_alive(pid))
    assert not pidfile.exists()


@pytest.mark.parametrize("daemon", [True, False], ids=["daemon", "foreground"])
def test_a_pidfile_in_a_missing_directory_is_one_line_before_anything_starts(tmp_path, daemon):
    result = subprocess.run(
        chatd_command(
            *(["--daemon"] if daemon else []),
            "--port",
            "0",
            "--pidfile",
            str(tmp_path / "run" / "chatd.pid"),
            "--log-file",
            str(tmp_path / "chatd.log"),
        ),
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 78
    assert result.stderr == (
        f"chatd: config error: command line: pidfile: directory {tmp_path}/run does not exist\n"
    )
    assert not (tmp_path / "chatd.log").exists()  # nothing started, nothing detached


def test_a_log_file_in_a_missing_directory_is_one_line_too(tmp_path):
    config = tmp_path / "chatd.yaml"
    config.write_text(f"daemon: true\nlog_file: {tmp_path}/logs/chatd.log\n")
    result = subprocess.run(
        chatd_command("--config", str(config), "--port", "0"),
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 78
    assert result.stderr == (
        f"chatd: config error: {config}: log_file: directory {tmp_path}/logs does not exist\n"
    )


def test_relative_paths_are_the_start_directory_s_in_daemon_mode_and_on_reload(tmp_path):
    (tmp_path / "chatd.yaml").write_text("port: 0\nlog_file: chatd.log\nmotd: first\n")
    result = subprocess.run(
        chatd_command("--daemon", "--config", "chatd.yaml", "--pidfile", "chatd.pid"),
        capture_output=True,
        timeout=20,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    pidfile, log = tmp_path / "chatd.pid", tmp_path / "chatd.log"
    _wait_for(lambda: pidfile.exists() and pidfile.read_text().strip())
    pid = int(pidfile.read_text())
    try:
        _wait_for(lambda: b"listening on" in log.read_bytes())
        port = int(log.read_text().split("listening on 127.0.0.1:")[1].split()[0])
        (tmp_path / "chatd.yaml").write_text("port: 0\nlog_file: chatd.log\nmotd: second\n")
        os.kill(pid, signal.SIGHUP)
        _wait_for(lambda: b"config reloaded" in log.read_bytes())
        assert f"config reloaded from {tmp_path}/chatd.yaml".encode() in log.read_bytes()
        peer = TcpPeer(socket.create_connection(("127.0.0.1", port), timeout=5))
        assert "*** second" in peer.until("*** You joined")
        os.kill(pid, signal.SIGUSR1)  # reopened where it was: still the start directory's
        _wait_for(lambda: b"SIGUSR1" in log.read_bytes())
    finally:
        os.kill(pid, signal.SIGTERM)
        _wait_for(lambda: not _pid_alive(pid))
    assert not pidfile.exists()
    assert not Path("/chatd.pid").exists() and not Path("/chatd.log").exists()


# Extreme values: whatever --check-config accepts runs.

LOWEST = (
    "flood_rate: 0.01\nflood_burst: 1\nidle_timeout: 604800\nmax_clients: 3\n"
    "max_clients_per_ip: 0\nmax_line_bytes: 16\nmax_send_buffer: 1024\nworker_timeout: 1\n"
)
HIGHEST = (
    "flood_rate: 10000\nflood_burst: 10000\nidle_timeout: 604800\nmax_clients: 1000000\n"
    "max_clients_per_ip: 1000000\nmax_line_bytes: 1048576\nmax_send_buffer: 1073741824\n"
    "worker_timeout: 3600\n"
)


@pytest.mark.parametrize(
    ("values", "workers"),
    [(LOWEST, "1"), (LOWEST, "2"), (HIGHEST, "2")],
    ids=["lowest", "lowest-2-workers", "highest-2-workers"],
)
def test_a_server_on_extreme_accepted_values_serves_and_delays(tmp_path, values, workers):
    config = tmp_path / "chatd.yaml"
    config.write_text(values)
    burst = int(values.split("flood_burst: ")[1].split()[0])
    checked = subprocess.run(chatd_command("--check-config", "--config", str(config)))
    assert checked.returncode == 0
    with Chatd("--config", str(config), "--workers", workers) as server:
        a = server.connect()
        nick = a.greeted()
        b = server.connect()
        a.until(f"*** {b.greeted()} joined")  # one after the other: the workers may race
        if burst == 1:  # the second line is held back for 100 s: its timer is armed
            a.send("0", "1")
            notice = "*** error: you are sending too fast; your lines are delayed, not lost"
            assert a.until(notice)[-1] == notice
            assert b.line() == f"<{nick}> 0"
        else:  # twice the burst: the rest comes at 10,000 a second, every line of it
            a.send(*(str(i) for i in range(2 * burst + 1)))
            assert b.count_lines(2 * burst + 1, timeout=20) == 2 * burst + 1
        c = server.connect()
        c.greeted()
        c.send("/who")
        assert c.until("*** 3 users").pop().startswith("*** 3 users in #lobby")
        assert server.proc.poll() is None
        assert server.stop() == 0
    assert b"Traceback" not in server.log
    assert server.log.count(b" started: pid ") == (int(workers) if workers != "1" else 0)


def test_values_that_overflowed_the_loop_are_refused_at_start(tmp_path):
    config = tmp_path / "chatd.yaml"
    config.write_text("idle_timeout: 2592000\n")  # 30 days: past what epoll can wait
    result = subprocess.run(
        chatd_command("--config", str(config), "--port", "0"), capture_output=True, timeout=5
    )
    assert result.returncode == 78
    assert result.stderr.decode() == (
        f"chatd: config error: {config}: idle_timeout: must be a number 0 (never) or from 1 "
        "to 604800, got 2592000\n"
    )


def test_daemon_without_log_file_is_a_config_error(tmp_path):
    result = subprocess.run(
        chatd_command("--daemon", "--port", "0"), capture_output=True, timeout=20
    )
    assert result.returncode == 78
    assert b"daemon: needs log_file" in result.stderr


# The unit files


def _unit_for_this_host(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at a chatd that exists here (verify checks it)."""
    unit = tmp_path / "chatd.service"
    text = (ROOT / "systemd" / "chatd.service").read_text()
    unit.write_text(text.replace("/usr/local/bin/chatd", str(BIN / "chatd")))
    shutil.copy(ROOT / "systemd" / "chatd.socket", tmp_path / "chatd.socket")
    shutil.copy(ROOT / "systemd" / "chatd-irc.socket", tmp_path / "chatd-irc.socket")
    return unit


needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


@needs_analyze
def test_units_verify_without_a_single_remark(tmp_path):
    unit = _unit_for_this_host(tmp_path)
    result = subprocess.run(
        [
            "systemd-analyze",
            "verify",
            "--man=no",
            str(unit),
            str(tmp_path / "chatd.socket"),
            str(tmp_path / "chatd-irc.socket"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert result.stdout + result.stderr == ""


@needs_analyze
def test_unit_security_exposure_is_at_most_2(tmp_path):
    unit = _unit_for_this_host(tmp_path)
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    line = [x for x in result.stdout.splitlines() if "Overall exposure level" in x][0]
    score = float(line.split("level for chatd.service:")[1].split()[0])
    assert score <= 2.0, result.stdout


def test_no_trailing_comments_on_value_lines():
    for path in [
        ROOT / "systemd" / "chatd.service",
        ROOT / "systemd" / "chatd.socket",
        ROOT / "systemd" / "chatd-irc.socket",
        ROOT / "etc" / "logrotate.d" / "chatd",
    ]:
        for line in path.read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                assert " #" not in line and "\t#" not in line, f"{path.name}: {line}"


# Log rotation with the real logrotate, under load


@pytest.mark.skipif(shutil.which("logrotate") is None, reason="logrotate is not installed")
def test_logrotate_under_load_loses_no_line(tmp_path):
    log = tmp_path / "chatd.log"
    with Chatd(log_file=log) as server:
        pid = server.proc.pid
        conf = tmp_path / "logrotate.conf"
        conf.write_text(
            (ROOT / "etc" / "logrotate.d" / "chatd")
            .read_text()
            .replace("/var/log/chatd/*.log", str(log))
            .replace("\tcompress\n", "")
            .replace("\tdelaycompress\n", "")
            .split("\tpostrotate")[0]
            + f"\tpostrotate\n\t\tkill -USR1 {pid}\n\tendscript\n}}\n"
        )
        load = subprocess.Popen(
            [sys.executable, "-c", LOAD, str(server.port), "600"],
            stdout=subprocess.PIPE,
        )
        time.sleep(0.3)
        for _ in range(3):
            rotate = subprocess.run(
                ["logrotate", "-f", "-s", str(tmp_path / "state"), str(conf)],
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert rotate.returncode == 0, rotate.stderr
            time.sleep(0.2)
        assert load.wait(60) == 0
        made = int(load.stdout.read())
        assert server.stop() == 0
    logs = sorted(tmp_path.glob("chatd.log*"))
    assert len(logs) >= 3
    text = "".join(p.read_text() for p in logs)
    assert text.count(" connected from ") == made == 600
    assert text.count(" disconnected (") == made


LOAD = """
import socket, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
for i in range(count):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    buf = b""
    while b"You joined" not in buf:
        buf += s.recv(4096)
    s.sendall(b"/quit\\n")
    while s.recv(4096):
        pass
    s.close()
print(count)
"""


def test_with_workers_the_master_alone_speaks_for_the_service(tmp_path, monkeypatch):
    listener = NotifySocket(tmp_path / "notify")
    monkeypatch.setenv("NOTIFY_SOCKET", listener.path)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    with Chatd("--workers", "2") as server:
        ready = listener.until("READY")
        assert ready["MAINPID"] == str(server.proc.pid)
        assert ready["STATUS"].startswith("2 workers on 127.0.0.1:")
        assert "WATCHDOG" in listener.until("WATCHDOG", timeout=2)
        server.signal(signal.SIGTERM)
        assert "STOPPING" in listener.until("STOPPING")
        assert server.stop() == 0
    with contextlib.suppress(TimeoutError):
        while True:
            listener.next(timeout=0.2)
    readies = [m for m in listener.seen if "READY" in m]
    assert readies and all(m["MAINPID"] == str(server.proc.pid) for m in readies)
