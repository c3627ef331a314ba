"""chatd-client: the tutorial's client, done right.

In a terminal it edits the line being typed with prompt_toolkit, printing server lines
above it so they never break what the user is typing (chatd.clientterm; the look of each
line is chatd.clientview, the nicks it completes chatd.clientnicks).  With stdin or stdout
not a terminal (a pipe, a script) it is a plain selectors loop over stdin and the socket, with
back-pressure both ways: ``printf '/nick bot\\nhello\\n/quit\\n' | chatd-client HOST PORT``.

With ``--tls`` pipe mode does the handshake first (at most 10 s, so a certificate problem
is one line and exit 1 before anything is read from stdin), then runs the same loop over a
chatd.tls.TlsStream: every socket event reads until the stream would block (records
already decrypted are not left waiting for the socket), what the stream needs to write is
watched for, and the end of stdin sends close_notify as the half-close.  The terminal
verifies the same way through asyncio, on every reconnect too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import selectors
import socket
import ssl
import sys
from typing import TYPE_CHECKING

from . import __version__
from .tls import TlsConfigError, TlsError, TlsStream, client_context, client_handshake, describe

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
    ap.add_argument(
        "--tls",
        action="store_true",
        help="connect with TLS, checking the server's certificate against the system's CAs "
        "and HOST (sent as SNI)",
    )
    ap.add_argument(
        "--cafile",
        metavar="FILE",
        help="trust only the CA certificates in FILE (PEM), for a private CA; implies --tls",
    )
    ap.add_argument(
        "--insecure",
        action="store_true",
        help="do not check the server's certificate (warns on stderr); implies --tls",
    )
    ap.add_argument("--version", action="version", version=f"chatd-client {__version__}")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        context = tls_context(args)
    except TlsConfigError as exc:
        print(f"chatd-client: {exc}", file=sys.stderr)
        return 1
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

            return asyncio.run(Terminal(terminal_options(args, context)).run(sock))
        if context is None:
            return plain(Plain(sock), sys.stdin.fileno(), sys.stdout.fileno())
        stream = client_handshake(sock, context, args.host)
        return plain(stream, sys.stdin.fileno(), sys.stdout.fileno())
    except TlsError as exc:
        print(f"chatd-client: TLS: {exc.reason}", file=sys.stderr)
        return 1
    except ssl.SSLError as exc:  # the terminal's first handshake, through asyncio
        print(f"chatd-client: TLS: {describe(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:  # our reader went away (| head): nothing left to do
        return 0
    except ConnectionError as exc:  # the terminal's first handshake cut short
        print(f"chatd-client: connection lost: {exc.strerror or exc}", file=sys.stderr)
        return 1
    finally:
        sock.close()


def tls_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """None without TLS; --cafile and --insecure mean TLS without saying --tls."""
    if not (args.tls or args.cafile or args.insecure):
        return None
    if args.insecure:
        print(
            "chatd-client: warning: --insecure: the server's certificate is not checked, "
            "anyone on the way can read and change what is said",
            file=sys.stderr,
        )
    return client_context(args.cafile, args.insecure)


def terminal_options(args: argparse.Namespace, tls: ssl.SSLContext | None = None) -> Options:
    from .clientterm import Options

    # NO_COLOR: any non-empty value (no-color.org); a dumb terminal shows codes as text.
    dumb = os.environ.get("TERM", "") in ("", "dumb")
    colour = not args.no_color and not os.environ.get("NO_COLOR") and not dumb
    reconnect = not args.no_reconnect
    return Options(args.host, args.port, colour, not dumb, args.timestamps, reconnect, tls)


def _lines(data: bytes) -> bytes:
    """Server lines end in CR LF; a terminal or a pipe wants LF."""
    return data.replace(b"\r\n", b"\n")


# Plain mode: stdin and stdout are pipes or files.


class Plain:
    """A plain socket with TlsStream's face, so one loop serves both."""

    wants = 0

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.closed_by: str | None = None

    def recv(self, n: int) -> bytes | None:
        try:
            return self.sock.recv(n)
        except BlockingIOError:
            return None

    def send(self, data: bytearray) -> int:
        try:
            return self.sock.send(data)
        except BlockingIOError:
            return 0

    def flush(self) -> bool:
        return True

    def close_notify(self) -> None:
        self.sock.shutdown(socket.SHUT_WR)


def plain(stream: Plain | TlsStream, stdin: int, stdout: int) -> int:
    """Copies stdin to the server and the server to stdout until the server closes.

    At the end of stdin the client half-closes the connection (shutdown, or close_notify
    over TLS): the server then finishes what it was sent (flood control may still be
    replaying it) and closes, which ends us.
    """
    sock = stream.sock
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
            _watch(sel, sock, sock_events | stream.wants)
            for key, _ in sel.select():
                if key.fd == stdin:
                    data = _read(stdin)
                    if data == b"":
                        stdin_open = False
                    elif data:
                        outgoing += data
                    continue
                ended = _receive(stream, stdout)
                if ended is not None:
                    return ended
            try:
                if outgoing:
                    del outgoing[: stream.send(outgoing)]
                stream.flush()
            except ConnectionResetError as exc:
                print(f"chatd-client: connection lost: {exc.strerror}", file=sys.stderr)
                return 1
            if not stdin_open and not outgoing and not half_closed:
                stream.close_notify()
                half_closed = True
    finally:
        os.set_blocking(stdin, True)
        sel.close()


def _receive(stream: Plain | TlsStream, stdout: int) -> int | None:
    """Writes what the server sent until the stream would block; the exit status once
    the server has closed."""
    while True:
        try:
            data = stream.recv(READ_SIZE)
        except ConnectionError as exc:
            print(f"chatd-client: connection lost: {exc.strerror}", file=sys.stderr)
            return 1
        except TlsError as exc:
            print(f"chatd-client: TLS: {exc.reason}", file=sys.stderr)
            return 1
        if data is None:
            return None
        if not data:
            if stream.closed_by == "reset":
                print("chatd-client: connection lost: Connection reset by peer", file=sys.stderr)
                return 1
            return 0
        _write_all(stdout, _lines(data))
        if isinstance(stream, Plain):
            return None  # one read per event, as before: the socket says when there is more


def _read(fd: int) -> bytes | None:
    try:
        return os.read(fd, READ_SIZE)
    except BlockingIOError:
        return None


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
