"""The tls bench scenario: tlsgen (loadgen.c over OpenSSL) built and run against a real
chatd with a plain and a TLS listener, briefly; which servers it runs on."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from bench import report, tlsbench
from bench.scenarios import SCENARIOS
from bench.targets import Chatd

ROOT = Path(__file__).resolve().parent.parent


def test_tls_is_a_scenario_of_fanout_100_for_chatd_and_ncat_only() -> None:
    func, clients, options = SCENARIOS["tls"]
    assert (func, clients, options) == (tlsbench.fanout_tls, 100, {"tls": True})
    assert not report._runs_on("tls", "relay", options)
    assert not report._runs_on("tls", "baseline", options)
    assert not report._runs_on("tls", "ngircd", options)


@pytest.fixture(scope="module")
def tlsgen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cc = shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler (cc): bench/tlsgen.c cannot be built")
    probe = subprocess.run(
        [cc, "-E", "-"], input=b"#include <openssl/ssl.h>\n", capture_output=True
    )
    if probe.returncode:
        pytest.skip("no OpenSSL headers (apt-get install libssl-dev): tlsgen cannot be built")
    out = tmp_path_factory.mktemp("tlsgen") / "tlsgen"
    source = ROOT / "bench" / "tlsgen.c"
    build = [
        cc,
        "-O2",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-o",
        str(out),
        str(source),
        "-lssl",
        "-lcrypto",
    ]
    subprocess.run(build, check=True, timeout=120)
    return out


def test_tlsgen_drives_chatd_over_tls(tlsgen: Path, tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: no certificate for the bench")
    target = Chatd(tmp_path, {"tls": True})
    target.start(10)
    try:
        done = subprocess.run(
            [str(tlsgen), "--port", str(target.tls_port), "--clients", "5", "--senders", "1",
             "--duration", "0.3", "--ready", "*** You joined"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        result = json.loads(done.stdout.splitlines()[-1])
        assert result["ready"] == 5 and result["closed"] == 0, done.stderr
        assert result["delivered"] == result["expected"] > 0
    finally:
        target.stop()
