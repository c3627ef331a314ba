"""TLS clients of the real server over socketpairs, the loop stepped by hand: the handshake
inside the loop, what a client in its handshake counts for, its timeout, floods, reads
without the socket, close_notify at a stop, and a renewed certificate."""

from __future__ import annotations

import dataclasses
import logging
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import Harness
from tlspki import NAME, Pki, serial_of

from chatd.config import Listen
from chatd.tls import TlsError, TlsStream, client_context
from chatd.tlsconn import TlsConnection


class TlsPeer:
    """A client's TlsStream on the other end of a socketpair, stepped with the server."""

    def __init__(self, h: Harness, sock: socket.socket, context: ssl.SSLContext) -> None:
        self.h = h
        sock.setblocking(False)
        self.stream = TlsStream(sock, context, server_side=False, server_hostname=NAME)
        self._partial = b""

    def handshake(self, rounds: int = 20) -> None:
        for _ in range(rounds):
            self.stream.handshake_step()
            self.h.step()
            if self.stream.handshake_done and not self.stream.wants:
                self.h.step()
                return
        raise AssertionError("the handshake did not finish")

    def send(self, *lines: str) -> None:
        data = b"".join(line.encode() + b"\n" for line in lines)
        while data:
            taken = self.stream.send(data)
            data = data[taken:]
            self.h.step()
        while not self.stream.flush():
            self.h.step()

    def lines(self) -> list[str]:
        data = self._partial
        while (chunk := self.stream.recv(65536)) is not None and chunk:
            data += chunk
        *complete, self._partial = data.split(b"\n")
        return [line.rstrip(b"\r").decode() for line in complete]

    def serial(self) -> int:
        der = self.stream._tls.getpeercert(binary_form=True)
        return serial_of(ssl.DER_cert_to_PEM_cert(der).encode())


class TlsHarness(Harness):
    def __init__(
        self, pki: Pki, pair: tuple[str, str, int] | None = None, **settings: object
    ) -> None:
        self.pki = pki
        self.cert, self.key, self.serial = pair or pki.pair("server")
        listen = (Listen("line", 0, None, True), Listen("irc", 0, None, True))
        super().__init__(listen=listen, tls_cert=self.cert, tls_key=self.key, **settings)
        self.client_context = client_context(pki.cafile)

    def tls_connect(self, ip: str = "10.0.0.1", protocol: str = "line") -> TlsPeer:
        ours, theirs = socket.socketpair()
        self.server.adopt(theirs, ip, protocol, True)
        return TlsPeer(self, ours, self.client_context)

    def connected(self, ip: str = "10.0.0.1", protocol: str = "line") -> TlsPeer:
        peer = self.tls_connect(ip, protocol)
        peer.handshake()
        return peer


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


@pytest.fixture
def h(pki: Pki) -> Iterator[TlsHarness]:
    harness = TlsHarness(pki)
    yield harness
    harness.close()


def greeting_of(peer: TlsPeer) -> list[str]:
    return [line for line in peer.lines() if line]


def test_a_line_client_is_greeted_only_after_its_handshake(h: TlsHarness) -> None:
    peer = h.tls_connect()
    h.step(3)
    assert len(h.server.chat.nicks) == 0  # not in the chat while it handshakes
    assert peer.stream.recv(100) is None  # and no plaintext reached it
    peer.handshake()
    assert any("Welcome" in line or "welcome" in line for line in greeting_of(peer))
    assert len(h.server.chat.nicks) == 1


def test_line_and_plain_clients_chat_across_tls(h: TlsHarness) -> None:
    tls_peer = h.connected()
    greeting_of(tls_peer)
    plain = h.connect(ip="10.0.0.2")
    tls_peer.send("/nick alice", "hello over tls")
    h.step(3)
    assert any("hello over tls" in line for line in plain.lines())
    plain.send("hello in clear")
    h.step(3)
    assert any("hello in clear" in line for line in tls_peer.lines())


def test_an_irc_client_registers_over_tls(h: TlsHarness) -> None:
    peer = h.connected(protocol="irc")
    peer.send("NICK bob", "USER bob 0 * :Bob")
    h.step(3)
    assert any(" 001 bob " in line for line in peer.lines())


def test_a_handshake_counts_against_the_per_ip_limit(pki: Pki) -> None:
    h = TlsHarness(pki, max_clients_per_ip=2)
    try:
        first, second = h.tls_connect(), h.tls_connect()
        third = h.tls_connect()  # both others still in their handshake
        h.step()
        assert third.stream.sock.recv(1) == b""  # closed before any TLS
        ours, theirs = socket.socketpair()  # a plaintext client is counted the same way
        assert h.server.adopt(theirs, "10.0.0.1") is None
        assert b"too many connections" in ours.recv(1000).lower()  # in words it can read
        elsewhere = h.connect(ip="10.0.0.9")  # other IPs are not concerned
        first.handshake()
        second.handshake()
        assert len(h.server.chat.nicks) == 3
        elsewhere.close()
    finally:
        h.close()


def test_handshakes_and_registrations_share_one_count_per_ipv6_prefix(pki: Pki) -> None:
    """Every connection not in the chat yet counts: a TLS handshake and an IRC client
    that has not registered, from two addresses of one /64, fill a limit of two."""
    h = TlsHarness(pki, max_clients_per_ip=2)
    try:
        first = h.tls_connect("2001:db8::1")  # handshaking (kept: its socket stays open)
        irc_ours, irc_theirs = socket.socketpair()
        assert h.server.adopt(irc_theirs, "2001:db8::2", "irc") is not None  # registering
        h.step()
        third = h.tls_connect("2001:db8::3")
        h.step()
        assert third.stream.sock.recv(1) == b""  # the /64 is full
        ours, theirs = socket.socketpair()
        assert h.server.adopt(theirs, "2001:db8::4") is None  # a plaintext line client too
        assert b"too many connections" in ours.recv(1000).lower()
        other = h.tls_connect("2001:db8:0:1::1")  # another /64 is not concerned
        other.handshake()
        assert len(h.server.chat.nicks) == 1
        first.stream.sock.close()
        irc_ours.close()
    finally:
        h.close()


def test_a_handshake_counts_against_max_clients(pki: Pki) -> None:
    h = TlsHarness(pki, max_clients=2, max_clients_per_ip=0)
    try:
        h.tls_connect("10.0.0.1")
        h.tls_connect("10.0.0.2")
        late = h.tls_connect("10.0.0.3")
        h.step()
        assert late.stream.sock.recv(1) == b""
    finally:
        h.close()


def test_a_stalled_handshake_is_cut_at_the_timeout_while_others_chat(
    h: TlsHarness, caplog: pytest.LogCaptureFixture
) -> None:
    stalled = h.tls_connect(ip="10.0.0.7")  # never answers the server
    h.step()
    talker, listener = h.connected(ip="10.0.0.2"), h.connect(ip="10.0.0.3")
    h.clock.advance(h.config.tls_handshake_timeout - 1)
    talker.send("still here")
    h.step(2)
    assert any("still here" in line for line in listener.lines())
    with caplog.at_level(logging.INFO, "chatd.server"):
        h.tick(2)
    assert _closed(stalled.stream.sock)
    assert "not done in 10 s" in caplog.text
    assert not h.server.pending and not h.server.pending.per_ip
    talker.send("and still")
    h.step(2)
    assert any("and still" in line for line in listener.lines())


def _closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(65536, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


@pytest.mark.parametrize(
    "garbage", [b"GET / HTTP/1.0\r\n\r\n", b"\x00" * 5000, b"NICK bob\r\nUSER b 0 * :b\r\n"]
)
def test_garbage_instead_of_a_client_hello_is_closed_with_a_reason(
    h: TlsHarness, caplog: pytest.LogCaptureFixture, garbage: bytes
) -> None:
    ours, theirs = socket.socketpair()
    h.server.adopt(theirs, "10.0.0.5", "line", True)
    ours.sendall(garbage)
    with caplog.at_level(logging.INFO, "chatd.server"):
        h.step(2)
    assert _closed(ours)
    assert "TLS handshake with 10.0.0.5 failed: " in caplog.text
    assert not h.server.clients and not h.server.pending


def test_half_a_record_waits_without_spinning_until_the_timeout(h: TlsHarness) -> None:
    ours, theirs = socket.socketpair()
    conn = h.server.adopt(theirs, "10.0.0.5", "line", True)
    ours.sendall(b"\x16\x03\x01\x02\x00\x01\x00")  # a handshake record's header and a byte
    h.step(3)
    assert isinstance(conn, TlsConnection)
    assert conn.events == 1  # waits for the rest to be read, not for writing
    assert not _closed(ours)
    h.tick(h.config.tls_handshake_timeout + 1)
    assert _closed(ours)


def test_bytes_decrypted_inside_the_stream_are_read_without_the_socket(h: TlsHarness) -> None:
    sender, reader = h.connected(), h.connect(ip="10.0.0.2")
    greeting_of(sender)
    lines = [f"line {n:05d} " + "x" * 900 for n in range(150)]  # far more than one read
    data = b"".join(line.encode() + b"\n" for line in lines)
    while data:
        data = data[sender.stream.send(data) :]
        h.step()
    while not sender.stream.flush():
        h.step()
    got: list[str] = []
    for _ in range(40):  # the client does nothing more: only the server's loop turns
        h.step()
        got += [line for line in reader.lines() if "line " in line]
    assert len(got) == 150


def test_flood_control_releases_what_waits_inside_the_stream(pki: Pki) -> None:
    h = TlsHarness(pki, flood_rate=10, flood_burst=5)
    try:
        sender, reader = h.connected(), h.connect(ip="10.0.0.2")
        sender.send(*[f"flood {n}" for n in range(20)])
        got: list[str] = []
        for _ in range(30):
            h.tick(0.2)
            got += [line for line in reader.lines() if "flood " in line]
        assert len(got) == 20
    finally:
        h.close()


def test_a_graceful_stop_sends_close_notify(h: TlsHarness) -> None:
    peer = h.connected()
    greeting_of(peer)
    h.server.shutdown()
    h.step(3)
    assert any("shutting down" in line for line in peer.lines())
    assert peer.stream.recv(100) == b""
    assert peer.stream.closed_by == "close_notify"


def test_a_client_that_vanishes_without_close_notify_just_leaves(h: TlsHarness) -> None:
    peer, other = h.connected(), h.connect(ip="10.0.0.2")
    peer.send("/nick carol")
    h.step(2)
    other.lines()
    peer.stream.sock.close()
    h.step(3)
    assert any("carol" in line for line in other.lines())  # told of the departure
    assert len(h.server.clients) == 1


def test_a_reader_that_stops_is_dropped_at_max_send_buffer_of_plaintext(pki: Pki) -> None:
    h = TlsHarness(pki, max_send_buffer=16384, max_line_bytes=1024)
    try:
        slow, sender = h.connected(), h.connect(ip="10.0.0.2")
        slow.send("/nick slow")
        sender.send("/nick fast")
        h.step(2)
        slow_conn = next(c for c in h.server.clients.values() if isinstance(c, TlsConnection))
        for n in range(2000):  # the slow client's socket fills, then its queue
            sender.send(f"{n} " + "y" * 1000)
            h.step()
            if slow_conn.reason is not None:
                break
        assert slow_conn.reason == "too slow: output queue full"
        assert slow_conn.unsent() <= 16384 + 2 * 1100  # plaintext queued, bounded
    finally:
        h.close()


def test_a_reload_serves_a_renewed_certificate_to_new_connections_only(
    h: TlsHarness, caplog: pytest.LogCaptureFixture
) -> None:
    old = h.connected()
    assert old.serial() == h.serial
    cert, key, serial = h.pki.pair("renewed")
    h.server.reconfigure(dataclasses.replace(h.config, tls_cert=cert, tls_key=key))
    new = h.connected(ip="10.0.0.2")
    assert new.serial() == serial != h.serial
    old.send("/nick oldtimer", "still up")
    h.step(2)
    assert any("still up" in line for line in new.lines())


def test_a_bad_renewed_pair_is_logged_and_the_old_one_stays(
    h: TlsHarness, caplog: pytest.LogCaptureFixture, pki: Pki
) -> None:
    other_key = pki.pair("other")[1]
    with caplog.at_level(logging.ERROR, "chatd.server"):
        h.server.reconfigure(dataclasses.replace(h.config, tls_key=other_key))
    assert "TLS certificate kept: tls_key" in caplog.text
    assert "does not match" in caplog.text
    assert h.connected().serial() == h.serial


def test_a_failed_handshake_names_the_problem_to_the_client(h: TlsHarness, pki: Pki) -> None:
    peer = h.tls_connect()
    peer.stream = TlsStream(
        peer.stream.sock, client_context(pki.cafile), server_side=False, server_hostname="wrong"
    )
    with pytest.raises(TlsError, match="certificate verify failed: hostname mismatch"):
        peer.handshake()


def test_a_line_and_close_notify_in_one_read_are_both_seen(h: TlsHarness) -> None:
    peer, other = h.connected(), h.connect(ip="10.0.0.2")
    peer.send("/nick dave")
    h.step(2)
    other.lines()
    peer.stream.send(b"last words\n")
    peer.stream.close_notify()  # both reach the server's socket before it reads
    h.step(4)
    seen = other.lines()
    assert any("last words" in line for line in seen)
    assert any("dave" in line and "left" in line for line in seen), seen
    peer.lines()  # what it had not read, up to the server's own close_notify
    assert peer.stream.closed_by == "close_notify"


def test_a_pair_broken_before_the_server_starts_refuses_tls_until_a_reload(
    pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    cert, key, serial = pki.pair("late")
    good = Path(key).read_bytes()
    Path(key).write_bytes(Path(pki.pair("other")[1]).read_bytes())  # a worker respawned now
    with caplog.at_level(logging.ERROR, "chatd.server"):
        h = TlsHarness(pki, (cert, key, serial))
    try:
        assert "TLS clients are refused until a reload" in caplog.text
        refused = h.tls_connect()
        assert _closed(refused.stream.sock)
        plain = h.connect(ip="10.0.0.2")  # the rest of the server works
        assert not plain.closed()
        Path(key).write_bytes(good)
        h.server.reconfigure(h.config)
        assert h.connected(ip="10.0.0.3").serial() == serial
    finally:
        h.close()


def test_a_flood_of_garbage_and_half_open_handshakes_leaves_the_chat_running(
    h: TlsHarness,
) -> None:
    talker, listener = h.connected(ip="10.0.0.2"), h.connect(ip="10.0.0.3")
    flood = []
    for n in range(60):
        ours, theirs = socket.socketpair()
        h.server.adopt(theirs, f"10.1.0.{n}", "line", True)
        # garbage, half a record, or a record header promising 16 KiB that never comes
        ours.sendall(
            [b"\x00" * 3000, b"\x16\x03\x01\x02", b"\x16\x03\x01\x40\x00" + b"a" * 8000][n % 3]
        )
        flood.append(ours)
    h.step(3)
    talker.send("through the flood")
    h.step(3)
    assert any("through the flood" in line for line in listener.lines())
    waiting = [
        c for c in h.server.clients.values() if isinstance(c, TlsConnection) and c.handshaking
    ]
    assert len(waiting) == 40  # the garbage is gone already; the rest wait for the timeout
    h.tick(h.config.tls_handshake_timeout + 1)
    assert all(_closed(sock) for sock in flood)
    assert not h.server.pending and not h.server.pending.per_ip
    talker.send("after it")
    h.step(3)
    assert any("after it" in line for line in listener.lines())
