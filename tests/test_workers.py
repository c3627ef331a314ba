"""Several workers under a master, end to end: real processes on a free port."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time

import pytest
from e2e import Chatd, TcpPeer
from harness import parse

pytestmark = pytest.mark.e2e


def connected_by(server: Chatd, nick: str) -> int:
    """The pid of the worker that logged this client's connection."""
    match = server.wait_log(re.compile(rb"chatd\[(\d+)\] INFO " + nick.encode() + rb" connected"))
    return int(match.group(1))


def spread(server: Chatd, want_workers: int = 2, limit: int = 40) -> dict[int, list]:
    """Clients until at least want_workers workers have one; worker pid -> [(nick, peer)]."""
    by_worker: dict[int, list] = {}
    for _ in range(limit):
        peer = server.connect()
        nick = peer.greeted()
        by_worker.setdefault(connected_by(server, nick), []).append((nick, peer))
        if len(by_worker) >= want_workers:
            return by_worker
    raise AssertionError(f"all {limit} clients landed on {list(by_worker)}")


def drain(peer: TcpPeer, quiet: float = 0.3) -> list[str]:
    lines = []
    while True:
        try:
            lines.append(peer.line(timeout=quiet))
        except TimeoutError:
            return lines


def workers_of(server: Chatd) -> set[int]:
    return {int(m) for m in re.findall(rb"worker \d+ started: pid (\d+)", server.log)}


def test_one_chat_across_workers():
    with Chatd("--workers", "2", "--max-clients", "50") as server:
        by_worker = spread(server)
        (w1, first), (w2, second) = list(by_worker.items())[:2]
        (nick_a, a), (nick_b, b) = first[0], second[0]
        assert nick_a != nick_b
        everyone = [p for group in by_worker.values() for _, p in group]
        for peer in everyone:
            drain(peer)
        a.send("/nick alice")
        assert a.line() == "*** You are now alice"
        assert b.line() == f"*** {nick_a} is now known as alice"
        b.send("/nick ALICE")
        assert b.line() == "*** error: nick ALICE is taken"
        b.send("/nick bob", "hello from the other worker")
        assert b.line() == "*** You are now bob"
        assert a.until("<bob>") == [
            f"*** {nick_b} is now known as bob",
            "<bob> hello from the other worker",
        ]
        a.send("/msg bob psst", "/me waves")
        assert b.until("*alice*")[-1] == "*alice* psst"
        assert b.line() == "* alice waves"
        b.send("/who")
        who = b.until("*** ")[-1]
        assert who.startswith(f"*** {len(everyone)} users in #lobby: ") and "alice" in who
        a.send("/join dev")
        assert b.until("*** alice left")[-1] == "*** alice left #lobby (joined #dev)"
        b.send("/rooms")
        assert b.until("*** #lobby") == [
            "*** #dev (1 users)",
            f"*** #lobby ({len(everyone) - 1} users)",
        ]
        a.send("".join(f"/msg bob in order {i}\n" for i in range(50)).rstrip("\n"))
        got = [line for line in b.until("*alice* in order 49") if line.startswith("*alice*")]
        assert got == [f"*alice* in order {i}" for i in range(50)]
        assert server.stop() == 0
        # The two were served by two worker processes (not the master): the chat crossed.
        assert {w1, w2} <= workers_of(server) and server.proc.pid not in (w1, w2)


def test_limits_and_guest_numbers_are_global():
    with Chatd("--workers", "2", "--max-clients", "6") as server:
        watcher = server.connect()
        nicks = [watcher.greeted()]
        admitted = [connected_by(server, nicks[0])]  # the worker of each client kept
        kept = [watcher]  # open: a client closed by the garbage collector would leave
        for _ in range(40):
            if len(admitted) == 6:
                break
            peer = server.connect()
            nicks.append(peer.greeted())
            worker = connected_by(server, nicks[-1])
            if len(admitted) == 5 and set(admitted) == {worker}:
                # Six on one worker would not show that the limit is the whole server's.
                peer.send("/quit")
                watcher.until(f"*** {nicks[-1]} left")
                continue
            admitted.append(worker)
            kept.append(peer)
        assert len(set(admitted)) == 2 and len(admitted) == 6
        assert nicks == [f"guest{i}" for i in range(1, len(nicks) + 1)]  # one count for all
        extra = server.connect()
        assert extra.line() == "*** error: server is full (max 6 clients)"
        assert extra.eof()
        assert server.stop() == 0


def test_a_killed_worker_is_replaced_and_its_users_leave():
    with Chatd("--workers", "2") as server:
        by_worker = spread(server)
        (victim, doomed), (survivor, kept) = list(by_worker.items())[:2]
        watcher = kept[0][1]
        drain(watcher)
        os.kill(victim, signal.SIGKILL)
        left = [watcher.line(timeout=5) for _ in doomed]
        assert sorted(left) == sorted(f"*** {n} left #lobby (connection lost)" for n, _ in doomed)
        for _, peer in doomed:
            assert peer.eof()
        # replaced, at the latest after the respawn backoff of a worker that died young;
        # the deadline only bounds the wait on a loaded machine
        deadline = time.monotonic() + 10.0
        while len(workers_of(server)) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
            server.log += _read_available(server)
        assert len(workers_of(server)) == 3
        newcomer = server.connect()
        nick = newcomer.greeted()
        assert watcher.until(f"*** {nick} joined")[-1] == f"*** {nick} joined #lobby"
        assert server.stop() == 0


def _read_available(server: Chatd) -> bytes:
    import select

    fd = server.proc.stderr.fileno()  # type: ignore[union-attr]
    data = b""
    while select.select([fd], [], [], 0)[0]:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    return data


def test_workers_exit_when_the_master_dies():
    with Chatd("--workers", "2") as server:
        a = server.connect()
        a.greeted()
        server.wait_log(b"master listening on")  # logged once every worker is started
        pids = workers_of(server)
        assert len(pids) == 2
        server.proc.kill()
        server.proc.wait()
        assert a.line() == "*** server shutting down"  # the orphaned worker says goodbye
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(p) for p in pids)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_sighup_changes_the_worker_count_and_sigterm_stops_all(tmp_path):
    path = tmp_path / "chatd.yaml"
    path.write_text("workers: 2\nmotd: first\n")
    with Chatd("--config", str(path)) as server:
        a = server.connect()
        a.greeted()
        path.write_text("workers: 3\nmotd: second\n")
        server.signal(signal.SIGHUP)
        server.wait_log(b"worker 2 started")
        server.wait_log(b"(3 workers)")
        assert len(workers_of(server)) == 3
        b = server.connect()
        assert "*** second" in b.until("*** You joined")
        path.write_text("workers: 1\n")
        server.signal(signal.SIGHUP)
        server.wait_log(b"retiring worker 2")
        server.signal(signal.SIGTERM)
        assert server.stop() == 0
        # Every worker left cleanly: the two retired ones (before or after the SIGTERM)
        # and the one that stayed.
        assert b"worker 0 stopped (exited with status 0)" in server.log
        for slot in (1, 2):
            pattern = rb"worker %d (stopped \(|\(pid \d+\) )exited with status 0" % slot
            assert re.search(pattern, server.log), server.log.decode()
        assert b"killed by" not in server.log


def _config(tmp_path, text: str) -> str:
    path = tmp_path / "chatd.yaml"
    path.write_text(text)
    return str(path)


def _leave_nothing_stopped(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def test_a_worker_whose_loop_stops_is_killed_and_replaced(tmp_path):
    config = _config(tmp_path, "workers: 2\nworker_timeout: 2\n")
    with Chatd("--config", config) as server:
        by_worker = spread(server)
        (victim, doomed), (_, kept) = list(by_worker.items())[:2]
        watcher = kept[0][1]
        drain(watcher)
        os.kill(victim, signal.SIGSTOP)  # alive, but its loop no longer turns
        try:
            server.wait_log(f"(pid {victim}) not responding for ".encode(), timeout=5)
            # Stopped, it cannot take the SIGABRT meant to print its stack: SIGKILL follows.
            server.wait_log(f"(pid {victim}) killed by SIGKILL".encode(), timeout=5)
            left = [watcher.line(timeout=5) for _ in doomed]
            assert sorted(left) == sorted(
                f"*** {n} left #lobby (connection lost)" for n, _ in doomed
            )
            server.wait_log(re.compile(rb"worker \d started: pid (?!%d)" % victim))
            newcomer = server.connect()
            nick = newcomer.greeted()
            assert watcher.until(f"*** {nick} joined")[-1] == f"*** {nick} joined #lobby"
        finally:
            _leave_nothing_stopped(victim)
        assert server.stop() == 0


def test_a_stuck_worker_prints_where_it_was_stuck_before_it_goes(tmp_path):
    config = _config(tmp_path, "workers: 2\nworker_timeout: 1\n")
    with Chatd("--config", config) as server:
        victim = min(workers_of(server))
        server.wait_log(f"chatd[{victim}] INFO chatd listening".encode())  # fully started
        os.kill(victim, signal.SIGSTOP)
        try:
            server.wait_log(f"(pid {victim}) not responding for ".encode(), timeout=5)
        finally:
            os.kill(victim, signal.SIGCONT)  # now the pending SIGABRT is handled
        server.wait_log(f"(pid {victim}) killed by SIGABRT".encode(), timeout=5)
        dump = server.log[server.log.index(b"Fatal Python error: Aborted") :]
        assert re.search(rb"File \".*/chatd/\w+\.py\", line \d+ in \w+", dump), dump.decode()
        server.wait_log(re.compile(rb"worker \d started: pid (?!%d)" % victim))
        assert server.stop() == 0


def test_a_worker_that_stops_reading_the_bus_is_cut_and_the_others_go_on(tmp_path):
    config = _config(
        tmp_path, "workers: 2\nworker_timeout: 0\nflood_rate: 0\nmax_line_bytes: 60000\n"
    )
    with Chatd("--config", config) as server:
        by_worker = spread(server, limit=60)
        (victim, doomed), (_, kept) = list(by_worker.items())[:2]
        if len(kept) < 2:
            kept += spread_on(server, exclude=victim)
        (_, watcher), (flooder_nick, flooder) = kept[:2]
        drain(watcher)
        flooder.send("/join flood")
        assert watcher.until(f"*** {flooder_nick} left")[-1].endswith("(joined #flood)")
        os.kill(victim, signal.SIGSTOP)  # its bus backlog grows in the master
        try:
            chunk = ("y" * 59000 + "\n") * 17  # about 1 MiB of lines in a room of one
            for _ in range(200):
                flooder.sock.sendall(chunk.encode())
                server.log += _read_available(server)
                if b"stopped reading the bus" in server.log:
                    break
            match = server.wait_log(
                re.compile(rb"\(pid %d\) stopped reading the bus \((\d+) bytes unread\)" % victim)
            )
            assert int(match.group(1)) > 64 << 20
            left = [watcher.line(timeout=5) for _ in doomed]
            assert sorted(left) == sorted(
                f"*** {n} left #lobby (connection lost)" for n, _ in doomed
            )
            watcher.send("still here")  # the others were never stalled
            flooder.send("/join lobby", "and so am I")
            assert watcher.until("<")[-1].endswith("and so am I")
        finally:
            _leave_nothing_stopped(victim)
        assert server.stop() == 0


def spread_on(server: Chatd, exclude: int, limit: int = 40) -> list:
    """One more client on a worker other than exclude."""
    for _ in range(limit):
        peer = server.connect()
        nick = peer.greeted()
        if connected_by(server, nick) != exclude:
            return [(nick, peer)]
    raise AssertionError(f"all {limit} clients landed on {exclude}")


def test_a_stopped_master_pauses_input_and_loses_nothing(tmp_path):
    config = _config(
        tmp_path, "workers: 2\nflood_rate: 0\nmax_line_bytes: 60000\nmax_send_buffer: 67108864\n"
    )
    with Chatd("--config", config) as server:
        flooder, reader = server.connect(), server.connect()
        nick = flooder.greeted()
        reader.greeted()
        reader.send("/join flood")
        assert reader.until("*** You joined")[-1].startswith("*** You joined #flood")
        flooder.send("/join flood")
        assert reader.until(f"*** {nick} joined")[-1] == f"*** {nick} joined #flood"
        line = ("z" * 59000 + "\n").encode()
        sent, rest = 0, memoryview(b"")
        flooder.sock.setblocking(False)
        server.signal(signal.SIGSTOP)  # the master: nothing crosses the bus any more
        try:
            for _ in range(3000):  # push until the worker says it stopped reading us
                server.log += _read_available(server)
                if b"pausing input" in server.log or sent > 64 << 20:
                    break
                rest = rest or memoryview(line * 16)
                try:
                    done = flooder.sock.send(rest)
                except BlockingIOError:
                    time.sleep(0.01)
                    continue
                sent, rest = sent + done, rest[done:]
        finally:
            server.signal(signal.SIGCONT)
        assert b"pausing input" in server.log, f"{sent} bytes sent and no pause"
        server.wait_log(b"resuming input")
        flooder.sock.settimeout(10)
        flooder.sock.sendall(rest)  # the last whole line
        lines = (sent + len(rest)) // len(line)
        received = reader.count_lines(lines, timeout=20)
        assert received == lines  # every line accepted before the pause got through
        assert server.stop() == 0


def test_random_abuse_leaves_every_worker_serving_and_agreeing(tmp_path):
    """Seeded random clients (commands, garbage, long lines, resets, quits) against two
    workers, with reloads and a worker killed midway: no traceback, and afterwards every
    worker's replica tells the same story."""
    import random
    import socket

    config = _config(tmp_path, "workers: 2\nflood_rate: 50\nmax_clients: 60\n"
                     "max_clients_per_ip: 0\nmax_send_buffer: 65536\n")  # fmt: skip
    rng = random.Random(7)
    lines = [b"/nick n%d\n", b"/join r%d\n", b"/who\n", b"/rooms\n", b"/msg n%d hi\n",
             b"/me waves %d\n", b"/quit bye %d\n", b"/bogus %d\n", b"//%d\n", b"/nick %d\n",
             b"/join #\xff%d\n", b"hello %d\n", b"\xff\xfb\x01\xff\xfd%d\r\n"]  # fmt: skip
    log = tmp_path / "chatd.log"  # a file: nobody reads a pipe while the clients run
    with Chatd("--config", config, log_file=log) as server:
        socks: list[socket.socket] = []
        killed = False
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            if len(socks) < 150 and (not socks or rng.random() < 0.1):
                s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
                s.setblocking(False)
                socks.append(s)
            s = rng.choice(socks)
            roll = rng.random()
            with contextlib.suppress(OSError):
                if roll < 0.05:
                    socks.remove(s)
                    if rng.random() < 0.5:  # reset, not close
                        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
                    s.close()
                    continue
                if roll < 0.1:
                    s.send(os.urandom(rng.randrange(1, 3000)))
                elif roll < 0.13:
                    s.send(b"x" * rng.randrange(2000, 9000) + b"\n")
                else:
                    line = rng.choice(lines)
                    s.send(line % rng.randrange(40) if b"%d" in line else line)
                while s.recv(65536):
                    pass
            if rng.random() < 0.005:
                server.signal(signal.SIGHUP)
            if not killed and time.monotonic() > deadline - 2:
                killed = True
                with open(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children") as f:
                    os.kill(int(f.read().split()[0]), signal.SIGKILL)
        for s in socks:
            s.close()
        testers = [_admitted(server) for _ in range(6)]
        for t in testers:
            t.send("/join check")
        for t in testers:
            t.until("*** You joined #check")
        views = [_who_once_all_joined(t, 6) for t in testers]
        assert len(set(views)) == 1
        assert server.stop() == 0
        assert b"Traceback" not in server.log + log.read_bytes()
        assert b"killed by SIGKILL" in log.read_bytes()


def _who_once_all_joined(peer: TcpPeer, count: int) -> str:
    """The /who answer once the room has count members (joins cross workers)."""
    for _ in range(50):
        peer.send("/who")
        answer = next(x for x in iter(peer.line, None) if re.match(r"\*\*\* \d+ users in ", x))
        if answer.startswith(f"*** {count} users"):
            return answer
        time.sleep(0.1)
    raise AssertionError(f"never {count} users: {answer}")


def _admitted(server: Chatd, tries: int = 100) -> TcpPeer:
    """A client that got in: the server may stay full while the departed drain."""
    for _ in range(tries):
        peer = server.connect()
        first = peer.line()
        if not first.startswith("*** error: server is full"):
            peer.until("*** You joined")
            return peer
        peer.close()
        time.sleep(0.1)
    raise AssertionError("the server stayed full")


def test_the_longest_line_reaches_the_other_worker_however_it_grows_on_the_bus(tmp_path):
    """1 MiB of invalid UTF-8 is 3 MiB of U+FFFD on the bus, 1 MiB of backslashes 2 MiB of
    JSON: the master must carry them, not die of them."""
    config = _config(
        tmp_path, "workers: 2\nflood_rate: 0\nmax_line_bytes: 1048576\nmax_send_buffer: 16777216\n"
    )
    longest = 1 << 20
    with Chatd("--config", config) as server:
        by_worker = spread(server)
        (_, first), (_, second) = list(by_worker.items())[:2]
        (nick, sender), receivers = first[0], [p for _, p in second]
        everyone = [p for group in by_worker.values() for _, p in group]
        for peer in everyone:
            drain(peer)
        for byte, shown in ((b"\xfe", "\ufffd"), (b"\\", "\\"), (b'"', '"')):
            sender.sock.sendall(byte * longest + b"\n")
            for peer in receivers:
                assert peer.line(timeout=10) == f"<{nick}> " + shown * longest
        # 0xFF is also telnet's IAC: the line is what the parser makes of it, and no one
        # is dropped for it.
        ffs = b"\xff" * longest
        relayed = [f"<{nick}> {text}" for text in parse(ffs + b"\n", longest)]
        sender.sock.sendall(ffs + b"\nafter\n")
        for peer in receivers:
            assert peer.until(f"<{nick}> after", timeout=10) == [*relayed, f"<{nick}> after"]
        sender.send("/who")
        assert sender.until("*** ")[-1].startswith(f"*** {len(everyone)} users in #lobby: ")
        assert server.stop() == 0
        assert b"bad bus frame" not in server.log and b"Traceback" not in server.log
