"""Run inside a private network namespace (see test_vanished_peer.py), as root.

Two real chatds: one whose client sockets give up on unacknowledged data after one
second (TCP_USER_TIMEOUT shortened from the real two minutes), one with the option unset.
Each has a watcher and a victim in #lobby; then every packet to the victims' address is
blackholed, as when a host vanishes, and the watchers keep talking (so the server has
data in flight to the victims).  Prints one JSON line: how long the first victim took to
be dropped, what its room saw, and how many users the control chatd still counts.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time

VICTIM = "127.0.0.3"
SERVE = (
    "import sys, chatd.sockets as s; s.USER_TIMEOUT = float(sys.argv[1]); "
    "from chatd.cli import main; sys.exit(main(sys.argv[2:]))"
)


class Peer:
    def __init__(self, port: int, source: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), 5, (source, 0))
        self.buf = b""

    def line(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sock.recv(65536)
            if not data:
                raise EOFError
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r").decode()

    def until(self, prefix: str, timeout: float = 5) -> str:
        while not (line := self.line(timeout)).startswith(prefix):
            pass
        return line


def start(user_timeout: float) -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(user_timeout), "--port", "0"], stderr=subprocess.PIPE
    )
    assert proc.stderr is not None
    log = b""
    while not (found := re.search(rb"listening on 127\.0\.0\.1:(\d+)", log)):
        chunk = proc.stderr.read1(4096)
        if not chunk:
            raise SystemExit(f"chatd exited: {log.decode()}")
        log += chunk
    return proc, int(found.group(1))


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True)


def main() -> None:
    ip("link", "set", "lo", "up")
    servers = [start(1.0), start(0)]  # 0: the option unset, the kernel's own retries
    rooms, victims = [], []  # the victims are kept open: they vanish, they do not close
    for _, port in servers:
        watcher = Peer(port, "127.0.0.1")
        watcher.until("*** You joined")
        victims.append(Peer(port, VICTIM))
        victims[-1].until("*** You joined")
        rooms.append((watcher, watcher.until("*** guest2 joined")))
    # The local table answers first for every local address: put a blackhole before it.
    ip("rule", "add", "pref", "1", "lookup", "local")
    ip("rule", "del", "pref", "0")
    ip("rule", "add", "pref", "0", "to", VICTIM, "blackhole")
    started = time.monotonic()
    watcher, control = rooms[0][0], rooms[1][0]
    left, elapsed = None, None
    while time.monotonic() - started < 8:
        for peer in (watcher, control):
            peer.sock.sendall(b"still talking\r\n")
        try:
            line = watcher.line(timeout=0.2)
        except TimeoutError:
            continue
        if line.startswith("*** guest2 left"):
            left, elapsed = line, time.monotonic() - started
            break
    while time.monotonic() - started < 3:  # the control gets as long as it took, and more
        control.sock.sendall(b"still talking\r\n")
        time.sleep(0.2)
    control.sock.sendall(b"/who\r\n")
    while not re.match(r"\*\*\* \d+ users in ", who := control.line(timeout=5)):
        pass
    for proc, _ in servers:
        proc.terminate()
        proc.wait(10)
    print(json.dumps({"left": left, "elapsed": elapsed, "control_who": who}))


if __name__ == "__main__":
    main()
