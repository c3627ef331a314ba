"""TlsStream over socketpairs, stepped by hand, and the contexts' config errors."""

from __future__ import annotations

import os
import selectors
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from tlspki import Pki as BasePki

from chatd.tls import (
    EVENT_READ,
    EVENT_WRITE,
    Step,
    TlsConfigError,
    TlsError,
    TlsStream,
    client_context,
    client_handshake,
    reload_context,
    server_context,
)

NAME = "chat.test"


class Pki(BasePki):
    """The shared test CA (tests/tlspki.py), its server certificates for NAME alone."""

    def pair(
        self, tag: str, issuer: trustme.CA | None = None, names: tuple[str, ...] = (NAME,)
    ) -> tuple[str, str, int]:
        return super().pair(tag, issuer, names)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


@pytest.fixture
def server_ctx(pki: Pki) -> ssl.SSLContext:
    cert, key, _ = pki.pair("server")
    return server_context(cert, key)


def streams(
    sctx: ssl.SSLContext, cctx: ssl.SSLContext, name: str = NAME
) -> tuple[TlsStream, TlsStream]:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    return TlsStream(a, sctx), TlsStream(b, cctx, server_side=False, server_hostname=name)


def ready(stream: TlsStream, events: int) -> int:
    """What the selector reports for the stream's socket right now, without waiting."""
    with selectors.DefaultSelector() as sel:
        sel.register(stream.sock, events)
        return sum(mask for _, mask in sel.select(0))


def drive(*items: TlsStream, rounds: int = 50) -> None:
    """Steps the handshakes through a selector until both finish; fails if it stalls."""
    with selectors.DefaultSelector() as sel:
        for _ in range(rounds):
            pending = [s for s in items if not s.handshake_done]
            for s in pending:
                s.handshake_step()
            pending = [s for s in items if not s.handshake_done or s.wants]
            if not pending:
                return
            for s in pending:
                sel.register(s.sock, s.wants or EVENT_READ)
            assert sel.select(1), "the handshake stalled"
            for s in pending:
                sel.unregister(s.sock)
    raise AssertionError("the handshake did not finish")


def transfer(sender: TlsStream, receiver: TlsStream, data: bytes, chunk: int = 65536) -> bytes:
    """Sends data while the other side reads, the way a loop would; what arrived."""
    queue, got = bytearray(data), bytearray()
    with selectors.DefaultSelector() as sel:
        for _ in range(10_000):
            while queue and (n := sender.send(queue)):
                del queue[:n]
            while (piece := receiver.recv(chunk)) is not None and piece:
                got += piece
            if len(got) == len(data):
                return bytes(got)
            sel.register(receiver.sock, EVENT_READ)
            if queue or sender.wants:
                sel.register(sender.sock, EVENT_WRITE)
            assert sel.select(1), "the transfer stalled"
            sel.unregister(receiver.sock)
            if sender.sock in sel.get_map():
                sel.unregister(sender.sock)
    raise AssertionError("the transfer did not finish")


@pytest.fixture
def connected(pki: Pki, server_ctx: ssl.SSLContext) -> Iterator[tuple[TlsStream, TlsStream]]:
    server, client = streams(server_ctx, client_context(pki.cafile))
    drive(server, client)
    yield server, client
    server.close()
    client.close()


def test_handshake_and_data_both_ways(connected: tuple[TlsStream, TlsStream]) -> None:
    server, client = connected
    assert server.version() in ("TLSv1.2", "TLSv1.3")
    assert transfer(client, server, b"hello\n") == b"hello\n"
    assert transfer(server, client, b"*** hi\r\n") == b"*** hi\r\n"
    big = os.urandom(200_000)  # many TLS records
    assert transfer(client, server, big, chunk=1000) == big
    assert transfer(server, client, big) == big


def test_decrypted_bytes_are_read_without_waiting_for_the_socket(
    connected: tuple[TlsStream, TlsStream],
) -> None:
    server, client = connected
    payload = os.urandom(20_000)  # more than one 16 KiB record
    assert client.send(payload) == len(payload)
    first = server.recv(1000)
    assert first == payload[:1000]
    # The rest is inside the stream: the socket says nothing, pending() says it is there.
    assert ready(server, EVENT_READ) == 0
    assert server.pending() > 0
    rest = bytearray()
    while server.pending():
        piece = server.recv(1000)
        assert piece
        rest += piece
    assert first + rest == payload
    assert server.recv(1000) is None
    assert server.pending() == 0


class HalfWriter:
    """A socket that lets only the first `allow` bytes through, then is full."""

    def __init__(self, sock: socket.socket, allow: int) -> None:
        self.sock, self.allow = sock, allow

    def send(self, data: bytes) -> int:
        if self.allow <= 0:
            raise BlockingIOError
        sent = self.sock.send(bytes(data[: self.allow]))
        self.allow -= sent
        return sent

    def recv(self, n: int) -> bytes:
        return self.sock.recv(n)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()


def test_half_a_record_leaves_recv_waiting_without_spinning(
    connected: tuple[TlsStream, TlsStream],
) -> None:
    server, client = connected
    client.sock = HalfWriter(client.sock, 500)  # type: ignore[assignment]
    assert client.send(b"x" * 2000) == 2000  # taken: the ciphertext waits inside the stream
    assert client.wants == EVENT_WRITE
    assert server.recv(4096) is None  # half a record: nothing to give yet
    assert server.pending() == 0
    assert ready(server, EVENT_READ) == 0  # and the socket is drained: no busy loop
    client.sock.allow = 1 << 20  # type: ignore[attr-defined]
    assert client.flush()
    assert client.wants == 0
    assert server.recv(4096) == b"x" * 2000


def test_a_full_socket_makes_send_take_nothing_until_it_drains(
    connected: tuple[TlsStream, TlsStream],
) -> None:
    server, client = connected
    taken = 0
    while n := server.send(b"y" * 65536):
        taken += n
        assert taken < 50 << 20, "send never reported a full socket"
    assert server.wants == EVENT_WRITE
    assert server.send(b"z") == 0  # nothing is taken while ciphertext waits
    got = 0
    while got < taken:
        piece = client.recv(65536)
        if piece is None:
            server.flush()
            continue
        got += len(piece)
    assert got == taken
    assert server.flush() and server.wants == 0


def test_garbage_instead_of_a_client_hello_fails_with_a_reason(
    server_ctx: ssl.SSLContext,
) -> None:
    a, b = socket.socketpair()
    a.setblocking(False)
    server = TlsStream(a, server_ctx)
    b.sendall(b"GET / HTTP/1.1\r\nHost: chat.test\r\n\r\n")
    with pytest.raises(TlsError) as caught:
        server.handshake_step()
    reason = caught.value.reason
    assert reason and "\n" not in reason and len(reason) < 80
    assert "http" in reason or "version" in reason, reason
    a.close()
    b.close()


def test_a_client_that_never_finishes_leaves_the_handshake_waiting(
    pki: Pki, server_ctx: ssl.SSLContext
) -> None:
    server, client = streams(server_ctx, client_context(pki.cafile))
    assert server.handshake_step() is Step.WANT_READ  # nothing sent at all
    assert client.handshake_step() is Step.WANT_READ  # the ClientHello, then silence
    assert server.handshake_step() is Step.WANT_READ  # answered; the client's Finished never comes
    assert not server.handshake_done
    assert server.wants == EVENT_READ
    client.close()  # and a peer that goes mid-handshake is a failure, not a hang
    with pytest.raises(TlsError, match="closed during the handshake"):
        server.handshake_step()
    server.close()


def test_a_client_handshake_gives_up_at_its_timeout(pki: Pki) -> None:
    a, b = socket.socketpair()  # b answers nothing
    started = time.monotonic()
    with pytest.raises(TlsError, match=r"the handshake took over 0.2 s"):
        client_handshake(a, client_context(pki.cafile), NAME, timeout=0.2)
    assert 0.2 <= time.monotonic() - started < 5
    a.close()
    b.close()


def test_close_notify_from_the_server(connected: tuple[TlsStream, TlsStream]) -> None:
    server, client = connected
    assert server.close_notify() is Step.DONE
    assert client.recv(100) == b""
    assert client.closed_by == "close_notify"


def test_close_notify_from_the_client_is_a_half_close(
    connected: tuple[TlsStream, TlsStream],
) -> None:
    server, client = connected
    early = os.urandom(40_000) + b"already on its way\n"  # records read, not yet decrypted
    assert server.send(early) == len(early)
    head = client.recv(100)
    assert head is not None and client.pending() > 0
    assert client.close_notify() is Step.DONE
    assert server.recv(100) == b""
    assert server.closed_by == "close_notify"
    assert server.send(b"*** Bye\r\n") == 9  # the server still answers
    assert server.close_notify() is Step.DONE
    got = bytearray()
    while piece := client.recv(100):
        got += piece
    assert head + got == early + b"*** Bye\r\n"
    assert client.recv(100) == b""
    assert client.closed_by == "close_notify"


def test_a_peer_closing_without_close_notify_is_a_plain_disconnect(
    connected: tuple[TlsStream, TlsStream],
) -> None:
    server, client = connected
    assert client.recv(100) is None  # reads the tickets: a close with unread data is a reset
    client.sock.close()
    assert server.recv(100) == b""
    assert server.closed_by == "eof"


class Resetting(HalfWriter):
    def recv(self, n: int) -> bytes:
        raise ConnectionResetError(104, "Connection reset by peer")


def test_a_reset_is_a_plain_disconnect(connected: tuple[TlsStream, TlsStream]) -> None:
    server, _ = connected
    server.sock = Resetting(server.sock, 0)  # type: ignore[assignment]
    assert server.recv(100) == b""
    assert server.closed_by == "reset"


def serial_seen(stream: TlsStream) -> int:
    cert = stream.peer_certificate()
    assert cert is not None
    return int(cert["serialNumber"], 16)


def test_reload_serves_the_new_certificate_to_new_connections_only(pki: Pki) -> None:
    old_cert, old_key, old_serial = pki.pair("old")
    new_cert, new_key, new_serial = pki.pair("new")
    current = server_context(old_cert, old_key)
    cctx = client_context(pki.cafile)
    old_server, old_client = streams(current, cctx)
    drive(old_server, old_client)

    current, error = reload_context(current, new_cert, new_key)
    assert error is None
    new_server, new_client = streams(current, cctx)
    drive(new_server, new_client)
    assert serial_seen(new_client) == new_serial
    assert serial_seen(old_client) == old_serial
    assert transfer(old_client, old_server, b"still here\n") == b"still here\n"

    kept, error = reload_context(current, new_cert, old_key)  # a mismatched renewal
    assert kept is current
    assert error is not None and error.key == "tls_key"


def test_the_cert_file_may_hold_the_chain(pki: Pki) -> None:
    cert, key, serial = pki.pair("leaf", issuer=pki.ca.create_child_ca())
    server, client = streams(server_context(cert, key), client_context(pki.cafile))
    drive(server, client)  # the client trusts only the root: it needs the intermediate
    assert serial_seen(client) == serial


def test_a_wrong_name_fails_verification_in_one_line(pki: Pki, server_ctx: ssl.SSLContext) -> None:
    server, client = streams(server_ctx, client_context(pki.cafile), name="wrong.example")
    with pytest.raises(TlsError) as caught:
        drive(server, client)
    assert caught.value.reason == (
        "certificate verify failed: hostname mismatch, certificate is not valid for 'wrong.example'"
    )


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated")
def test_tls_1_1_is_refused(pki: Pki, server_ctx: ssl.SSLContext) -> None:
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    server, client = streams(server_ctx, old)
    assert client.handshake_step() is Step.WANT_READ  # it did send its hello
    with pytest.raises(TlsError, match="unsupported protocol|version"):
        server.handshake_step()


def test_config_errors_name_the_file_and_the_problem(pki: Pki, tmp_path: Path) -> None:
    cert, key, _ = pki.pair("a")
    other_cert, other_key, _ = pki.pair("b")
    missing = str(tmp_path / "nope.pem")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("hello\n")

    def problem(cert_file: str, key_file: str) -> TlsConfigError:
        with pytest.raises(TlsConfigError) as caught:
            server_context(cert_file, key_file)
        return caught.value

    mismatch = problem(cert, other_key)
    assert (mismatch.key, mismatch.path) == ("tls_key", other_key)
    assert "does not match the certificate" in str(mismatch)
    gone = problem(missing, key)
    assert (gone.key, gone.path, gone.problem) == ("tls_cert", missing, "no such file")
    assert problem(cert, missing).key == "tls_key"
    assert problem(str(garbage), key).problem.startswith("not PEM")
    assert problem(cert, cert).problem.startswith("not PEM")  # a cert where the key goes
    assert problem(str(tmp_path), key).problem.startswith("is a directory")
    with pytest.raises(TlsConfigError, match="--cafile"):
        client_context(missing)
    server_context(other_cert, other_key)  # the good pair loads


def test_a_broken_or_encrypted_pem_blames_the_right_file(pki: Pki, tmp_path: Path) -> None:
    cert, key, _ = pki.pair("a")
    bad_key, bad_cert = tmp_path / "bad.key", tmp_path / "bad.crt"
    bad_key.write_text(
        "-----BEGIN PRIVATE KEY-----\nAAAAnot base64 of a key\n-----END PRIVATE KEY-----\n"
    )
    bad_cert.write_text("-----BEGIN CERTIFICATE-----\nAAAAgarbage\n-----END CERTIFICATE-----\n")
    with pytest.raises(TlsConfigError) as caught:
        server_context(cert, str(bad_key))
    assert (caught.value.key, caught.value.path) == ("tls_key", str(bad_key))
    assert caught.value.problem.startswith("not a usable private key")
    with pytest.raises(TlsConfigError) as caught:
        server_context(str(bad_cert), key)
    assert (caught.value.key, caught.value.path) == ("tls_cert", str(bad_cert))
    assert caught.value.problem.startswith("not a usable PEM certificate")

    plain = serialization.load_pem_private_key(Path(key).read_bytes(), None)
    locked = tmp_path / "locked.key"
    locked.write_bytes(
        plain.private_bytes(  # type: ignore[union-attr]
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(TlsConfigError, match="encrypted; chatd needs it without a passphrase"):
        server_context(cert, str(locked))

    both = tmp_path / "both.pem"  # one file with the certificate and the key is fine
    both.write_bytes(Path(cert).read_bytes() + Path(key).read_bytes())
    server_context(str(both), str(both))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file: no unreadable file to test")
def test_an_unreadable_key_says_so(pki: Pki) -> None:
    cert, key, _ = pki.pair("a")
    os.chmod(key, 0)
    with pytest.raises(TlsConfigError, match="cannot read it"):
        server_context(cert, key)


# End to end with the distribution's openssl.


def test_openssl_s_client_talks_to_an_echo_loop(pki: Pki, server_ctx: ssl.SSLContext) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed (apt-get install openssl)")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    port = listener.getsockname()[1]
    argv = [
        openssl,
        "s_client",
        "-connect",
        f"127.0.0.1:{port}",
        "-servername",
        NAME,
        "-verify_hostname",
        NAME,
        "-CAfile",
        pki.cafile,
        "-verify_return_error",
        "-quiet",
    ]
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdin and proc.stdout
    proc.stdin.write(b"hello over tls\n")
    proc.stdin.flush()
    try:
        output = echo_until(listener, server_ctx, proc.stdout, b"echo: hello over tls\n")
    finally:
        proc.kill()
        _, err = proc.communicate(timeout=5)
        listener.close()
    assert output == b"echo: hello over tls\n", err.decode(errors="replace")


def test_ncat_ssl_talks_to_an_echo_loop(pki: Pki, tmp_path: Path) -> None:
    ncat = shutil.which("ncat")
    if ncat is None:
        pytest.skip("ncat is not installed (apt-get install ncat)")
    # ncat matches the address it was given against DNS names and the CN, not IP entries.
    leaf = pki.ca.issue_cert("127.0.0.1", common_name="127.0.0.1")
    cert, key = tmp_path / "ip.crt", tmp_path / "ip.key"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    port = listener.getsockname()[1]
    argv = [ncat, "--ssl", "--ssl-verify", "--ssl-trustfile", pki.cafile, "127.0.0.1", str(port)]
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdin and proc.stdout
    proc.stdin.write(b"hello from ncat\n")
    proc.stdin.flush()
    try:
        ctx = server_context(str(cert), str(key))
        output = echo_until(listener, ctx, proc.stdout, b"echo: hello from ncat\n")
    finally:
        proc.kill()
        _, err = proc.communicate(timeout=5)
        listener.close()
    assert output == b"echo: hello from ncat\n", err.decode(errors="replace")


def echo_until(
    listener: socket.socket, ctx: ssl.SSLContext, out, wanted: bytes, limit: float = 10.0
) -> bytes:
    """A one-client echo server on TlsStream and the client's stdout, in one selector."""
    deadline = time.monotonic() + limit
    seen, stream, queue = b"", None, bytearray()
    os.set_blocking(out.fileno(), False)
    with selectors.DefaultSelector() as sel:
        sel.register(listener, EVENT_READ)
        sel.register(out, EVENT_READ)
        while time.monotonic() < deadline and not seen.endswith(wanted):
            for key, _ in sel.select(deadline - time.monotonic()):
                if key.fileobj is listener:
                    conn, _ = listener.accept()
                    conn.setblocking(False)
                    stream = TlsStream(conn, ctx)
                    sel.register(conn, EVENT_READ)
                elif key.fileobj is out:
                    seen += os.read(out.fileno(), 4096) or b""
            if stream is None:
                continue
            if not stream.handshake_done:
                stream.handshake_step()
            if stream.handshake_done:
                while data := stream.recv(4096):
                    queue += b"echo: " + data
                while queue and (n := stream.send(queue)):
                    del queue[:n]
            events = stream.wants | EVENT_READ | (EVENT_WRITE if queue else 0)
            sel.modify(stream.sock, events)
        if stream is not None:
            stream.close()
    return seen
