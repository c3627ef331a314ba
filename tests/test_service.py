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
from e2e import BIN, Chatd, TcpPeer, chatd_command

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

    def as_fd_3() -> None:
        os.dup2(listener.fileno(), 3)

    command = " ".join(chatd_command("--config", str(config)))
    proc = subprocess.Popen(
        ["sh", "-c", f"LISTEN_PID=$$ LISTEN_FDS=1 exec {command}"],
        preexec_fn=as_fd_3,
        stderr=subprocess.PIPE,
        close_fds=False,
    )
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
        assert peer.until("*** server shutting down")
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
        assert pidfile.stat().st_mode & 0o777 == 0o640  # made after detaching: umask 027
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
        with pytest.raises(PidfileError, match="already running"):
            second.check()
    assert second.holder() is None
    assert not (tmp_path / "p").exists()


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
    return unit


needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


@needs_analyze
def test_units_verify_without_a_single_remark(tmp_path):
    unit = _unit_for_this_host(tmp_path)
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit), str(tmp_path / "chatd.socket")],
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
