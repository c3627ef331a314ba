"""SIGHUP and SIGUSR1 end to end, with one process and with a master over two workers:
log-file trouble never stops the server, and a reload reaches every process the same way."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import time
from pathlib import Path

import pytest
from e2e import Chatd, TcpPeer, free_port, socket_activated

pytestmark = pytest.mark.e2e

WORKERS = pytest.mark.parametrize("workers", [1, 2])


class Watched(Chatd):
    """chatd whose log file is named in its config, so that a reload may move it: the
    log is read from `watch` (a test changes it when the file moves)."""

    def __init__(self, *args: str, watch: Path, any_port: bool = True) -> None:
        self.watch = watch
        super().__init__(*args, any_port=any_port)

    def wait_log(self, pattern, timeout: float = 10):  # type: ignore[no-untyped-def]
        self.log_file = self.watch
        try:
            return super().wait_log(pattern, timeout)
        finally:
            self.log_file = None


def wait_stderr(server: Chatd, pattern: bytes, timeout: float = 10) -> re.Match[bytes]:
    """What chatd says on standard error when its log file is in trouble."""
    saved, server.log_file = server.log_file, None
    try:
        return Chatd.wait_log(server, pattern, timeout)
    finally:
        server.log_file = saved


def config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "chatd.yaml"
    path.write_text(text)
    return str(path)


def connected_by(server: Chatd, nick: str) -> int:
    match = server.wait_log(re.compile(rb"chatd\[(\d+)\] INFO " + nick.encode() + rb" connected"))
    return int(match.group(1))


def on_every_worker(
    server: Chatd, workers: int, limit: int = 40, nicks: list[str] | None = None
) -> dict[int, TcpPeer]:
    """One greeted client per worker (pid -> client); the greeting is kept in .greeting,
    and the nick of every client connected on the way in nicks."""
    found: dict[int, TcpPeer] = {}
    for _ in range(limit):
        peer = server.connect()
        peer.greeting = peer.until("*** You joined ")  # type: ignore[attr-defined]
        you = next(line for line in peer.greeting if line.startswith("*** You are "))  # type: ignore[attr-defined]
        nick = you.split()[3]
        if nicks is not None:
            nicks.append(nick)
        found.setdefault(connected_by(server, nick), peer)
        if len(found) == workers:
            return found
    raise AssertionError(f"{limit} clients reached only {list(found)}")


def everyone_still_chats(peers: list[TcpPeer]) -> None:
    """Each client's line reaches every other: nobody was dropped, every worker serves.
    (Server notices are skipped; each round reads the one chat line it sent.)"""
    for i, speaker in enumerate(peers):
        speaker.send(f"still here {i}")
        for other in peers:
            if other is not speaker:
                assert other.until("<")[-1].endswith(f"> still here {i}")


def lines_of(text: str, pid: int) -> list[str]:
    return [line for line in text.splitlines() if f"chatd[{pid}] " in line]


def processes(server: Chatd, workers: list[int]) -> list[int]:
    return [server.proc.pid, *[w for w in workers if w != server.proc.pid]]


# Log-file trouble never stops the server.


@WORKERS
def test_sighup_to_a_log_file_in_a_missing_directory_keeps_everyone(tmp_path, workers):
    log = tmp_path / "chatd.log"
    path = config(tmp_path, f"workers: {workers}\nlog_file: {log}\n")
    missing = tmp_path / "gone" / "chatd.log"
    with Watched("--config", path, watch=log) as server:
        peers = list(on_every_worker(server, workers).values())
        config(tmp_path, f"workers: {workers}\nlog_file: {missing}\nmotd: applied anyway\n")
        server.signal(signal.SIGHUP)
        server.wait_log(b"config reloaded")
        everyone_still_chats(peers)
        newcomer = server.connect()
        assert "*** applied anyway" in newcomer.until("*** You joined")
        server.wait_log(b"guest%d connected" % (len(peers) + 1))  # still logged, in the old file
        assert server.stop() == 0
    text = log.read_text()
    (warning,) = [line for line in text.splitlines() if f"cannot open log file {missing}" in line]
    assert f"logs stay in {log}" in warning
    assert "Traceback" not in text + server.log.decode()


@WORKERS
def test_sigusr1_after_the_log_directory_was_removed_keeps_everyone(tmp_path, workers):
    folder = tmp_path / "logs"
    folder.mkdir()
    log = folder / "chatd.log"
    with Chatd("--workers", str(workers), log_file=log) as server:
        by_worker = on_every_worker(server, workers)
        shutil.rmtree(folder)
        server.signal(signal.SIGUSR1)
        for pid in processes(server, list(by_worker)):  # each process tried, and said so
            wait_stderr(server, f"chatd[{pid}] WARNING cannot reopen".encode())
        everyone_still_chats(list(by_worker.values()))
        for _ in range(3):  # records to write: each would try the missing file again
            server.connect().greeted()
        server.signal(signal.SIGUSR1)
        everyone_still_chats(list(by_worker.values()))
        assert server.stop() == 0
    err = server.log.decode()
    assert "Traceback" not in err and "Logging error" not in err
    for pid in processes(server, list(by_worker)):
        (warning,) = [line for line in lines_of(err, pid) if "cannot reopen" in line]
        assert f"{log}: No such file or directory" in warning


@WORKERS
def test_a_full_disk_is_said_once_per_process_and_everyone_chats_on(tmp_path, workers):
    log = tmp_path / "chatd.log"
    path = config(tmp_path, f"workers: {workers}\nlog_file: {log}\n")
    with Watched("--config", path, watch=log) as server:
        by_worker = on_every_worker(server, workers)
        config(tmp_path, f"workers: {workers}\nlog_file: /dev/full\nmotd: disk full\n")
        server.signal(signal.SIGHUP)
        wait_stderr(server, f"chatd[{server.proc.pid}] WARNING cannot write".encode())
        newcomers = [server.connect() for _ in range(6)]  # connects and lines: records
        for peer in newcomers:
            assert "*** disk full" in peer.until("*** You joined")
        everyone_still_chats([*by_worker.values(), *newcomers])
        for peer in newcomers:
            peer.send("/quit")
            peer.until("*** Bye")
        assert server.stop() == 0
    err = server.log.decode()
    assert "Traceback" not in err and "Logging error" not in err
    warnings = [line for line in err.splitlines() if "cannot write to log file /dev/full" in line]
    pids = [int(re.search(r"chatd\[(\d+)\]", line).group(1)) for line in warnings]  # type: ignore[union-attr]
    assert server.proc.pid in pids and len(pids) == len(set(pids))  # once per process
    assert "No space left on device" in warnings[0]


# Reload means the same thing with one worker or many.


@WORKERS
def test_sighup_moves_every_process_to_the_new_log_file_and_settings(tmp_path, workers):

    first, second = tmp_path / "first.log", tmp_path / "second.log"
    text = "workers: {}\nlog_file: {}\nmotd: {}\nmax_clients: {}\nport: {}\n"
    port = free_port()
    # A new port: the single process listens there; workers need a restart for it.
    moved = port if workers == 1 else free_port()
    path = config(tmp_path, text.format(workers, first, "first motd", 50, port))
    with Watched("--config", path, watch=first, any_port=False) as server:
        before = on_every_worker(server, workers)
        pids = processes(server, list(before))
        config(tmp_path, text.format(workers, second, "second motd", 12, moved))
        server.signal(signal.SIGHUP)
        server.watch = second
        server.wait_log(b"config reloaded")
        later: list[str] = []
        after = on_every_worker(server, workers, nicks=later)
        assert set(after) == set(before)  # the same workers, not restarted ones
        for peer in after.values():
            assert "*** second motd" in peer.greeting  # type: ignore[attr-defined]
        everyone_still_chats([*before.values(), *after.values()])
        extra = []
        while True:  # the new max_clients holds for the whole chat
            peer = server.connect()
            line = peer.line()
            if line.startswith("*** error:"):
                break
            greeting = [line, *peer.until("*** You joined")]
            later += [x.split()[3] for x in greeting if x.startswith("*** You are ")]
            extra.append(peer)
        assert line == "*** error: server is full (max 12 clients)"
        assert len(before) + len(after) + len(extra) == 12
        assert server.stop() == 0
    old, new = first.read_text(), second.read_text()
    for pid in pids:
        assert lines_of(new, pid), f"nothing from {pid} in the new log"
    for nick in later:  # whichever worker took it, it logged in the new file alone
        assert f"INFO {nick} connected" in new and f"INFO {nick} connected" not in old
    assert "config reloaded" not in old
    everything = old + new + server.log.decode()
    assert "socket activation" not in everything and "Traceback" not in everything
    assert everything.count("needs a restart") == (workers > 1)  # said once, by the master


def log_fds(pid: int) -> list[str]:
    """Where a process's open files point (a renamed file shows its new name)."""
    found = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(FileNotFoundError):
            found.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
    return found


@pytest.mark.parametrize(
    ("workers", "signum", "said"),
    [
        (1, signal.SIGHUP, b"no config file to re-read"),
        (2, signal.SIGHUP, b"no config file to re-read"),
        (2, signal.SIGUSR1, b"the workers reopen theirs"),  # over the bus too
    ],
    ids=["1-HUP", "2-HUP", "2-USR1"],
)
def test_without_a_config_file_a_signal_reopens_every_process_log(tmp_path, workers, signum, said):
    log = tmp_path / "chatd.log"
    rotated = tmp_path / "chatd.log.1"
    with Chatd("--workers", str(workers), log_file=log) as server:
        by_worker = on_every_worker(server, workers)
        pids = processes(server, list(by_worker))
        log.rename(rotated)
        server.signal(signum)
        server.wait_log(said)  # in the new file
        for pid in pids:  # reopened on the signal, not on the next record
            deadline = time.monotonic() + 5
            while str(log) not in log_fds(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert str(log) in log_fds(pid) and str(rotated) not in log_fds(pid), pid
        again = on_every_worker(server, workers)
        everyone_still_chats([*by_worker.values(), *again.values()])
        assert server.stop() == 0
    new = log.read_text()
    for pid in pids:
        assert lines_of(new, pid)
    assert "ERROR" not in new + rotated.read_text()


def test_under_socket_activation_with_workers_a_new_port_is_said_once(tmp_path):
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    path = config(tmp_path, "workers: 2\nport: 1\n")  # never bound: the socket is systemd's

    proc = socket_activated(listener, "--config", path)
    try:
        peer = TcpPeer(socket.create_connection(("127.0.0.1", port), timeout=5))
        peer.greeted()
        config(tmp_path, "workers: 2\nport: 2\nmotd: reloaded\n")
        proc.send_signal(signal.SIGHUP)
        for _ in range(20):  # until the reload reached the worker that takes this one
            second = TcpPeer(socket.create_connection(("127.0.0.1", port), timeout=5))
            if "*** reloaded" in second.until("*** You joined"):
                break
            second.close()
            time.sleep(0.05)
        else:
            raise AssertionError("the reload never reached the workers")
        peer.send("still here")
        assert second.until("<")[-1].endswith("> still here")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        log = proc.stderr.read().decode()  # type: ignore[union-attr]
        assert log.count("socket activation") == 1
        assert "bind/port are the socket unit's under socket activation" in log
        assert "needs a restart" not in log
    finally:
        proc.kill()
        proc.wait()
        listener.close()
