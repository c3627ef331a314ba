"""The real chatd with TLS listeners (line and IRC) beside a plain one: Python's ssl,
openssl s_client, ncat --ssl and chatd-client as peers; handshakes that stall, garbage
and half records; a renewed certificate on SIGHUP; one process and two workers."""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from e2e import BIN, Chatd, TcpPeer
from tlspki import Pki, serial_of

pytestmark = pytest.mark.e2e

LISTEN = (
    "listen:\n"
    "  - {protocol: line, port: 0, tls: true}\n"
    "  - {protocol: irc, port: 0, tls: true}\n"
    "  - {protocol: line, port: 0}\n"
)
ADDRESS = re.compile(rb"listening on (.*)")
LOADED = b"TLS certificate loaded from "
NAMES = ("localhost", "chat.test")  # not 127.0.0.1: the name a client must not accept


class Served:
    def __init__(self, chatd: Chatd, pki: Pki, ports: list[int]) -> None:
        self.chatd, self.pki = chatd, pki
        self.line_tls, self.irc_tls, self.plain = ports
        self.context = ssl.create_default_context(cafile=pki.cafile)

    def tls(self, port: int | None = None) -> TcpPeer:
        raw = socket.create_connection(("127.0.0.1", port or self.line_tls), timeout=5)
        return TcpPeer(self.context.wrap_socket(raw, server_hostname="localhost"))

    def raw(self, port: int | None = None) -> socket.socket:
        return socket.create_connection(("127.0.0.1", port or self.line_tls), timeout=5)

    def clear(self) -> TcpPeer:
        return TcpPeer(socket.create_connection(("127.0.0.1", self.plain), timeout=5))


def start(tmp_path: Path, workers: int = 1, extra: str = "") -> Served:
    pki = Pki(tmp_path)
    cert, key, _ = pki.pair("server", names=NAMES)
    config = tmp_path / "chatd.yaml"
    config.write_text(
        f"{LISTEN}tls_cert: {cert}\ntls_key: {key}\nworkers: {workers}\n"
        f"server_name: irc.test\nmax_clients_per_ip: 0\n{extra}"
    )
    chatd = Chatd("--config", str(config), any_port=False)
    where = chatd.wait_log(ADDRESS).group(1)
    assert b"(tls)" in where and b"(irc, tls)" in where, where
    ports = [int(p) for p in re.findall(rb":(\d+)", where)[:3]]
    return Served(chatd, pki, ports)


def serial(peer: TcpPeer) -> int:
    der = peer.sock.getpeercert(binary_form=True)  # type: ignore[attr-defined]
    return serial_of(ssl.DER_cert_to_PEM_cert(der).encode())


@pytest.mark.parametrize("workers", [1, 2])
def test_tls_line_and_irc_users_chat_with_a_plain_one(tmp_path: Path, workers: int) -> None:
    served = start(tmp_path, workers)
    with served.chatd:
        secure = served.tls()
        nick = secure.greeted()
        plain = served.clear()
        plain_nick = plain.greeted()
        irc = served.tls(served.irc_tls)
        irc.send("NICK alice", "USER alice 0 * :Alice")
        assert irc.until(":irc.test 422 alice ")[0].startswith(":irc.test 001 alice ")
        irc.send("JOIN #lobby")
        irc.until(":irc.test 366 alice #lobby ")
        secure.send("hello from tls")
        assert plain.until(f"<{nick}>")[-1] == f"<{nick}> hello from tls"
        assert irc.until(f":{nick}!").pop().endswith("PRIVMSG #lobby :hello from tls")
        plain.send("hello in clear")
        assert secure.until(f"<{plain_nick}>")[-1] == f"<{plain_nick}> hello in clear"
        irc.send("PRIVMSG #lobby :hello from irc over tls")
        assert secure.until("<alice>")[-1] == "<alice> hello from irc over tls"
        assert served.chatd.stop() == 0


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (apt-get install {name})")
    return path


def s_client(served: Served, port: int) -> subprocess.Popen[bytes]:
    command = [_tool("openssl"), "s_client", "-quiet", "-CAfile", served.pki.cafile]
    command += ["-servername", "localhost", "-verify_return_error"]
    command += ["-connect", f"127.0.0.1:{port}"]
    return subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )


def ncat(served: Served, port: int) -> subprocess.Popen[bytes]:
    command = [_tool("ncat"), "--ssl", "--ssl-verify", "--ssl-trustfile", served.pki.cafile]
    command += ["localhost", str(port)]
    return subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )


def read_until(proc: subprocess.Popen[bytes], needle: bytes, timeout: float = 10) -> bytes:
    assert proc.stdout is not None
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        ready, _, _ = select.select([proc.stdout], [], [], max(0, deadline - time.monotonic()))
        assert ready, f"no {needle!r} in {seen!r}"
        chunk = os.read(proc.stdout.fileno(), 65536)
        assert chunk, f"closed before {needle!r}: {seen!r}"
        seen += chunk
    return seen


def say(proc: subprocess.Popen[bytes], data: bytes) -> None:
    assert proc.stdin is not None
    proc.stdin.write(data)
    proc.stdin.flush()


def finish(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait(5)
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            pipe.close()


@pytest.mark.parametrize("tool", [s_client, ncat], ids=["openssl", "ncat"])
def test_tls_tools_talk_to_both_protocols(
    tmp_path: Path, tool: Callable[[Served, int], subprocess.Popen[bytes]]
) -> None:
    served = start(tmp_path)
    with served.chatd:
        watcher = served.clear()
        watcher.greeted()
        line = tool(served, served.line_tls)
        irc = tool(served, served.irc_tls)
        try:
            assert b"*** You joined #lobby" in read_until(line, b"*** You joined ")
            say(line, b"/nick tooluser\nvia a tool\n")
            assert watcher.until("<tooluser>")[-1] == "<tooluser> via a tool"
            say(irc, b"NICK ircuser\r\nUSER u 0 * :U\r\nJOIN #lobby\r\n")
            read_until(irc, b" 366 ircuser #lobby ")
            say(irc, b"PRIVMSG #lobby :irc via a tool\r\n")
            assert b"<ircuser> irc via a tool" in read_until(line, b"irc via a tool")
        finally:
            finish(line)
            finish(irc)


def test_a_stalled_handshake_is_cut_at_the_timeout_while_others_chat(tmp_path: Path) -> None:
    served = start(tmp_path, extra="tls_handshake_timeout: 1\n")
    with served.chatd:
        stalled = served.raw()  # connects and never says a word
        half = served.raw()
        half.sendall(b"\x16\x03\x01\x02\x00\x01\x00")  # half a ClientHello record, then waits
        talker, listener = served.tls(), served.clear()
        talker.greeted()
        listener.greeted()
        began = time.monotonic()
        for n in range(3):  # the chat goes on meanwhile
            talker.send(f"line {n}")
            assert listener.line().endswith(f"line {n}")
        for sock in (stalled, half):
            sock.settimeout(15)
            assert sock.recv(100) == b""  # closed by the server, nothing said in the clear
        assert time.monotonic() - began < 14
        served.chatd.wait_log(b"not done in 1 s")
        talker.send("still here")
        assert listener.line().endswith("still here")


@pytest.mark.parametrize(
    "garbage", [b"NICK bob\r\nUSER b 0 * :b\r\n", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"]
)
def test_garbage_instead_of_a_client_hello_is_closed_and_logged(
    tmp_path: Path, garbage: bytes
) -> None:
    served = start(tmp_path)
    with served.chatd:
        listener = served.clear()
        listener.greeted()
        for port in (served.line_tls, served.irc_tls):
            sock = served.raw(port)
            sock.sendall(garbage)
            sock.settimeout(5)
            while sock.recv(100):  # an alert perhaps, then the end
                pass
            sock.close()
        served.chatd.wait_log(b"TLS handshake with 127.0.0.1 failed: ")
        talker = served.tls()
        talker.greeted()
        talker.send("fine")
        assert listener.until("<")[-1].endswith("fine")


@pytest.mark.parametrize("workers", [1, 2])
def test_sighup_serves_a_renewed_certificate_to_new_connections(
    tmp_path: Path, workers: int
) -> None:
    served = start(tmp_path, workers)
    with served.chatd:
        old = served.tls()
        old.greeted()
        first = serial(old)
        # certbot renews in place: same paths, new files
        _, _, renewed = served.pki.pair("server", names=NAMES)
        served.chatd.signal(signal.SIGHUP)
        every_worker = re.compile(b"(?s)(?:" + re.escape(LOADED) + b".*?){%d}" % workers)
        served.chatd.wait_log(every_worker)  # each worker builds its own from the settings
        for _ in range(6):  # SO_REUSEPORT spreads them over the workers
            new = served.tls()
            assert serial(new) == renewed != first
            new.close()
        watcher = served.clear()
        watcher.greeted()
        old.send("/nick oldtimer", "still here")
        assert watcher.until("<oldtimer> still here")
        assert serial(old) == first


def test_sighup_with_a_bad_pair_keeps_the_old_certificate(tmp_path: Path) -> None:
    served = start(tmp_path)
    with served.chatd:
        first = serial(served.tls())
        other_key = Path(served.pki.pair("other", names=NAMES)[1]).read_bytes()
        Path(tmp_path / "server.key").write_bytes(other_key)  # a key that does not match
        served.chatd.signal(signal.SIGHUP)
        served.chatd.wait_log(b"TLS certificate kept: tls_key")
        assert serial(served.tls()) == first


def client(*args: str, stdin: str = "/quit\n") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "chatd-client"), *args], input=stdin, capture_output=True, text=True, timeout=30
    )


def test_chatd_client_with_tls_and_a_private_ca(tmp_path: Path) -> None:
    served = start(tmp_path)
    with served.chatd:
        port = str(served.line_tls)
        done = client("--tls", "--cafile", served.pki.cafile, "localhost", port, stdin="hi\n")
        assert (done.returncode, done.stderr) == (0, "")
        assert "*** You joined #lobby" in done.stdout
        wrong = client("--tls", "--cafile", served.pki.cafile, "127.0.0.1", port)
        assert wrong.returncode == 1 and wrong.stdout == ""
        assert wrong.stderr.startswith("chatd-client: TLS: certificate verify failed: IP address")
        assert wrong.stderr.count("\n") == 1
        unknown = client("--tls", "localhost", port)  # the system CAs do not know ours
        assert unknown.returncode == 1
        assert "unable to get local issuer certificate" in unknown.stderr


def test_sighup_that_turns_tls_on_for_a_listener_keeps_it_as_it_was(tmp_path: Path) -> None:
    served = start(tmp_path)
    with served.chatd:
        config = tmp_path / "chatd.yaml"
        text = config.read_text().replace(
            "{protocol: line, port: 0}", "{protocol: line, port: 0, tls: true}"
        )
        config.write_text(text)
        served.chatd.signal(signal.SIGHUP)
        served.chatd.wait_log(b"turning TLS on or off for a listener takes a restart")
        served.clear().greeted()  # still plaintext
