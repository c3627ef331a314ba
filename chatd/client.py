"""chatd-client: the tutorial's client, done right.

In a terminal it edits the line being typed with prompt_toolkit, printing server lines
above it so they never break what the user is typing (chatd.clientterm; the look of each
line is chatd.clientview, the nicks it completes chatd.clientnicks).  With stdin or stdout
not a terminal (a pipe, a script) it is a plain selectors loop over stdin and the socket, with
back-pressure both ways: ``printf '/nick bot\\nhello\\n/quit\\n' | chatd-client HOST PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import selectors
import socket
import sys
from typing import TYPE_CHECKING

from . import __version__

if TYPE_CHECKING:
    from .clientterm import Options

READ_SIZE = 65536
MAX_PENDING = 1 << 20  # stop reading stdin while this much is waiting for the server


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="chatd-client",
        description="Talk to a chatd server. In a terminal: styled lines, Tab completion, "
        "Ctrl-R history search, reconnects. With a pipe or file on stdin or stdout: the "
        "server's lines as sent (CR LF made LF), no colour, no reconnect, for scripts.",
        epilog="Ctrl-D or Ctrl-C sends /quit and exits. NO_COLOR in the environment has "
        "the effect of --no-color.",
    )
    ap.add_argument(
        "host",
        nargs="?",
        default="127.0.0.1",
        metavar="HOST",
        help="the server's host name or address (default: 127.0.0.1)",
    )
    ap.add_argument(
        "port",
        nargs="?",
        type=int,
        default=5000,
        metavar="PORT",
        help="the server's TCP port (default: 5000, chatd's default port)",
    )
    ap.add_argument("--plain", action="store_true", help="no line editing, even in a terminal")
    ap.add_argument("--no-color", action="store_true", help="no colours in the terminal")
    ap.add_argument(
        "--timestamps",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="[HH:MM] local time before each line in the terminal (default: on)",
    )
    ap.add_argument(
        "--no-reconnect",
        action="store_true",
        help="exit when the connection drops instead of connecting again after 1, 2, 4 ... 30 s",
    )
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
            # Imported here: scripts in pipe mode do not pay for prompt_toolkit.
            from .clientterm import Terminal

            return asyncio.run(Terminal(terminal_options(args)).run(sock))
        return plain(sock, sys.stdin.fileno(), sys.stdout.fileno())
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:  # our reader went away (| head): nothing left to do
        return 0
    finally:
        sock.close()


def terminal_options(args: argparse.Namespace) -> Options:
    from .clientterm import Options

    # NO_COLOR: any non-empty value (no-color.org); a dumb terminal shows codes as text.
    dumb = os.environ.get("TERM", "") in ("", "dumb")
    colour = not args.no_color and not os.environ.get("NO_COLOR") and not dumb
    return Options(args.host, args.port, colour, not dumb, args.timestamps, not args.no_reconnect)


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


if __name__ == "__main__":
    sys.exit(main())
