"""A real redis-server for tests: a temporary directory, a unix socket and a free TCP port."""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import time
from pathlib import Path

from e2e import free_port

REDIS_SERVER = shutil.which("redis-server")
SKIP_REASON = "redis-server is not installed (apt-get install redis-server)"
READY = b"eady to accept connections"  # "Ready ..." or "The server is now ready ..."


class RedisServer:
    """redis-server in the foreground, nothing saved; restart() keeps socket and port."""

    def __init__(self, directory: Path, *extra: str) -> None:
        assert REDIS_SERVER is not None, SKIP_REASON
        self.directory = directory
        self.socket_path = str(directory / "redis.sock")
        self.port = free_port()
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = b""
        self.start()

    @property
    def unix_url(self) -> str:
        return f"unix://{self.socket_path}"

    def start(self, timeout: float = 10) -> None:
        command = [
            str(REDIS_SERVER),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--unixsocket", self.socket_path,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.directory),
            *self.extra,
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self.log = b""
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while READY not in self.log:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise AssertionError(f"redis-server not ready:\n{self.log.decode()}")
                data = os.read(fd, 65536)
                if not data:
                    raise AssertionError(f"redis-server exited:\n{self.log.decode()}")
                self.log += data

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def pause(self) -> None:
        """SIGSTOP, returning once the process has stopped: a signal is not instant."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)
        _, status = os.waitpid(self.proc.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(status), status

    def resume(self) -> None:
        self.signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL, as a crash would: the socket file stays behind, refusing connections.

        A stopped server dies too, without running again (no SIGCONT, which would let it
        answer what waits in its socket first)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        self.kill()
