"""The real chatd process on 127.0.0.1, a free port, raw sockets and chatd-client."""

from __future__ import annotations

import os
import pty
import resource
import select
import signal
import socket
import subprocess
import time

import pytest
from e2e import BIN, Chatd, TcpPeer, chatd_command, free_port

pytestmark = pytest.mark.e2e


def test_chat_between_raw_tcp_clients_and_graceful_sigterm():
    with Chatd() as server:
        a, b = server.connect(), server.connect()
        assert a.greeted() == "guest1"
        assert b.greeted() == "guest2"
        assert a.line() == "*** guest2 joined #lobby"
        a.send("/nick alice", "hello everyone")
        assert a.line() == "*** You are now alice"
        assert b.line() == "*** guest1 is now known as alice"
        assert b.line() == "<alice> hello everyone"
        b.send("/msg alice psst")
        assert a.line() == "*guest2* psst"
        assert b.line() == "-> *alice* psst"
        server.signal(signal.SIGTERM)
        assert a.line() == "*** server shutting down"
        assert b.line() == "*** server shutting down"
        assert a.eof() and b.eof()
        assert server.stop() == 0
        assert b"shutting down" in server.log


def test_sigint_is_graceful_too():
    with Chatd() as server:
        a = server.connect()
        a.greeted()
        server.signal(signal.SIGINT)
        assert a.line() == "*** server shutting down"
        assert server.stop() == 0


def test_chatd_client_in_a_pipe():
    with Chatd() as server:
        watcher = server.connect()
        watcher.greeted()
        result = subprocess.run(
            [str(BIN / "chatd-client"), "127.0.0.1", str(server.port)],
            input=b"/nick bot\nhello\n/quit done\n",
            capture_output=True,
            timeout=20,
        )
        assert result.returncode == 0, result.stderr
        out = result.stdout.decode().splitlines()
        assert "*** You are now bot" in out
        assert out[-1] == "*** Bye"
        assert "\r" not in result.stdout.decode()
        assert watcher.until("*** bot left") == [
            "*** guest2 joined #lobby",
            "*** guest2 is now known as bot",
            "<bot> hello",
            "*** bot left #lobby (done)",
        ]
        assert server.stop() == 0


def test_chatd_client_at_end_of_input_without_quit_delivers_everything():
    with Chatd() as server:
        watcher = server.connect()
        watcher.greeted()
        lines = "".join(f"paste {i}\n" for i in range(15)).encode()
        result = subprocess.run(
            [str(BIN / "chatd-client"), "127.0.0.1", str(server.port)],
            input=lines,
            capture_output=True,
            timeout=20,
        )
        assert result.returncode == 0
        got = watcher.until("*** guest2 left", timeout=10)
        assert [g for g in got if g.startswith("<")] == [f"<guest2> paste {i}" for i in range(15)]
        assert server.stop() == 0


def test_chatd_client_reports_a_refused_connection():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = subprocess.run(
        [str(BIN / "chatd-client"), "127.0.0.1", str(port)], capture_output=True, timeout=20
    )
    assert result.returncode == 1
    assert b"cannot connect to 127.0.0.1 port" in result.stderr


def test_bad_config_exits_78_naming_key_and_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("port: 5000\nmax_clients: many\n")
    result = subprocess.run(chatd_command("--config", str(path)), capture_output=True, timeout=20)
    assert result.returncode == 78
    assert f"{path}: max_clients: must be a whole number".encode() in result.stderr


def test_port_in_use_exits_69_with_a_message():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = subprocess.run(chatd_command("--port", str(port)), capture_output=True, timeout=20)
    assert result.returncode == 69
    assert f"cannot listen on 127.0.0.1 port {port}".encode() in result.stderr


def test_sighup_reloads_config_and_keeps_clients(tmp_path):
    path = tmp_path / "chatd.yaml"
    path.write_text("motd: first motd\nmax_clients: 5\n")
    with Chatd("--config", str(path)) as server:
        a = server.connect()
        assert "*** first motd" in a.until("*** You joined")
        path.write_text("motd: second motd\nmax_clients: 1\n")
        server.signal(signal.SIGHUP)
        server.wait_log(b"config reloaded")
        b = server.connect()
        assert b.line() == "*** error: server is full (max 1 clients)"
        assert b.eof()
        path.write_text("max_clients: -3\n")
        server.signal(signal.SIGHUP)
        server.wait_log(b"config not reloaded")
        a.send("/quit")
        a.until("*** Bye")
        c = server.connect()
        assert "*** second motd" in c.until("*** You joined")
        assert server.stop() == 0


def test_sigusr1_reopens_a_rotated_log_file(tmp_path):
    log = tmp_path / "chatd.log"
    with Chatd(log_file=log) as server:
        log.rename(tmp_path / "chatd.log.1")
        server.signal(signal.SIGUSR1)
        server.wait_log(b"log file reopened")  # written to the new file
        a = server.connect()
        a.greeted()
        a.send("/quit")
        a.until("*** Bye")
        assert server.stop() == 0
    rotated = (tmp_path / "chatd.log.1").read_text()
    assert "listening on" in rotated
    assert "guest1 connected" not in rotated
    assert "guest1 connected" in log.read_text()


def test_chatd_client_in_a_terminal_keeps_the_line_being_typed():
    with Chatd() as server:
        watcher = server.connect()
        watcher.greeted()
        master, slave = pty.openpty()
        client = subprocess.Popen(
            [str(BIN / "chatd-client"), "127.0.0.1", str(server.port)],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**os.environ, "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1"},
        )
        os.close(slave)
        screen = Screen(master)
        try:
            screen.wait(b"You joined")
            assert watcher.line() == "*** guest2 joined #lobby"
            os.write(master, b"half a li")
            screen.wait(b"half a li")
            watcher.send("arriving while you type")
            screen.wait(b"arriving while you type")
            os.write(master, b"ne typed\r")
            assert watcher.line() == "<guest2> half a line typed"
            # Ctrl-D once the next prompt is up: between prompts the terminal is in cooked
            # mode, where the line discipline would swallow it (no person types that fast).
            screen.wait(PROMPT_READY, after=b"half a line typed")
            os.write(master, b"\x04")
            assert watcher.line() == "*** guest2 left #lobby (quit)"
            assert client.wait(10) == 0
        finally:
            client.kill()
            client.wait()
            os.close(master)
        assert server.stop() == 0


PROMPT_READY = b"\x1b[?2004h"  # prompt_toolkit turns bracketed paste on when a prompt starts


class Screen:
    """Reads what a program writes to its terminal, with a deadline."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.seen = b""

    def wait(self, text: bytes, timeout: float = 10, after: bytes = b"") -> None:
        deadline = time.monotonic() + timeout
        while not self._shown(text, after):
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.fd], [], [], max(0, left))
            if not ready:
                raise AssertionError(f"{text!r} never shown; screen: {self.seen[-500:]!r}")
            self.seen += os.read(self.fd, 65536)

    def _shown(self, text: bytes, after: bytes) -> bool:
        start = self.seen.find(after)
        return start >= 0 and text in self.seen[start + len(after) :]


def test_out_of_file_descriptors_neither_spins_nor_stops_the_server():
    def low_fd_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (24, 24))

    with Chatd(preexec_fn=low_fd_limit) as server:
        peers = []
        for _ in range(30):  # more than the server has descriptors for
            peers.append(server.connect())
        server.wait_log(b"cannot accept: Too many open files")
        cpu_before = _cpu_seconds(server.proc.pid)
        time.sleep(1.0)
        assert _cpu_seconds(server.proc.pid) - cpu_before < 0.5  # paused, not spinning
        first = peers[0]
        assert first.greeted() == "guest1"
        for peer in peers:
            peer.close()
        late = server.connect()
        assert late.greeted().startswith("guest")
        late.send("/quit")
        late.until("*** Bye")
        assert server.stop() == 0


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_sighup_with_a_new_port_listens_there(tmp_path):
    from chatd.sockets import claim_port

    path = tmp_path / "chatd.yaml"
    path.write_text(f"port: {free_port()}\n")
    with Chatd("--config", str(path), any_port=False) as server:
        a = server.connect()
        a.greeted()
        new_port = free_port()
        path.write_text(f"port: {new_port}\n")
        server.signal(signal.SIGHUP)
        server.wait_log(b"config reloaded")
        b = TcpPeer(socket.create_connection(("127.0.0.1", new_port), timeout=5))
        assert b.greeted() == "guest2"
        assert a.line() == "*** guest2 joined #lobby"  # the old client stayed
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", server.port), timeout=5)
        claim_port(server.port).close()  # the old port is free for another chatd
        with pytest.raises(OSError, match="another chatd"):
            claim_port(new_port)
        assert server.stop() == 0


def test_a_second_sigterm_while_stopping_still_exits_0():
    for _ in range(5):  # the window is short: try it a few times
        with Chatd() as server:
            a = server.connect()
            a.greeted()
            server.signal(signal.SIGTERM)
            assert a.line() == "*** server shutting down"
            while server.proc.poll() is None:
                server.signal(signal.SIGTERM)
                time.sleep(0.001)
            assert server.proc.wait() == 0


def _second_chatd(port: int, *args: str) -> subprocess.CompletedProcess[bytes] | None:
    """Starts another chatd on port; its result, or None if it came up and kept running."""
    proc = subprocess.Popen(
        chatd_command("--port", str(port), *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        out, err = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_one_chat_per_port_whatever_the_worker_counts(workers):

    port = free_port()
    with Chatd("--port", str(port), "--workers", workers, any_port=False) as server:
        a = server.connect()
        assert a.greeted() == "guest1"
        seconds = [("--workers", n) for n in ("1", "2")]
        if workers == "2":  # '::' takes IPv4 too, and a wildcard overlaps 127.0.0.1
            seconds += [("--workers", "2", "--bind", b) for b in ("::", "0.0.0.0")]
        for args in seconds:
            second = _second_chatd(port, *args)
            assert second is not None, f"a second chatd {' '.join(args)} came up on {port}"
            assert second.returncode == 69, second.stderr
            bind = args[-1] if "--bind" in args else "127.0.0.1"
            expected = f"chatd: cannot listen on {bind} port {port}: another chatd is serving"
            assert expected.encode() in second.stderr
        b = server.connect()
        assert b.greeted() == "guest2"  # every client still comes to the one chat
        assert a.line() == "*** guest2 joined #lobby"
        assert server.stop() == 0


def test_a_daemon_keeps_its_port_claimed(tmp_path):
    from chatd.sockets import claim_port

    port, pidfile, log = free_port(), tmp_path / "chatd.pid", tmp_path / "chatd.log"
    args = ("--workers", "2", "--daemon", "--pidfile", str(pidfile), "--log-file", str(log))
    started = subprocess.run(chatd_command("--port", str(port), *args), timeout=20)
    assert started.returncode == 0
    deadline = time.monotonic() + 10
    while b"master listening on" not in (log.read_bytes() if log.exists() else b""):
        assert time.monotonic() < deadline, "the daemon never listened"
        time.sleep(0.02)
    pid = int(pidfile.read_text())
    try:
        second = _second_chatd(port, "--workers", "2")
        assert second is not None, "a second chatd came up beside the daemon"
        assert second.returncode == 69
        assert b"another chatd is serving this port" in second.stderr
    finally:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while True:  # the claim goes with the daemon's last process
        try:
            claim_port(port).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "the claim outlived the daemon"
            time.sleep(0.02)
