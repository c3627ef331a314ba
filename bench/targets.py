"""The servers the benchmark runs: chatd itself, and the peers ncat --chat and ngIRCd.

Each target starts its server on 127.0.0.1 and a free port, and knows its own dialect:
what a client sends to join the shared room, what marks it as joined, how a chat line
is framed.  Peers are skipped, with the install command, when not installed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    """Resident set size of a process, in KiB (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _raise_nofile() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Target:
    name = ""
    install = ""
    joined = b""  # what a client receives once it is in the room

    def __init__(self, workdir: Path, options: dict[str, object]) -> None:
        self.workdir = workdir
        self.options = options
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def available(cls) -> bool:
        return True

    def command(self, max_clients: int) -> list[str]:
        raise NotImplementedError

    def hello(self, index: int) -> bytes:
        """What client number index sends right after connecting."""
        return b""

    def frame(self, text: bytes) -> bytes:
        return text + b"\n"

    def start(self, max_clients: int) -> None:
        self.proc = subprocess.Popen(
            self.command(max_clients),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / f"{self.name}.log", "ab"),  # noqa: SIM115
            preexec_fn=_raise_nofile,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start; see {self.workdir}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                time.sleep(0.2)  # let it forget that probe before clients arrive
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not listen on port {self.port}")

    def pids(self) -> list[int]:
        """The server and its children (chatd's workers)."""
        if self.proc is None:
            return []
        pid = self.proc.pid
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                return [pid, *map(int, f.read().split())]
        except OSError:
            return [pid]

    @property
    def rss(self) -> int:
        return sum(rss_kib(pid) for pid in self.pids())

    @property
    def cpu_seconds(self) -> float:
        """User and system CPU time the server has used so far."""
        total = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class Chatd(Target):
    name = "chatd"
    joined = b"*** You joined"

    def command(self, max_clients: int) -> list[str]:
        config = {
            "port": self.port,
            "max_clients": max_clients + 10,
            "max_clients_per_ip": 0,
            "log_level": "warning",
            "server_name": "bench",
            "flood_rate": self.options.get("flood_rate", 0),
            "workers": self.options.get("workers", 1),
        }
        path = self.workdir / "chatd.yaml"
        path.write_text("".join(f"{k}: {v}\n" for k, v in config.items()))
        return [sys.executable, "-m", "chatd", "--config", str(path)]


class Ncat(Target):
    name = "ncat"
    install = "apt-get install ncat"

    @classmethod
    def available(cls) -> bool:
        return shutil.which("ncat") is not None

    def command(self, max_clients: int) -> list[str]:
        return ["ncat", "--chat", "-l", "127.0.0.1", str(self.port), "-m", str(max_clients + 10)]


class Ngircd(Target):
    name = "ngircd"
    install = "apt-get install ngircd"
    joined = b" 366 "  # RPL_ENDOFNAMES: the JOIN is complete

    @classmethod
    def available(cls) -> bool:
        return shutil.which("ngircd") is not None

    def command(self, max_clients: int) -> list[str]:
        penalty = "0" if self.options.get("flood_rate", 0) == 0 else "-1"
        conf = self.workdir / "ngircd.conf"
        conf.write_text(
            f"""[Global]
Name = bench.chat
Info = bench
Listen = 127.0.0.1
Ports = {self.port}
MotdPhrase = bench
PidFile = {self.workdir}/ngircd.pid
ServerUID = {os.getuid()}
ServerGID = {os.getgid()}
[Limits]
MaxConnections = 0
MaxConnectionsIP = 0
MaxJoins = 0
MaxPenaltyTime = {penalty}
PingTimeout = 600
PongTimeout = 600
[Options]
DNS = no
Ident = no
PAM = no
SyslogFacility = local7
"""
        )
        return ["ngircd", "-n", "-f", str(conf)]

    def hello(self, index: int) -> bytes:
        return f"NICK b{index}\r\nUSER b{index} 0 * :bench\r\nJOIN #bench\r\n".encode()

    def frame(self, text: bytes) -> bytes:
        return b"PRIVMSG #bench :" + text + b"\r\n"


TARGETS: dict[str, type[Target]] = {"chatd": Chatd, "ncat": Ncat, "ngircd": Ngircd}


def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="chatd-bench-"))
