"""A client over TLS: its connection, and the socket-like face the writer sends through.

A TLS client is a Connection whose ``sock`` is a ``TlsSocket``: send() takes plaintext and
returns how much it took, recv() gives plaintext or raises BlockingIOError, fileno() is
the socket's.  So the writer's one-send-per-tick path and every other use of ``conn.sock``
work unchanged for it, and a plaintext client pays nothing for TLS being there.  What the
writer cannot see (ciphertext the socket did not take, held inside the stream) is told to
the server through ``on_blocked``, which asks for EVENT_WRITE.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
from collections.abc import Callable
from typing import Any

from .connection import Connection
from .tls import TlsError, TlsStream

READ = selectors.EVENT_READ
WRITE = selectors.EVENT_WRITE


class TlsSocket:
    """TlsStream with a socket's send/recv/fileno/close, as the server's code uses them."""

    __slots__ = ("stream", "sock", "on_blocked", "abrupt")

    def __init__(self, stream: TlsStream) -> None:
        self.stream = stream
        self.sock = stream.sock
        self.on_blocked: Callable[[], None] = _nothing  # set by the server once it has conn
        self.abrupt = False  # close without close_notify: the peer is gone or too slow

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, data: Any) -> int:
        """Plaintext taken (encrypted); a TLS failure is an OSError like a socket's."""
        try:
            taken = self.stream.send(data)
        except TlsError as exc:
            raise OSError(errno.EPROTO, exc.reason) from None
        if self.stream.wants & WRITE:  # ciphertext waits inside: the writer cannot see it
            self.on_blocked()
        return taken

    def recv(self, n: int) -> bytes:
        """Up to n bytes of plaintext, from as many records as are there."""
        stream = self.stream
        try:
            data = stream.recv(n)
            if data is None:
                raise BlockingIOError(errno.EAGAIN, "no whole record yet")
            while data and len(data) < n:
                more = stream.recv(n - len(data))
                if not more:  # None: wait for the socket; b"": the end comes next call
                    break
                data += more
        except TlsError as exc:
            raise OSError(errno.EPROTO, exc.reason) from None
        return data

    def close(self) -> None:
        """close_notify first, without waiting: the socket was just flushed (a lingering
        client leaves once its output is written), so the alert's few bytes fit."""
        if not self.abrupt and self.stream.handshake_done:
            with contextlib.suppress(OSError):
                self.stream.close_notify()
        self.sock.close()


class TlsConnection(Connection):
    """A Connection whose bytes go through TLS; it joins the chat once the handshake ends."""

    __slots__ = ("tls", "again")

    sock: TlsSocket  # type: ignore[assignment]

    def __init__(self, stream: TlsStream, *args: Any, **kwargs: Any) -> None:
        super().__init__(TlsSocket(stream), *args, **kwargs)  # type: ignore[arg-type]
        self.tls = stream
        self.again = False  # a read without the socket is due (bytes wait in the stream)

    def __repr__(self) -> str:
        return f"<TlsConnection fd={self.fd} {self.nick or '-'} from {self.ip}>"

    @property
    def handshaking(self) -> bool:
        return not self.tls.handshake_done

    def unread(self) -> bool:
        """Something the next recv() gives without the socket: decrypted bytes, or the
        end (close_notify or EOF) met while reading the records before it."""
        return bool(self.tls.pending()) or self.tls.closed_by is not None

    def abort(self, reason: str) -> None:
        self.sock.abrupt = True
        super().abort(reason)

    def flush(self) -> bool:
        """As Connection's, and True only once the stream's ciphertext is out as well."""
        if not super().flush():
            return False
        try:
            return self.tls.flush()
        except OSError as exc:
            self.abort(f"connection error: {exc.strerror or exc}")
            return True

    def wanted(self, reading: bool) -> int:
        """The events to wait for: the handshake's own, then the caller's plus the
        stream's (ciphertext waiting for the socket).  A queue that waits for the end
        of the handshake asks for no EVENT_WRITE: that would only spin."""
        tls = self.tls
        if not tls.handshake_done:
            return tls.wants
        return (READ if reading else 0) | (WRITE if self.out_size else 0) | tls.wants


def _nothing() -> None:
    pass
