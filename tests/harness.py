"""Helpers: the server driven step by step over socketpairs, with a clock of our own."""

from __future__ import annotations

import dataclasses
import socket

from chatd.config import Config
from chatd.loop import Loop
from chatd.protocol import LineParser, LineTooLong
from chatd.server import Server


def parse(data: bytes, max_line: int) -> list[str | LineTooLong]:
    """What the server makes of data as one client's input: its lines, blank ones left out."""
    parser = LineParser(max_line)
    parser.feed(data)
    return [item for item in parser.take(-1) if item != ""]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Peer:
    """The client's end of a socketpair: send lines, read what the server wrote."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.setblocking(False)
        self._partial = b""

    def send(self, *lines: str | bytes) -> None:
        for line in lines:
            data = line if isinstance(line, bytes) else line.encode() + b"\n"
            self.sock.sendall(data)

    def read(self) -> bytes:
        chunks = []
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)

    def lines(self) -> list[str]:
        """Every complete line received since the last call, CR LF checked and removed."""
        data = self._partial + self.read()
        *complete, self._partial = data.split(b"\n")
        for line in complete:
            assert line.endswith(b"\r"), f"line not ended by CR LF: {line!r}"
        return [line[:-1].decode() for line in complete]

    def closed(self) -> bool:
        """True once the server has closed its end (EOF after any pending bytes)."""
        try:
            data = self.sock.recv(65536, socket.MSG_PEEK)
        except BlockingIOError:
            return False
        except ConnectionResetError:
            return True
        return not data

    def close(self) -> None:
        self.sock.close()


class Harness:
    def __init__(self, **settings: object) -> None:
        defaults: dict[str, object] = {"server_name": "test", "flood_rate": 0}
        defaults.update(settings)
        self.config = dataclasses.replace(Config(), **defaults)  # type: ignore[arg-type]
        self.clock = FakeClock()
        self.loop = Loop(clock=self.clock)
        self.server = Server(self.config, self.loop)

    def connect(self, ip: str = "10.0.0.1", read_greeting: bool = True) -> Peer:
        ours, theirs = socket.socketpair()
        self.server.adopt(theirs, ip)
        peer = Peer(ours)
        self.step()
        if read_greeting:
            peer.lines()
        return peer

    def irc_connect(self, ip: str = "10.0.0.9") -> Peer:
        """An IRC client, not registered yet."""
        ours, theirs = socket.socketpair()
        self.server.adopt(theirs, ip, "irc")
        peer = Peer(ours)
        self.step()
        return peer

    def irc_register(self, peer: Peer, nick: str) -> list[str]:
        """NICK and USER from peer; the lines the server answered."""
        peer.sock.sendall(f"NICK {nick}\r\nUSER {nick} 0 * :Real Name\r\n".encode())
        self.step(3)
        return peer.lines()

    def step(self, times: int = 1) -> None:
        for _ in range(times):
            self.loop.run_once(0)

    def tick(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.step()

    def close(self) -> None:
        for conn in list(self.server.clients.values()):
            conn.sock.close()
        self.loop.close()
