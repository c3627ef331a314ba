"""The tls scenario: fan-out 100 over TLS, driven by bench/tlsgen.c (loadgen.c over
OpenSSL), against chatd and ncat --ssl --chat; chatd also serves the same load in the
clear from the same process in the same run, so the ratio TLS/plain is one server's.

The certificate (an EC P-256 key, self-signed, made by openssl) is the same for both
servers.  Without bench/build/tlsgen (it needs libssl-dev) the scenario says so and
measures nothing: the Python generator would measure itself, not TLS.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from . import cgen
from .generator import Load, Result
from .targets import BUILD, Target, free_port

TLSGEN = BUILD / "tlsgen"
NOT_BUILT = f"{TLSGEN} is not built: it links OpenSSL (apt-get install libssl-dev, then make bench)"


def available() -> bool:
    return os.access(TLSGEN, os.X_OK)


def certificate(workdir: Path) -> tuple[Path, Path]:
    """A throwaway self-signed pair for localhost, made once per target's directory."""
    cert, key = workdir / "bench.crt", workdir / "bench.key"
    if not cert.exists():
        if shutil.which("openssl") is None:
            raise RuntimeError("the tls scenario needs openssl to make its certificate")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=localhost",
             "-days", "1", "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
    return cert, key


def chatd_command(target: Any, config: dict[str, Any]) -> list[str]:
    """chatd with a plain line listener on target.port and a TLS one on target.tls_port."""
    cert, key = certificate(target.workdir)
    target.tls_port = free_port()
    config = {k: v for k, v in config.items() if k != "port"}
    listen = (
        f"listen:\n  - {{protocol: line, port: {target.port}}}\n"
        f"  - {{protocol: line, port: {target.tls_port}, tls: true}}\n"
    )
    path = target.workdir / "chatd.yaml"
    path.write_text(
        "".join(f"{k}: {v}\n" for k, v in config.items())
        + listen
        + f"tls_cert: {cert}\ntls_key: {key}\n"
    )
    return [sys.executable, "-m", "chatd", "--config", str(path)]


def ncat_command(target: Any, max_clients: int) -> list[str]:
    cert, key = certificate(target.workdir)
    target.tls_port = target.port
    return ["ncat", "--ssl", "--ssl-cert", str(cert), "--ssl-key", str(key), "--chat",
            "-l", "127.0.0.1", str(target.port), "-m", str(max_clients + 10)]  # fmt: skip


def window_load(target: Target, load: Load, port: int, tls: bool) -> dict[str, Any]:
    """The C generator on one port, over TLS (tlsgen) or in the clear (loadgen)."""
    cmd = cgen.command(target, load)
    cmd[cmd.index("--port") + 1] = str(port)
    if tls:
        cmd[0] = str(TLSGEN)
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=load.duration + cgen.SLACK, check=False
        )
    except subprocess.TimeoutExpired:
        limit = load.duration + cgen.SLACK
        raise RuntimeError(f"{cmd[0]} still running after {limit:.0f} s") from None
    return cgen.parse_output(proc.stdout, proc.stderr)


def _result(target: Target, load: Load, out: dict[str, Any]) -> Result:
    result = Result("tls", target.name, load.clients, rss_before_kib=target.rss)
    result.delivered, result.expected = int(out["delivered"]), int(out["expected"])
    result.per_second = round(float(out["per_second"]))
    result.p50_ms, result.p99_ms, result.max_ms = out["p50_ms"], out["p99_ms"], out["max_ms"]
    result.rss_after_kib = int(out["server_rss_kib"])
    result.generator = "c+tls"
    result.gen_cpu_pct = float(out["gen_cpu_pct"])
    result.extra["server_cpu_pct"] = round(float(out["server_cpu_pct"]))
    return result


def fanout_tls(target: Target, clients: int, args: argparse.Namespace) -> Result:
    """Fan-out 100 over TLS; for chatd the same load in the clear right after it, from
    the same process, and the ratio of the two (plain_per_second, tls_vs_plain)."""
    if not available():
        raise RuntimeError(NOT_BUILT)
    if not cgen.available() and target.name == "chatd":
        raise RuntimeError(f"{cgen.LOADGEN} is not built (make bench builds it)")
    load = Load(clients, 1, 10, args.window, args.duration)
    tls_port = getattr(target, "tls_port", target.port)
    result = _result(target, load, window_load(target, load, tls_port, tls=True))
    if tls_port != target.port:  # chatd: the plaintext listener of the same server
        plain = window_load(target, load, target.port, tls=False)
        result.extra["plain_per_second"] = round(float(plain["per_second"]))
        result.extra["tls_vs_plain"] = round(result.per_second / max(1, plain["per_second"]), 2)
    return result
