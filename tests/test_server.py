"""The server over socketpairs, the loop stepped one iteration at a time, a fake clock."""

from __future__ import annotations

import errno
import os
import selectors
import signal
import socket
import tracemalloc

import pytest

from chatd.acceptor import ACCEPT_PAUSE
from chatd.loop import Loop

READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


def conn_of(h, peer_index: int):
    return list(h.server.clients.values())[peer_index]


def test_greeting_arrives_over_the_socket_in_crlf_lines(harness):
    h = harness()
    a = h.connect(read_greeting=False)
    raw = a.read()
    assert raw.startswith(b"*** Welcome to test")
    assert raw.endswith(b"*** You joined #lobby (1 user: guest1)\r\n")
    assert raw.count(b"\n") == raw.count(b"\r\n")


def test_two_clients_chat(harness):
    h = harness()
    a, b = h.connect(), h.connect()
    a.lines()
    a.send("hello b")
    h.step()
    assert b.lines() == ["<guest1> hello b"]
    assert a.lines() == []


def test_lines_split_anywhere_arrive_whole(harness):
    h = harness()
    a, b = h.connect(), h.connect()
    a.lines()
    for chunk in [b"he", b"llo\r", b"\nwor", b"ld\n"]:
        a.send(chunk)
        h.step()
    assert b.lines() == ["<guest1> hello", "<guest1> world"]


def test_bad_bytes_are_sanitised_and_harm_no_one(harness):
    h = harness()
    a, b = h.connect(), h.connect()
    a.lines()
    a.send(b"\xff\xfb\x01\x1b[2Jclear\x00 \xc3( me\r\n", b"\xff\xfd\x03", b"\n", "still here")
    h.step()
    assert b.lines() == ["<guest1> [2Jclear \ufffd( me", "<guest1> still here"]
    assert len(h.server.clients) == 2


def test_line_too_long_is_refused_and_the_connection_stays(harness):
    h = harness(max_line_bytes=16)
    a, b = h.connect(), h.connect()
    a.lines()
    a.send(b"x" * 100 + b"\n", "ok")
    h.step()
    assert a.lines() == ["*** error: line too long (max 16 bytes)"]
    assert b.lines() == ["<guest1> ok"]


def test_endless_line_keeps_server_memory_bounded(harness):
    h = harness(max_line_bytes=64)
    a = h.connect()
    for _ in range(50):
        a.send(b"y" * 4096)
        h.step()
    conn = conn_of(h, 0)
    assert conn.parser.buffered <= 65
    assert a.lines() == ["*** error: line too long (max 64 bytes)"]
    a.send(b"\n/who\n")
    h.step()
    assert a.lines() == ["*** 1 users in #lobby: guest1"]


def test_one_encode_shared_by_every_recipient_queue(harness):
    h = harness()
    a, b, _c = h.connect(), h.connect(), h.connect()
    a.lines(), b.lines()
    conn_b, conn_c = conn_of(h, 1), conn_of(h, 2)
    stuff_socket(conn_b.sock), stuff_socket(conn_c.sock)
    a.send("shared")
    h.step()
    assert conn_b.out[-1] is conn_c.out[-1]
    assert conn_b.out[-1] == b"<guest1> shared\r\n"


def stuff_socket(sock: socket.socket) -> int:
    """Fills the kernel buffer of the server's end so its next send would block."""
    sent = 0
    try:
        while True:
            sent += sock.send(b"\0" * 65536)
    except BlockingIOError:
        return sent


def test_write_interest_only_while_output_is_pending(harness):
    h = harness()
    a, b = h.connect(), h.connect()
    a.lines()
    conn_b = conn_of(h, 1)
    assert conn_b.events == READ
    stuffed = stuff_socket(conn_b.sock)
    a.send("queued")
    h.step()
    assert conn_b.events == READ | WRITE
    assert conn_b.out_size == len(b"<guest1> queued\r\n")
    drained = b.read()
    assert len(drained) == stuffed
    h.step()
    assert b.lines() == ["<guest1> queued"]
    assert conn_b.events == READ
    assert conn_b.out == []


def test_partial_writes_deliver_every_line_whole_and_in_order(harness):
    h = harness(max_send_buffer=10_000_000)
    a, b = h.connect(), h.connect()
    a.lines()
    conn_b = conn_of(h, 1)
    sent = [f"line {i} " + "x" * 50 for i in range(20_000)]
    for start in range(0, len(sent), 500):
        a.send("".join(s + "\n" for s in sent[start : start + 500]).encode())
        h.step(2)
    assert conn_b.events & WRITE  # the pair filled up: partial writes happened
    got: list[str] = []
    for _ in range(10_000):
        got += b.lines()
        h.step()
        if len(got) == len(sent):
            break
    assert got == [f"<guest1> {s}" for s in sent]
    assert conn_b.events == READ


def test_slow_consumer_is_cut_off_and_the_others_go_on(harness):
    h = harness(max_send_buffer=4096)
    a, slow, c = h.connect(), h.connect(), h.connect()
    a.lines(), slow.lines()
    lines = [f"message {i:04d} " + "z" * 80 for i in range(3000)]
    got: list[str] = []
    for i in range(0, len(lines), 100):
        a.send("".join(s + "\n" for s in lines[i : i + 100]).encode())
        h.step()
        got += c.lines()
    assert [g for g in got if g.startswith("<")] == [f"<guest1> {s}" for s in lines]
    assert "*** guest2 left #lobby (too slow: output queue full)" in got
    assert len(h.server.clients) == 2
    slow.read()
    assert slow.closed()


def test_connection_reset_mid_broadcast_harms_no_one(harness):
    h = harness()
    a, b, c = h.connect(), h.connect(), h.connect()
    a.lines(), b.lines()
    b.close()  # vanishes without a word, before the server notices
    a.send("anyone?")
    h.step(2)
    # Whether the EOF or the message is seen first within the tick is up to the kernel.
    assert sorted(c.lines()) == ["*** guest2 left #lobby (connection closed)", "<guest1> anyone?"]
    a.send("still works")
    h.step()
    assert c.lines() == ["<guest1> still works"]


def test_send_error_during_flush_makes_the_client_leave(harness):
    h = harness()
    a, b, c = h.connect(), h.connect(), h.connect()
    a.lines(), b.lines()
    conn_b = conn_of(h, 1)
    h.loop.unregister(conn_b.sock)  # the server will not see the EOF before writing
    conn_b.events = 0
    b.close()
    a.send("into the void")
    h.step(2)
    assert c.lines() == [
        "<guest1> into the void",
        "*** guest2 left #lobby (connection error: Broken pipe)",
    ]
    assert conn_b.fd not in h.server.clients


def test_eof_after_a_command_still_gets_the_answer(harness):
    h = harness()
    a, b = h.connect(), h.connect()
    a.lines()
    b.send("/who")
    b.sock.shutdown(socket.SHUT_WR)
    h.step(3)
    assert b.lines() == ["*** 2 users in #lobby: guest1, guest2"]
    assert b.closed()
    assert a.lines() == ["*** guest2 left #lobby (connection closed)"]


def test_quit_says_bye_then_closes(harness):
    h = harness()
    a, b = h.connect(), h.connect()
    a.lines()
    b.send("/quit see you")
    h.step(2)
    assert b.lines() == ["*** Bye"]
    assert b.closed()
    assert a.lines() == ["*** guest2 left #lobby (see you)"]
    assert len(h.server.clients) == 1


def test_max_clients_refuses_the_extra_one_quietly(harness):
    h = harness(max_clients=2)
    a, b = h.connect(), h.connect()
    a.lines()
    c = h.connect(read_greeting=False)
    assert c.lines() == ["*** error: server is full (max 2 clients)"]
    assert c.closed()
    assert a.lines() == [] and b.lines() == []
    b.send("/quit")
    h.step(2)
    d = h.connect(read_greeting=False)
    assert d.lines()[-1].startswith("*** You joined #lobby")


def test_max_clients_per_ip(harness):
    h = harness(max_clients_per_ip=2)
    kept = [h.connect("10.0.0.7"), h.connect("10.0.0.7")]
    third = h.connect("10.0.0.7", read_greeting=False)
    assert third.lines() == ["*** error: too many connections from your address"]
    assert third.closed()
    other = h.connect("10.0.0.8", read_greeting=False)
    assert other.lines()[-1].startswith("*** You joined")
    assert h.server.chat.per_ip == {"10.0.0.7": 2, "10.0.0.8": 1}
    kept[0].send("/quit")
    h.step(2)
    again = h.connect("10.0.0.7", read_greeting=False)
    assert again.lines()[-1].startswith("*** You joined")


def test_per_ip_zero_means_no_limit(harness):
    h = harness(max_clients_per_ip=0)
    kept = [h.connect("10.0.0.9") for _ in range(30)]
    assert all(not peer.closed() for peer in kept)
    assert len(h.server.clients) == 30


def test_flood_is_delayed_in_order_not_dropped_and_slows_no_one_else(harness):
    h = harness(flood_rate=5, flood_burst=10)
    a, b, c = h.connect(), h.connect(), h.connect()
    a.lines(), b.lines()
    a.send("".join(f"paste {i}\n" for i in range(30)).encode())
    h.step()
    assert b.lines() == [f"<guest1> paste {i}" for i in range(10)]
    assert a.lines() == ["*** error: you are sending too fast; your lines are delayed, not lost"]
    conn_a = conn_of(h, 0)
    assert not conn_a.events & READ  # TCP pushes back on the flooder alone
    c.send("unaffected")
    h.step()
    assert b.lines() == ["<guest3> unaffected"]
    h.tick(0.2)
    assert b.lines() == ["<guest1> paste 10"]
    h.tick(0.2)
    assert b.lines() == ["<guest1> paste 11"]
    got: list[str] = []
    for _ in range(20):  # 18 lines at 5 per second
        h.tick(0.2)
        got += b.lines()
    assert got == [f"<guest1> paste {i}" for i in range(12, 30)]
    assert a.lines() == ["<guest3> unaffected"]  # and no second flood notice
    assert conn_a.events & READ
    a.send("after")
    h.step()
    assert b.lines() == ["<guest1> after"]


def test_flood_notice_again_after_calming_down(harness):
    h = harness(flood_rate=1, flood_burst=2)
    a = h.connect()
    notice = "*** error: you are sending too fast; your lines are delayed, not lost"
    a.send("1", "2", "3")
    h.step()
    assert a.lines() == [notice]
    h.tick(60)
    a.send("4", "5", "6")
    h.step()
    assert a.lines() == [notice]


FLOOD_NOTICE = "*** error: you are sending too fast; your lines are delayed, not lost"


@pytest.mark.parametrize(
    "junk",
    [b"\x01\n", b"\n", b"  \r\n", b"\x1b\x07\n", b"\xff\xfd\x01\n"],
    ids=["control", "blank", "white-space", "escapes", "telnet-only"],
)
def test_lines_that_carry_nothing_still_cost_tokens(harness, junk):
    h = harness(flood_rate=5, flood_burst=10)
    a, b, c = h.connect(), h.connect(), h.connect()
    a.lines(), b.lines()
    a.send(junk * 30, "/who")
    h.step()
    conn_a = conn_of(h, 0)
    assert not conn_a.events & READ  # held back after its burst: TCP pushes back on it
    assert a.lines() == [FLOOD_NOTICE]
    c.send("unaffected")
    h.step()
    assert b.lines() == ["<guest3> unaffected"]
    for _ in range(20):  # 21 more items at 5 per second: the /who comes last, in order
        h.tick(0.2)
    assert a.lines() == ["<guest3> unaffected"]
    h.tick(0.2)
    assert a.lines() == ["*** 3 users in #lobby: guest1, guest2, guest3"]
    assert conn_a.events & READ


@pytest.mark.parametrize(
    "stream",
    [b"\xff\xfa" + b"\x01" * 65536, b"z" * 65536],
    ids=["endless-subnegotiation", "endless-line"],
)
def test_input_that_never_makes_a_line_costs_tokens_by_the_byte(harness, stream):
    h = harness(flood_rate=5, flood_burst=10, max_line_bytes=2048)
    a, b, c = h.connect(), h.connect(), h.connect()
    a.lines(), b.lines()
    a.send(stream)
    h.step()
    conn_a = conn_of(h, 0)
    assert not conn_a.events & READ  # 64 KiB is 32 tokens' worth: held back
    c.send("unaffected")
    h.step()
    assert b.lines() == ["<guest3> unaffected"]
    for _ in range(30):
        h.tick(0.2)
    assert conn_a.events & READ  # a token per 2048 bytes: 64 KiB took about 6 seconds
    assert a.lines() == [
        "*** error: line too long (max 2048 bytes)",
        FLOOD_NOTICE,
        "<guest3> unaffected",
    ]


def test_a_held_back_paste_costs_about_the_bytes_read(harness):
    h = harness(flood_rate=5, flood_burst=10)
    a, b = h.connect(), h.connect()
    a.lines()
    paste = b"ab\n" * 21845  # 64 KiB of short lines: one recv
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        a.send(paste)
        h.step()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    conn_a = conn_of(h, 0)
    assert not conn_a.events & READ
    assert len(b.lines()) == 10
    assert conn_a.parser.buffered == len(paste) - 30  # the rest waits as the bytes read
    assert held < 2 * len(paste)  # as a list of str objects it was over 1 MiB


def test_held_back_input_does_not_count_as_idle(harness):
    h = harness(flood_rate=1, flood_burst=2, idle_timeout=10)
    a = h.connect()
    a.send("".join(f"slow {i}\n" for i in range(29)).encode(), "/who")
    h.step()
    got: list[str] = []
    for _ in range(28):  # 28 s of replay, well past the idle timeout
        h.tick(1)
        got += a.lines()
    assert got == [FLOOD_NOTICE, "*** 1 users in #lobby: guest1"]
    h.tick(9)
    assert a.lines() == []  # not read meanwhile: its idle time starts when reading resumes
    h.tick(2)
    assert a.lines() == ["*** error: idle timeout"]


def test_flood_rate_zero_means_no_flood_control(harness):
    h = harness(flood_rate=0)
    a, b = h.connect(), h.connect()
    a.lines()
    a.send("".join(f"{i}\n" for i in range(500)).encode())
    h.step()
    assert len(b.lines()) == 500


def test_idle_timeout_closes_a_silent_client_only(harness):
    h = harness(idle_timeout=60)
    a, b = h.connect(), h.connect()
    a.lines()
    h.tick(30)
    a.send("still here")
    h.step()
    h.tick(40)  # b silent 70 s, a silent 40 s
    assert b.lines() == ["<guest1> still here", "*** error: idle timeout"]
    assert b.closed()
    assert a.lines() == ["*** guest2 left #lobby (idle timeout)"]
    h.tick(25)
    assert a.lines() == ["*** error: idle timeout"]
    assert h.server.clients == {}


def test_paused_input_stops_reading_and_does_not_count_as_idle(harness):
    h = harness(idle_timeout=60)
    a, b = h.connect(), h.connect()
    a.lines()
    h.server.pause_input(True)  # the bus is backed up
    a.send("sent while paused")
    h.tick(70)
    assert b.lines() == []  # not read, so not relayed, and nobody was idle-kicked
    assert len(h.server.clients) == 2
    h.server.pause_input(False)
    h.step()
    assert b.lines() == ["<guest1> sent while paused"]


def test_shutdown_tells_everyone_flushes_and_stops(harness):
    h = harness()
    a, b = h.connect(), h.connect()
    a.lines()
    h.server.shutdown()
    h.step()
    assert a.lines() == ["*** server shutting down"]
    assert b.lines() == ["*** server shutting down"]
    assert a.closed() and b.closed()
    assert h.loop.stopped
    assert h.server.exit_status == 0


def test_shutdown_flush_is_bounded_for_a_client_that_never_reads(harness):
    h = harness()
    a, _stuck = h.connect(), h.connect()
    stuff_socket(conn_of(h, 1).sock)
    h.server.shutdown()
    h.step()
    assert a.lines()[-1] == "*** server shutting down"
    assert not h.loop.stopped
    h.tick(3.1)
    assert h.loop.stopped
    assert h.server.clients == {}


class FakeListener:
    """A listener whose accept() we script; readable through a socketpair."""

    def __init__(self, results: list) -> None:
        self._r, self._w = socket.socketpair()
        self._w.send(b"!")  # readable, like a listener with a pending connection
        self.results = results
        self.calls = 0

    def fileno(self) -> int:
        return self._r.fileno()

    def accept(self):
        self.calls += 1
        result = self.results.pop(0) if self.results else BlockingIOError()
        if isinstance(result, BaseException):
            raise result
        return result

    def close(self) -> None:
        self._r.close()
        self._w.close()


def test_accept_takes_every_pending_connection(harness):
    h = harness()
    pairs = [socket.socketpair() for _ in range(3)]
    listener = FakeListener(
        [(theirs, (f"10.9.0.{i}", 4000)) for i, (_, theirs) in enumerate(pairs)]
    )
    h.server.replace_listeners([listener])
    h.step()
    assert len(h.server.clients) == 3
    assert sorted(h.server.chat.per_ip) == ["10.9.0.0", "10.9.0.1", "10.9.0.2"]
    for ours, _ in pairs:
        ours.close()
    h.server.replace_listeners([])


def test_out_of_file_descriptors_pauses_accepting_without_spinning(harness):
    h = harness()
    emfile = OSError(errno.EMFILE, "Too many open files")
    ours, theirs = socket.socketpair()
    listener = FakeListener([emfile, (theirs, ("10.0.0.3", 1))])
    h.server.replace_listeners([listener])
    h.step()
    assert listener.calls == 1
    for _ in range(20):  # still readable, but not polled: no busy loop
        h.step()
    assert listener.calls == 1
    assert listener.fileno() not in h.loop.selector.get_map()
    h.tick(ACCEPT_PAUSE)
    h.step()
    assert listener.calls >= 2
    assert len(h.server.clients) == 1
    ours.close()
    h.server.replace_listeners([])


def test_signals_reach_the_loop_through_the_wakeup_fd():
    loop = Loop()
    seen: list[str] = []
    try:
        loop.add_signal_handler(signal.SIGUSR1, lambda: seen.append("usr1"))
        loop.add_signal_handler(signal.SIGUSR2, lambda: seen.append("usr2"))
        os.kill(os.getpid(), signal.SIGUSR2)
        os.kill(os.getpid(), signal.SIGUSR1)
        loop.run_once(1)
        assert sorted(seen) == ["usr1", "usr2"]
    finally:
        loop.close()
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL


def test_timers_run_in_order_and_cancelled_ones_do_not(harness):
    h = harness()
    ran: list[int] = []
    h.loop.call_later(2, lambda: ran.append(2))
    h.loop.call_later(1, lambda: ran.append(1))
    h.loop.call_later(1.5, lambda: ran.append(15)).cancel()
    h.tick(1)
    assert ran == [1]
    h.tick(5)
    assert ran == [1, 2]


def test_tcp_clients_get_nodelay_and_keepalive_for_half_open_peers():
    from chatd.sockets import tune_client_socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        tune_client_socket(sock)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 60
        assert not sock.getblocking()


def test_logs_connects_nicks_refusals_and_disconnects_but_not_chat(harness, caplog):
    caplog.set_level("INFO", logger="chatd")
    h = harness(max_clients=2)
    a, _b = h.connect("10.1.2.3"), h.connect()
    a.send("/nick alice", "secret words", "/msg guest2 private words")
    h.step()
    h.connect(read_greeting=False)
    a.send("/quit bye")
    h.step(2)
    text = caplog.text
    assert "guest1 connected from 10.1.2.3" in text
    assert "guest1 is now known as alice" in text
    assert "refused a client from 10.0.0.1: server is full (max 2 clients)" in text
    assert "alice disconnected (bye)" in text
    assert "secret" not in text and "private" not in text


def test_log_messages_logs_chat_text(harness, caplog):
    caplog.set_level("INFO", logger="chatd")
    h = harness(log_messages=True)
    a, _b = h.connect(), h.connect()
    a.send("visible words", "/msg guest2 private words")
    h.step()
    assert "#lobby <guest1> visible words" in caplog.text
    assert "*guest1* -> *guest2* private words" in caplog.text


def test_freed_heap_goes_back_to_the_os_once_a_burst_is_over(harness, monkeypatch):
    from chatd import writer as server_module  # the output half of the server

    trims: list[float] = []
    monkeypatch.setattr(server_module, "BURST", 3)
    monkeypatch.setattr(server_module, "release_free_heap", lambda: trims.append(h.clock.now))
    h = harness()
    a, b, c, d = (h.connect() for _ in range(4))
    for peer in (a, b, c):
        peer.lines()
    a.send("to everyone")  # written to 3 clients in one tick: a burst
    h.step()
    h.tick(0.3)
    a.send("again")
    h.step()
    h.tick(0.3)
    assert trims == []  # not calm yet: 0.3 s since the last burst
    h.tick(0.3)
    assert len(trims) == 1
    h.tick(5)
    assert len(trims) == 1


def test_a_partial_write_is_resumed_where_it_stopped_not_repeated(harness):
    h = harness(max_send_buffer=1 << 20)
    a, b = h.connect(), h.connect()
    a.lines()
    lines = [f"{i:05d} " + "x" * 990 for i in range(600)]  # 600 KB: more than b's socket takes
    for start in range(0, len(lines), 50):  # b reads nothing meanwhile: a write comes up short
        a.send("".join(line + "\n" for line in lines[start : start + 50]).encode())
        h.step()
    assert conn_of(h, 1).events & WRITE
    got: list[str] = []
    for _ in range(200):
        got += b.lines()
        h.step()
        if len(got) >= len(lines):
            break
    assert got == [f"<guest1> {line}" for line in lines]


def test_the_wait_for_a_token_is_never_a_rounding_short(harness):
    """After exactly token_delay the token is there: floating point (1/rate on a clock of
    1000 s) must not refill to 0.999... and hold the line again for a wait of nothing."""
    h = harness(flood_rate=10000.0, flood_burst=1)
    a = h.connect()
    b = h.connect()
    h.step()
    a.lines(), b.lines()
    a.send("one", "two")
    h.step()
    assert b.lines() == ["<guest1> one"]
    conn = next(c for c in h.server.clients.values() if c.nick == "guest1")
    h.clock.advance(conn.token_delay(10000.0))
    h.step()
    assert b.lines() == ["<guest1> two"]
