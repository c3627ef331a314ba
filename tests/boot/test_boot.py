"""chatd as a real service in a booted systemd: a minimal Debian, systemd-nspawn, nsenter.

Builds (once, then cached) a debootstrap --variant=minbase tree, boots it on a volatile
overlay with no network, installs chatd into it with `make install` from a wheelhouse
built here, and drives systemctl and real clients inside the container.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("CHATD_BOOT_CACHE", "/var/tmp/chatd-boot/bookworm"))
PACKAGES = "systemd,systemd-sysv,dbus,procps,python3,python3-venv,python3-pip,logrotate,make"
TOOLS = ("debootstrap", "systemd-nspawn", "nsenter")


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "needs root (debootstrap, systemd-nspawn)"
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return f"needs {', '.join(missing)} (apt-get install debootstrap systemd-container)"


if _why_not():
    pytest.skip(f"booted systemd test skipped: {_why_not()}", allow_module_level=True)


def mirror() -> str:
    for path in ("/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"):
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith("URIs:"):
                    return line.split()[1]
                if line.startswith("deb "):
                    return line.split()[1]
        except OSError:
            continue
    return "http://deb.debian.org/debian"


@pytest.fixture(scope="session")
def tree() -> Path:
    """A minimal Debian with systemd, made once and kept as a cache."""
    done = CACHE / ".chatd-complete"
    if not done.exists():
        shutil.rmtree(CACHE, ignore_errors=True)
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={PACKAGES}", "bookworm",
             str(CACHE), mirror()],
            check=True, stdout=subprocess.DEVNULL, timeout=900,
        )  # fmt: skip
        done.touch()
    return CACHE


@pytest.fixture(scope="session")
def staging() -> Path:
    """A clean copy of the project (tracked files only) and a wheelhouse for it."""
    base = Path(tempfile.mkdtemp(prefix="chatd-boot-"))
    src = base / "src"
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=SRC, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, files):
        target = src / name.decode()
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(SRC / name.decode(), target)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "-w", str(base / "wheels"), str(src)],
        check=True, timeout=600,
    )  # fmt: skip
    yield base
    shutil.rmtree(base, ignore_errors=True)


class Machine:
    def __init__(self, tree: Path, staging: Path) -> None:
        self.proc = subprocess.Popen(
            ["systemd-nspawn", "-D", str(tree), "--register=no", "--keep-unit",
             "--private-network", "--volatile=overlay", "--boot", "--console=pipe",
             f"--bind-ro={staging}:/staging"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            self.pid = self._find_init()
            self.wait_booted()
        except BaseException:
            self.proc.kill()  # no container may outlive a failed boot
            self.proc.wait()
            raise

    def _find_init(self, timeout: float = 30) -> int:
        """The container's PID 1: the child named systemd of the real nspawn process."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for stat in Path("/proc").glob("[0-9]*/stat"):
                try:
                    text = stat.read_text()
                except OSError:
                    continue
                comm = text[text.index("(") + 1 : text.rindex(")")]
                ppid = int(text.rsplit(")", 1)[1].split()[1])
                if comm == "systemd" and self._descends(ppid):
                    return int(stat.parent.name)
            time.sleep(0.1)
        raise AssertionError("the container's systemd never appeared")

    def _descends(self, pid: int) -> bool:
        for _ in range(4):
            if pid == self.proc.pid:
                return True
            try:
                text = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                return False
            pid = int(text.rsplit(")", 1)[1].split()[1])
        return False

    def wait_booted(self, timeout: float = 120) -> None:
        """Until systemd says running (or degraded); early on it has no bus to ask yet."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.run("systemctl", "is-system-running", "--wait", check=False)
            if state.stdout.strip() in ("running", "degraded"):
                return
            time.sleep(0.2)
        raise AssertionError(f"the container did not boot: {state.stdout}{state.stderr}")

    def run(
        self, *cmd: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["nsenter", "--target", str(self.pid), "--all", *cmd],
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        if check:
            assert result.returncode == 0, f"{cmd}: {result.stdout}{result.stderr}"
        return result

    def sh(self, script: str, **kw: object) -> subprocess.CompletedProcess[str]:
        return self.run("sh", "-c", script, **kw)  # type: ignore[arg-type]

    def python(self, code: str, timeout: float = 30) -> str:
        return self.run("python3", "-c", code, timeout=timeout).stdout

    def main_pid(self) -> int:
        return int(self.run("systemctl", "show", "-P", "MainPID", "chatd").stdout)

    def active(self, unit: str = "chatd") -> str:
        return self.run("systemctl", "is-active", unit, check=False).stdout.strip()

    def poweroff(self) -> None:
        self.run("systemctl", "poweroff", check=False)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="session")
def machine(tree: Path, staging: Path):
    m = Machine(tree, staging)
    try:
        m.sh(
            "cp -r /staging/src /opt/chatd-src"
            " && make -C /opt/chatd-src install WHEELS=/staging/wheels",
            timeout=300,
        )
        m.run("systemctl", "daemon-reload")
        yield m
    finally:
        m.poweroff()


CLIENT = """
import socket, sys
def lines(s):
    buf = b""
    while True:
        while b"\\n" in buf:
            line, _, buf = buf.partition(b"\\n")
            yield line.rstrip(b"\\r").decode()
        data = s.recv(4096)
        if not data:
            return
        buf += data
def connect():
    s = socket.create_connection(("127.0.0.1", 5000), timeout=10)
    return s, lines(s)
"""


def test_start_is_active_and_two_clients_chat(machine):
    machine.run("systemctl", "start", "chatd")
    assert machine.active() == "active"
    out = machine.python(
        CLIENT
        + """
a, la = connect(); b, lb = connect()
next(l for l in la if l.startswith("*** You joined"))
next(l for l in lb if l.startswith("*** You joined"))
a.sendall(b"hello from a\\n")
print(next(l for l in lb if l.startswith("<")))
"""
    )
    assert out.strip() == "<guest1> hello from a"
    status = machine.run("systemctl", "show", "-P", "StatusText", "chatd").stdout
    assert status.startswith("serving")


def test_reload_applies_a_changed_max_clients(machine):
    pid = machine.main_pid()
    machine.sh("sed -i 's/^max_clients: .*/max_clients: 1/' /etc/chatd.yaml")
    machine.run("systemctl", "reload", "chatd")
    out = machine.python(
        CLIENT
        + """
a, la = connect()
next(l for l in la if l.startswith("*** You joined"))
b, lb = connect()
print(next(lb))
"""
    )
    assert out.strip() == "*** error: server is full (max 1 clients)"
    assert machine.main_pid() == pid


def test_logs_go_to_the_journal_unless_the_config_names_a_file(machine):
    journal = machine.run("journalctl", "-u", "chatd", "--no-pager", "-o", "cat").stdout
    assert " connected from " in journal
    machine.sh("test ! -e /var/log/chatd/chatd.log")


def test_logrotate_moves_the_log_and_chatd_writes_the_new_one(machine):
    machine.sh("sed -i 's|^log_file: .*|log_file: /var/log/chatd/chatd.log|' /etc/chatd.yaml")
    machine.run("systemctl", "reload", "chatd")
    machine.python(
        CLIENT
        + """
a, la = connect()
next(l for l in la if l.startswith("*** You joined"))
"""
    )
    machine.run("logrotate", "-f", "/etc/logrotate.d/chatd")
    machine.sh("test -s /var/log/chatd/chatd.log.1")
    machine.python(
        CLIENT
        + """
a, la = connect()
next(l for l in la if l.startswith("*** You joined"))
"""
    )
    log = machine.sh("cat /var/log/chatd/chatd.log").stdout
    assert "SIGUSR1: log file reopened" in log
    assert " connected from " in log


def test_a_killed_chatd_is_restarted(machine):
    pid = machine.main_pid()
    machine.run("systemctl", "kill", "-s", "KILL", "chatd")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if machine.active() == "active" and machine.main_pid() not in (0, pid):
            break
        time.sleep(0.2)
    assert machine.active() == "active"
    assert machine.main_pid() != pid


def test_a_frozen_chatd_is_found_by_the_watchdog_and_restarted(machine):
    dropin = "/run/systemd/system/chatd.service.d"
    machine.sh(f"mkdir -p {dropin} && printf '[Service]\\nWatchdogSec=2\\nTimeoutAbortSec=1\\n' "
               f"> {dropin}/watchdog.conf")  # fmt: skip
    machine.run("systemctl", "daemon-reload")
    try:
        machine.run("systemctl", "restart", "chatd")
        pid = machine.main_pid()
        time.sleep(5)  # two and a half watchdog periods: a turning loop keeps pinging
        assert machine.active() == "active" and machine.main_pid() == pid
        machine.run("kill", "-STOP", str(pid))  # the loop stops; so do its pings
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if machine.active() == "active" and machine.main_pid() not in (0, pid):
                break
            time.sleep(0.2)
        assert machine.main_pid() not in (0, pid)
        journal = machine.run("journalctl", "-u", "chatd", "--no-pager").stdout
        assert "Watchdog timeout" in journal
    finally:
        machine.run("rm", "-r", dropin)
        machine.run("systemctl", "daemon-reload")
        machine.run("systemctl", "restart", "chatd")


def test_socket_unit_starts_chatd_on_first_connect(machine):
    machine.run("systemctl", "stop", "chatd")
    machine.run("systemctl", "start", "chatd.socket")
    assert machine.active("chatd") == "inactive"
    out = machine.python(
        CLIENT
        + """
a, la = connect()
print(next(l for l in la if l.startswith("*** You are")))
"""
    )
    assert out.startswith("*** You are guest")
    assert machine.active("chatd") == "active"
    journal = machine.run("journalctl", "-u", "chatd", "--no-pager", "-o", "cat").stdout
    assert "the socket unit listens on" not in journal  # unit and config agree


def test_the_same_unit_runs_four_workers(machine):
    machine.sh("sed -i 's/^workers: .*/workers: 4/; s/^max_clients: .*/max_clients: 100/' "
               "/etc/chatd.yaml")  # fmt: skip
    machine.run("systemctl", "restart", "chatd")
    assert machine.active() == "active"
    master = machine.main_pid()
    children = machine.run("pgrep", "-P", str(master)).stdout.split()
    assert len(children) == 4
    out = machine.python(
        CLIENT
        + """
peers = [connect() for _ in range(12)]
# Connections land on four workers at once, so guest numbers follow the order in
# which the workers' events reach the master, not the order of connect().
nicks = [next(l for l in lines_ if l.startswith("*** You are "))[12:] for _, lines_ in peers]
for s, lines_ in peers:
    next(l for l in lines_ if l.startswith("*** You joined"))
peers[0][0].sendall(b"to every worker\\n")
line = f"<{nicks[0]}> to every worker"
print(sum(next(l for l in lines_ if l.startswith("<")) == line for _, lines_ in peers[1:]),
      len(set(nicks)))
"""
    )
    assert out.split() == ["11", "12"]
    machine.run("systemctl", "reload", "chatd")
    assert machine.active() == "active" and machine.main_pid() == master


def test_stop_tells_clients_the_server_is_shutting_down(machine):
    watcher = subprocess.Popen(
        ["nsenter", "--target", str(machine.pid), "--all", "python3", "-c", CLIENT + """
a, la = connect()
next(l for l in la if l.startswith("*** You joined"))
print("joined", flush=True)
print(list(la)[-1], flush=True)
"""],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert watcher.stdout.readline().strip() == "joined"
    machine.run("systemctl", "stop", "chatd.socket", "chatd")
    assert watcher.stdout.readline().strip() == "*** server shutting down"
    assert watcher.wait(15) == 0
    assert machine.active("chatd") == "inactive"


TLS_CONFIG = """listen:
  - {protocol: line, port: 5000}
  - {protocol: line, port: 5001, tls: true}
tls_cert: /etc/chatd-tls/chatd.crt
tls_key: credential:chatd.key
"""
TLS_DROPIN = (
    "[Service]\n"
    "LoadCredential=chatd.key:/etc/ssl/private/chatd.key\n"
    "ExecStart=\n"
    "ExecStart=/usr/local/bin/chatd --config /etc/chatd-tls.yaml --foreground\n"
)


def test_a_tls_listener_gets_its_key_as_a_credential(machine, staging):
    """The dynamic user cannot read /etc/ssl/private: the key reaches chatd only through
    LoadCredential= and `tls_key: credential:chatd.key`; openssl s_client then chats."""
    import trustme

    ca = trustme.CA()
    leaf = ca.issue_cert("localhost")
    pem = staging / "tls"
    pem.mkdir(exist_ok=True)
    ca.cert_pem.write_to_path(str(pem / "ca.pem"))
    leaf.cert_chain_pems[0].write_to_path(str(pem / "chatd.crt"))
    leaf.private_key_pem.write_to_path(str(pem / "chatd.key"))
    dropin = "/run/systemd/system/chatd.service.d"
    machine.sh(
        "install -d /etc/chatd-tls && install -m 0644 /staging/tls/chatd.crt /etc/chatd-tls/"
        " && install -d -m 0700 /etc/ssl/private"
        " && install -m 0600 /staging/tls/chatd.key /etc/ssl/private/chatd.key"
        f" && printf '%s' '{TLS_CONFIG}' > /etc/chatd-tls.yaml"
        f" && mkdir -p {dropin} && printf '%s' '{TLS_DROPIN}' > {dropin}/tls.conf"
    )
    machine.run("systemctl", "daemon-reload")
    try:
        machine.run("systemctl", "stop", "chatd.socket", "chatd")
        machine.run("systemctl", "start", "chatd")
        assert machine.active() == "active"
        out = machine.python(
            CLIENT
            + """
import subprocess
a, la = connect()
next(l for l in la if l.startswith("*** You joined"))
tls = subprocess.Popen(
    ["openssl", "s_client", "-quiet", "-verify_return_error", "-CAfile", "/staging/tls/ca.pem",
     "-servername", "localhost", "-connect", "127.0.0.1:5001"],
    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
)
tls.stdin.write(b"/nick secure\\nhello over tls\\n")
tls.stdin.flush()
print(next(l for l in la if l.startswith("<")))
tls.kill()
"""
        )
        assert out.strip() == "<secure> hello over tls"
        journal = machine.run("journalctl", "-u", "chatd", "--no-pager", "-o", "cat").stdout
        assert "127.0.0.1:5001 (tls)" in journal
    finally:
        machine.run("rm", "-r", dropin)
        machine.run("systemctl", "daemon-reload")
        machine.run("systemctl", "stop", "chatd", check=False)


def test_make_install_into_a_staging_directory_and_uninstall(staging, tmp_path):
    """GNU-style staging: DESTDIR never leaks into what is installed."""
    stage = tmp_path / "stage"
    make = ["make", "-C", str(staging / "src"), f"DESTDIR={stage}", "PREFIX=/opt/chatd"]
    subprocess.run(
        [*make, "install", f"WHEELS={staging / 'wheels'}", f"PYTHON={sys.executable}"],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    venv = stage / "opt/chatd/lib/chatd/venv"
    assert os.readlink(stage / "opt/chatd/bin/chatd") == "/opt/chatd/lib/chatd/venv/bin/chatd"
    shebang = (venv / "bin/chatd").read_text().splitlines()[0]
    assert shebang.startswith("#!/opt/chatd/lib/chatd/venv/bin/python")  # not the stage
    assert str(stage) not in (venv / "pyvenv.cfg").read_text()
    unit = (stage / "etc/systemd/system/chatd.service").read_text()
    assert "ExecStart=/opt/chatd/bin/chatd --config /etc/chatd.yaml" in unit
    assert (stage / "etc/systemd/system/chatd.socket").exists()
    assert (stage / "etc/logrotate.d/chatd").exists()
    (stage / "etc/chatd.yaml").write_text("port: 6000\n")  # the operator's own config
    subprocess.run([*make, "install", f"WHEELS={staging / 'wheels'}", f"PYTHON={sys.executable}"],
                   check=True, capture_output=True, timeout=300)  # fmt: skip
    assert (stage / "etc/chatd.yaml").read_text() == "port: 6000\n"  # kept
    subprocess.run([*make, "uninstall"], check=True, capture_output=True, timeout=60)
    assert not (stage / "opt/chatd/bin/chatd").exists() and not venv.exists()
    assert not (stage / "etc/systemd/system/chatd.service").exists()
    assert (stage / "etc/chatd.yaml").exists()  # config stays
