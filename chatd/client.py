"""chatd-client: the tutorial's client, done right.

In a terminal it edits the line being typed with prompt_toolkit, printing server lines
above it so they never break what the user is typing.  With stdin or stdout not a terminal
(a pipe, a script) it is a plain selectors loop over stdin and the socket, with
back-pressure both ways: ``printf '/nick bot\\nhello\\n/quit\\n' | chatd-client HOST PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import selectors
import socket
import sys

from . import __version__

READ_SIZE = 65536
MAX_PENDING = 1 << 20  # stop reading stdin while this much is waiting for the server


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="chatd-client", description="Talk to a chatd server.")
    ap.add_argument("host", nargs="?", default="127.0.0.1")
    ap.add_argument("port", nargs="?", type=int, default=5000)
    ap.add_argument("--plain", action="store_true", help="no line editing, even in a terminal")
    ap.add_argument("--version", action="version", version=f"chatd-client {__version__}")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        sock = socket.create_connection((args.host, args.port), timeout=10)
    except OSError as exc:
        print(
            f"chatd-client: cannot connect to {args.host} port {args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    try:
        if not args.plain and sys.stdin.isatty() and sys.stdout.isatty():
            return asyncio.run(interactive(sock))
        return plain(sock, sys.stdin.fileno(), sys.stdout.fileno())
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:  # our reader went away (| head): nothing left to do
        return 0
    finally:
        sock.close()


def _lines(data: bytes) -> bytes:
    """Server lines end in CR LF; a terminal or a pipe wants LF."""
    return data.replace(b"\r\n", b"\n")


# Plain mode: stdin and stdout are pipes or files.


def plain(sock: socket.socket, stdin: int, stdout: int) -> int:
    """Copies stdin to the server and the server to stdout until the server closes.

    At the end of stdin the client half-closes the socket: the server then finishes what
    it was sent (flood control may still be replaying it) and closes, which ends us.
    """
    sock.setblocking(False)
    os.set_blocking(stdin, False)
    # poll, not epoll: epoll refuses regular files, as in `chatd-client < lines.txt`.
    sel = selectors.PollSelector()
    sel.register(sock, selectors.EVENT_READ)
    outgoing = bytearray()
    stdin_open, half_closed = True, False
    try:
        while True:
            watching_stdin = stdin_open and len(outgoing) <= MAX_PENDING
            _watch(sel, stdin, selectors.EVENT_READ if watching_stdin else 0)
            sock_events = selectors.EVENT_READ | (selectors.EVENT_WRITE if outgoing else 0)
            _watch(sel, sock, sock_events)
            for key, mask in sel.select():
                if key.fd == stdin:
                    data = _read(stdin)
                    if data == b"":
                        stdin_open = False
                    elif data:
                        outgoing += data
                elif mask & selectors.EVENT_READ:
                    try:
                        data = sock.recv(READ_SIZE)
                    except BlockingIOError:
                        continue
                    except ConnectionError as exc:
                        print(f"chatd-client: connection lost: {exc.strerror}", file=sys.stderr)
                        return 1
                    if not data:
                        return 0
                    _write_all(stdout, _lines(data))
            if outgoing:
                _send_some(sock, outgoing)
            if not stdin_open and not outgoing and not half_closed:
                sock.shutdown(socket.SHUT_WR)
                half_closed = True
    finally:
        os.set_blocking(stdin, True)
        sel.close()


def _read(fd: int) -> bytes | None:
    try:
        return os.read(fd, READ_SIZE)
    except BlockingIOError:
        return None


def _send_some(sock: socket.socket, outgoing: bytearray) -> None:
    try:
        sent = sock.send(outgoing)
    except BlockingIOError:
        return
    del outgoing[:sent]


def _watch(sel: selectors.BaseSelector, fileobj: int | socket.socket, events: int) -> None:
    """Sets what the selector watches for; 0 means not at all."""
    try:
        current = sel.get_key(fileobj).events
    except KeyError:
        current = 0
    if events == current:
        return
    if not current:
        sel.register(fileobj, events)
    elif not events:
        sel.unregister(fileobj)
    else:
        sel.modify(fileobj, events)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


# Interactive mode: a terminal on both ends.


async def interactive(sock: socket.socket) -> int:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.patch_stdout import patch_stdout

    sock.setblocking(False)
    reader, writer = await asyncio.open_connection(sock=sock)
    session: PromptSession[str] = PromptSession("> ")
    closed = asyncio.Event()

    async def receive() -> None:
        try:
            while line := await reader.readline():
                print(line.decode("utf-8", "replace").rstrip("\r\n"))
        except ConnectionError as exc:
            print(f"chatd-client: connection lost: {exc.strerror}")
        closed.set()
        if session.app.is_running:
            session.app.exit(result=None)

    with patch_stdout(raw=True):
        task = asyncio.create_task(receive())
        while not closed.is_set():
            quitting = False
            try:
                text = await session.prompt_async()
            except (EOFError, KeyboardInterrupt):
                text, quitting = "/quit", True
            if text is None or closed.is_set():
                break
            writer.write(text.encode("utf-8") + b"\n")
            await writer.drain()
            if quitting:
                break
        try:
            await asyncio.wait_for(task, timeout=5)
        except TimeoutError:
            task.cancel()
    print("chatd-client: the server closed the connection", file=sys.stderr)
    writer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
