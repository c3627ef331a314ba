"""A tiny TLS line server on chatd.tls.TlsStream, run as a script by the client's tests.

    python tests/tls_line_server.py CERT KEY [PORT]

It prints its port, greets each client as chatd would, answers a line with `<echo> LINE`,
`/quit` with `*** Bye`, `/big N` with N numbered lines in one go, and the client's end of
input with `*** eof (HOW)`, HOW being how the client closed (close_notify, eof, reset);
then it sends close_notify, and closes once the client has closed too.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import sys

from chatd.tls import EVENT_READ, EVENT_WRITE, Step, TlsError, TlsStream, server_context


class Client:
    def __init__(self, stream: TlsStream, number: int) -> None:
        self.stream = stream
        self.queue = bytearray(
            f"*** You are guest{number}\r\n"
            f"*** You joined #lobby (1 user: guest{number})\r\n".encode()
        )
        self.partial = b""
        self.closing = False

    def step(self) -> bool:
        """Does what the socket allows; False once the client is done with."""
        stream = self.stream
        if not stream.handshake_done:
            try:
                stream.handshake_step()
            except TlsError as exc:
                print(f"handshake failed: {exc.reason}", file=sys.stderr, flush=True)
                return False
        if stream.handshake_done and not self.closing:
            self.read()
        while self.queue and (n := stream.send(self.queue)):
            del self.queue[:n]
        if self.closing and not self.queue:
            return stream.close_notify() is Step.WANT_WRITE
        return True

    def read(self) -> None:
        while (data := self.stream.recv(65536)) is not None:
            if not data:
                self.queue += f"*** eof ({self.stream.closed_by})\r\n".encode()
                self.closing = True
                return
            *lines, self.partial = (self.partial + data).split(b"\n")
            for line in lines:
                if line.startswith(b"/big "):  # many records at once, then silence
                    self.queue += b"".join(
                        b"%05d %s\r\n" % (i, b"b" * 90) for i in range(int(line[5:]))
                    )
                    continue
                if line.rstrip(b"\r") == b"/quit":
                    self.queue += b"*** Bye\r\n"
                    self.closing = True
                    return
                self.queue += b"<echo> " + line.rstrip(b"\r") + b"\r\n"

    def events(self) -> int:
        stream = self.stream
        if not stream.handshake_done:
            return stream.wants  # reading before its own output is out would spin
        wanted = 0 if self.closing else EVENT_READ
        return stream.wants | wanted | (EVENT_WRITE if self.queue else 0) or EVENT_READ


def main(cert: str, key: str, port: int = 0) -> None:
    context = server_context(cert, key)
    listener = socket.create_server(("127.0.0.1", port))
    listener.setblocking(False)
    print(listener.getsockname()[1], flush=True)
    sel = selectors.DefaultSelector()
    sel.register(listener, EVENT_READ)
    count = 0
    while True:
        for key_, _ in sel.select():
            if key_.fileobj is listener:
                conn, _ = listener.accept()
                conn.setblocking(False)
                count += 1
                sel.register(conn, EVENT_READ, Client(TlsStream(conn, context), count))
                continue
            client: Client | None = key_.data
            if client is None:
                drain(sel, key_.fileobj)  # type: ignore[arg-type]
            elif client.step():
                sel.modify(key_.fileobj, client.events(), client)
            else:
                linger(sel, key_.fileobj)  # type: ignore[arg-type]


def linger(sel: selectors.BaseSelector, sock: socket.socket) -> None:
    """Done with a client: FIN after our close_notify, then read until the client's FIN.
    Closing with its last bytes unread (its own close_notify, sent as its input ended)
    would make the kernel send a reset, which can reach the client before our last line."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
    sel.modify(sock, EVENT_READ, None)


def drain(sel: selectors.BaseSelector, sock: socket.socket) -> None:
    try:
        data = sock.recv(65536)
    except BlockingIOError:
        return
    except OSError:
        data = b""
    if not data:
        sel.unregister(sock)
        sock.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0)
