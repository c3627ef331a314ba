"""The servers the benchmark runs: chatd itself, the reference relay in C (bench/relay.c,
the limit of the job on this machine), and the peers ncat --chat and ngIRCd.

Each target starts its server on 127.0.0.1 and a free port, and knows its own dialect:
what a client sends to join its room, what marks it as joined, how a chat line is framed.
A target that speaks IRC (chatd and the relay on a second port when the scenario asks for
it, ngIRCd always) also has an `irc_port`.  Servers that are not installed (or, for the
relay, not built) are skipped with the hint.
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
from dataclasses import dataclass
from pathlib import Path

BUILD = Path(__file__).resolve().parent / "build"  # where `make bench` compiles the C parts
MAX_SEND_BUFFER = 262144  # chatd's default, which the relay applies too
SINGLE_ROOM = "bench"


def room_name(room: int, rooms: int) -> str:
    """Room number `room` of `rooms`: one shared room, or r0, r1, ... (as bench/loadgen.c)."""
    return SINGLE_ROOM if rooms == 1 else f"r{room}"


def room_of(index: int, clients: int, rooms: int) -> int:
    """Clients fill the rooms in contiguous blocks (as bench/loadgen.c)."""
    return index * rooms // clients


@dataclass(frozen=True)
class Dialect:
    """What a client says and hears; {i} is the client's index, {r} its room's name."""

    hello: str = ""  # sent right after connecting
    ready: str = ""  # received once in the room ("" = at once)
    prefix: str = ""  # before a chat line's text
    suffix: str = "\n"  # after it
    pong: bool = False  # answers the server's PING (IRC clients must)

    @staticmethod
    def expand(template: str, index: int, room: str) -> bytes:
        return template.replace("{i}", str(index)).replace("{r}", room).encode()


CHATD_DIALECT = Dialect(ready="*** You joined")
# chatd puts everyone in its default room; /join moves a client on ("r1" is a prefix of
# "r10": the "(" that follows the name in the reply tells them apart).
CHATD_ROOMS_DIALECT = Dialect(hello="/join {r}\n", ready="*** You joined #{r} (")
# An IRC client: registers, joins its room; RPL_ENDOFNAMES (366) says the JOIN is complete.
IRC_DIALECT = Dialect(
    hello="NICK b{i}\r\nUSER b{i} 0 * :bench\r\nJOIN #{r}\r\n",
    ready=" 366 ",
    prefix="PRIVMSG #{r} :",
    suffix="\r\n",
    pong=True,
)


PROTOCOLS = ("line", "irc", "mixed")  # who the clients are: line, IRC, or every other one IRC


@dataclass(frozen=True)
class Speaker:
    """Clients of one kind: the port they connect to and the dialect they speak."""

    port: int
    dialect: Dialect


def speakers(target: Target, rooms: int, protocol: str) -> list[Speaker]:
    """The clients' kind, and for "mixed" the second kind every other client is (IRC).

    "line" is the server's own dialect (ngIRCd's is IRC).  In "mixed" the line clients
    /join the bench room that the IRC clients JOIN, rather than stay in chatd's lobby.
    """
    if protocol == "line":
        dialect = target.dialect(rooms)
        if dialect is None:
            raise RuntimeError(f"{target.name} has no rooms")
        return [Speaker(target.port, dialect)]
    if not target.irc_port:
        raise RuntimeError(f"{target.name} has no IRC listener in this scenario")
    irc = Speaker(target.irc_port, IRC_DIALECT)
    if protocol == "irc":
        return [irc]
    if protocol == "mixed" and target.speaks_line():
        return [Speaker(target.port, CHATD_ROOMS_DIALECT), irc]
    raise RuntimeError(f"{target.name} cannot have {protocol} clients")


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
    # The server's listen backlog: connections beyond it in flight are SYNs it drops, and
    # the kernel retries them after 1, 3, 7 … s.  chatd and the relay listen with SOMAXCONN.
    backlog = 4096
    # A delivery is the same bytes every time for one sender and one receiver, so most of
    # the C generator's receivers may discard their bytes and count them (bench/loadgen.c).
    fixed_deliveries = True

    @classmethod
    def dialect(cls, rooms: int = 1) -> Dialect | None:
        """How clients talk to it with this many rooms; None if it has no rooms."""
        return Dialect() if rooms == 1 else None

    def __init__(self, workdir: Path, options: dict[str, object]) -> None:
        self.workdir = workdir
        self.options = options
        self.port = free_port()
        # A second port for IRC clients, when the scenario asks for it and the server has one.
        self.irc_port = free_port() if options.get("irc") and self.speaks_irc() else 0
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def available(cls) -> bool:
        return True

    @classmethod
    def speaks_irc(cls) -> bool:
        """True if the server can have IRC clients (on irc_port)."""
        return False

    @classmethod
    def speaks_line(cls) -> bool:
        """True if the server can have chatd's line clients (on port)."""
        return True

    def command(self, max_clients: int) -> list[str]:
        raise NotImplementedError

    def frame(self, text: bytes, room: str = SINGLE_ROOM) -> bytes:
        d = self.dialect()
        assert d is not None
        return Dialect.expand(d.prefix, 0, room) + text + Dialect.expand(d.suffix, 0, room)

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

    @classmethod
    def dialect(cls, rooms: int = 1) -> Dialect:
        return CHATD_DIALECT if rooms == 1 else CHATD_ROOMS_DIALECT

    @classmethod
    def speaks_irc(cls) -> bool:
        return True

    def command(self, max_clients: int) -> list[str]:
        config: dict[str, object] = {
            "port": self.port,
            "max_clients": max_clients + 10,
            "max_clients_per_ip": 0,
            "log_level": "warning",
            "server_name": "bench",
            "flood_rate": self.options.get("flood_rate", 0),
            "workers": self.options.get("workers", 1),
        }
        if self.options.get("tls"):  # the tls scenario: a TLS listener beside this one
            from .tlsbench import chatd_command

            return chatd_command(self, config)
        if self.irc_port:  # the listen key names every listener, and port may not be given
            del config["port"]
            config["listen"] = (
                f"[{{protocol: line, port: {self.port}}}, {{protocol: irc, port: {self.irc_port}}}]"
            )
        path = self.workdir / "chatd.yaml"
        path.write_text("".join(f"{k}: {v}\n" for k, v in config.items()))
        return [sys.executable, "-m", "chatd", "--config", str(path)]


class Baseline(Chatd):
    """An earlier chatd (a checkout named by CHATD_BASELINE, e.g. the previous main), run
    in the same bench run as this one, so a change is measured side by side."""

    name = "baseline"
    install = "a checkout of an earlier chatd: make bench BASELINE=DIR (git worktree add DIR)"

    @classmethod
    def available(cls) -> bool:
        return (Path(os.environ.get("CHATD_BASELINE", "/nonexistent")) / "chatd").is_dir()

    @classmethod
    def speaks_irc(cls) -> bool:
        tree = Path(os.environ.get("CHATD_BASELINE", "/nonexistent"))
        return (tree / "chatd" / "proto" / "irc.py").is_file()

    def command(self, max_clients: int) -> list[str]:
        ours = super().command(max_clients)
        tree = str(Path(os.environ["CHATD_BASELINE"]).resolve())
        # The earlier tree's package ahead of everything else on the path, ours included.
        start = (
            f"import sys; sys.path.insert(0, {tree!r}); "
            "from chatd.cli import main; sys.exit(main())"
        )
        return [sys.executable, "-c", start, *ours[3:]]


class Relay(Target):
    name = "relay"
    install = "a C compiler (apt-get install gcc), then make bench: it builds bench/build/relay"

    @classmethod
    def available(cls) -> bool:
        return os.access(BUILD / "relay", os.X_OK)

    @classmethod
    def dialect(cls, rooms: int = 1) -> Dialect:
        return CHATD_DIALECT if rooms == 1 else CHATD_ROOMS_DIALECT

    @classmethod
    def speaks_irc(cls) -> bool:
        return True

    def command(self, max_clients: int) -> list[str]:
        irc = [str(self.irc_port)] if self.irc_port else []
        return [str(BUILD / "relay"), str(self.port), str(MAX_SEND_BUFFER), *irc]


class Ncat(Target):
    name = "ncat"
    install = "apt-get install ncat"
    backlog = 10  # ncat 7.93 listens with 10 (ss -ltn)
    # "<userN> " once per read of the sender, not per line: bytes are no delivery count.
    fixed_deliveries = False

    @classmethod
    def available(cls) -> bool:
        return shutil.which("ncat") is not None

    def command(self, max_clients: int) -> list[str]:
        if self.options.get("tls"):  # the tls scenario: ncat --ssl --chat
            from .tlsbench import ncat_command

            return ncat_command(self, max_clients)
        return ["ncat", "--chat", "-l", "127.0.0.1", str(self.port), "-m", str(max_clients + 10)]


class Ngircd(Target):
    """ngIRCd, its flood penalties off (MaxPenaltyTime = 0: ngIRCd 26 has no other switch
    for them) except where the scenario sets flood control; it speaks only IRC, on port."""

    name = "ngircd"
    install = "apt-get install ngircd"
    DIALECT = IRC_DIALECT
    backlog = 10  # ngIRCd 26.1 listens with 10 (ss -ltn)

    def __init__(self, workdir: Path, options: dict[str, object]) -> None:
        super().__init__(workdir, options)
        self.irc_port = self.port

    @classmethod
    def dialect(cls, rooms: int = 1) -> Dialect:
        return cls.DIALECT

    @classmethod
    def speaks_irc(cls) -> bool:
        return True

    @classmethod
    def speaks_line(cls) -> bool:
        return False

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


TARGETS: dict[str, type[Target]] = {
    "chatd": Chatd,
    "baseline": Baseline,
    "relay": Relay,
    "ncat": Ncat,
    "ngircd": Ngircd,
}


def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="chatd-bench-"))
