"""chatd-client --tls against a TLS line server (tests/tls_line_server.py, a subprocess)."""

from __future__ import annotations

import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from e2e import BIN, free_port

pytestmark = pytest.mark.e2e

SERVER = Path(__file__).with_name("tls_line_server.py")
GREETING = "*** You are guest1\n*** You joined #lobby (1 user: guest1)\n"


class LineServer:
    def __init__(self, cert: Path, key: Path, port: int = 0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(SERVER), str(cert), str(key), str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 10)
        assert ready, "the TLS line server did not start"
        self.port = int(self.proc.stdout.readline())

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(5)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


class Pki:
    """A private CA, and certificates from it for 127.0.0.1 and for another name."""

    def __init__(self, tmp: Path) -> None:
        ca = trustme.CA()
        self.cafile = tmp / "ca.pem"
        ca.cert_pem.write_to_path(str(self.cafile))
        self.files: dict[str, tuple[Path, Path]] = {}
        for tag, names in (("right", ("localhost", "127.0.0.1")), ("wrong", ("chat.test",))):
            leaf = ca.issue_cert(*names)
            cert, key = tmp / f"{tag}.crt", tmp / f"{tag}.key"
            leaf.cert_chain_pems[0].write_to_path(str(cert))
            leaf.private_key_pem.write_to_path(str(key))
            self.files[tag] = (cert, key)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


@pytest.fixture
def servers(pki: Pki) -> Iterator[dict[str, LineServer]]:
    started = {tag: LineServer(*files) for tag, files in pki.files.items()}
    yield started
    for server in started.values():
        server.stop()


def client(*args: str, stdin: str = "/quit\n") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "chatd-client"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_pipe_mode_over_tls_with_a_private_ca(pki: Pki, servers: dict[str, LineServer]) -> None:
    port = str(servers["right"].port)
    done = client("--tls", "--cafile", str(pki.cafile), "localhost", port, stdin="hi\n/quit\n")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == GREETING + "<echo> hi\n*** Bye\n"


def test_end_of_input_is_a_close_notify_and_the_rest_still_arrives(
    pki: Pki, servers: dict[str, LineServer]
) -> None:
    lines = [f"line {i} " + "x" * 200 for i in range(3000)]  # ~600 KB each way
    done = client(
        "--cafile",
        str(pki.cafile),
        "127.0.0.1",
        str(servers["right"].port),
        stdin="".join(line + "\n" for line in lines),
    )
    assert (done.returncode, done.stderr) == (0, "")
    echoed = "".join(f"<echo> {line}\n" for line in lines)
    assert done.stdout == GREETING + echoed + "*** eof (close_notify)\n"


def test_records_already_decrypted_are_shown_without_waiting_for_the_socket(
    pki: Pki, servers: dict[str, LineServer]
) -> None:
    argv = [
        str(BIN / "chatd-client"),
        "--cafile",
        str(pki.cafile),
        "127.0.0.1",
        str(servers["right"].port),
    ]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin and proc.stdout
    proc.stdin.write(b"/big 2000\n")  # ~200 KB in one burst, then the server waits for us
    proc.stdin.flush()
    last = b"01999 " + b"b" * 90 + b"\n"
    try:
        seen = read_until(proc.stdout, last)
        proc.stdin.close()  # only now: the close_notify is not what brings the rest
        seen += read_until(proc.stdout, b"*** eof (close_notify)\n")
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        proc.wait()
    assert (
        seen
        == GREETING.encode()
        + b"".join(b"%05d %s\n" % (i, b"b" * 90) for i in range(2000))
        + b"*** eof (close_notify)\n"
    )


def read_until(pipe, ending: bytes, timeout: float = 10) -> bytes:
    seen = b""
    while not seen.endswith(ending):
        ready, _, _ = select.select([pipe], [], [], timeout)
        assert ready, f"stopped short after {len(seen)} bytes: {seen[-100:]!r}"
        chunk = pipe.read1(65536)
        assert chunk, f"the client exited after {len(seen)} bytes"
        seen += chunk
    return seen


def test_a_wrong_name_is_refused_in_one_line(pki: Pki, servers: dict[str, LineServer]) -> None:
    port = str(servers["wrong"].port)
    done = client("--tls", "--cafile", str(pki.cafile), "localhost", port)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        "chatd-client: TLS: certificate verify failed: hostname mismatch, "
        "certificate is not valid for 'localhost'\n"
    )


def test_the_system_cas_do_not_know_a_private_ca(servers: dict[str, LineServer]) -> None:
    done = client("--tls", "localhost", str(servers["right"].port))
    assert done.returncode == 1
    assert done.stderr == (
        "chatd-client: TLS: certificate verify failed: unable to get local issuer certificate\n"
    )


def test_insecure_warns_and_connects_anyway(servers: dict[str, LineServer]) -> None:
    done = client("--insecure", "localhost", str(servers["wrong"].port), stdin="hi\n/quit\n")
    assert done.returncode == 0
    assert done.stdout == GREETING + "<echo> hi\n*** Bye\n"
    [warning] = done.stderr.splitlines()
    assert warning.startswith("chatd-client: warning: --insecure: the server's certificate is not")


def test_a_missing_cafile_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    done = client("--cafile", str(missing), "127.0.0.1", str(free_port()))
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == f"chatd-client: --cafile {missing}: no such file\n"


def test_tls_to_a_plain_server_fails_cleanly(pki: Pki) -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as plain:
        port = str(plain.getsockname()[1])
        proc = subprocess.Popen(
            [str(BIN / "chatd-client"), "--cafile", str(pki.cafile), "127.0.0.1", port],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        conn, _ = plain.accept()
        conn.sendall(b"*** You are guest1\r\n")  # what chatd says first, in the clear
        _, err = proc.communicate(timeout=15)
        conn.close()
    assert proc.returncode == 1
    assert err.startswith("chatd-client: TLS: ") and err.count("\n") == 1, err


def test_help_lists_the_tls_flags() -> None:
    done = client("--help", stdin="")
    assert done.returncode == 0
    for flag in ("--tls", "--cafile FILE", "--insecure"):
        assert flag in done.stdout


# The terminal, in a pty (the helpers of the terminal tests).


@pytest.fixture
def terms() -> Iterator[list]:
    started: list = []
    yield started
    for term in started:
        term.close()


def test_the_terminal_over_tls_verifies_and_redoes_the_handshake_on_reconnect(
    pki: Pki, terms: list
) -> None:
    from test_client_terminal import Term

    cert, key = pki.files["right"]
    first = LineServer(cert, key)
    port = first.port
    term = Term(port, "--cafile", str(pki.cafile))
    terms.append(term)
    term.wait(r"You joined #lobby")
    term.prompt_ready()
    term.line("over tls")
    term.wait(r"<echo> over tls")
    first.stop()
    term.wait(r"reconnecting in 1 s")
    second = LineServer(cert, key, port)
    try:
        term.wait(r"-- connected to 127.0.0.1 port \d+\n(.*\n)*.*You joined #lobby", timeout=15)
        term.prompt_ready()
        term.line("again")
        term.wait(r"<echo> again")
    finally:
        second.stop()


def test_the_terminal_says_a_certificate_problem_in_one_line(
    pki: Pki, servers: dict[str, LineServer], terms: list
) -> None:
    from test_client_terminal import Term

    term = Term(servers["wrong"].port, "--cafile", str(pki.cafile))
    terms.append(term)
    assert term.finish() == 1
    assert (
        "chatd-client: TLS: certificate verify failed: IP address mismatch, certificate is "
        "not valid for '127.0.0.1'" in term.raw.decode().replace("\r\n", "\n")
    )
