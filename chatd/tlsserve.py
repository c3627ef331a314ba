"""The server's TLS half: the context, handshakes inside the loop, and reads without the
socket when decrypted bytes wait inside a stream.

A TLS client is accepted as a ``TlsConnection`` that is not yet in the chat: the loop
steps its handshake on every event, whichever way it is blocked; it counts against
``max_clients`` and ``max_clients_per_ip`` meanwhile (here, as the chat cannot see it);
``tls_handshake_timeout`` ends it if it never finishes.  Once the handshake is done it
starts as a plaintext client does (greeted, or an IRC session), and from then on the
server's usual code drives it through its ``TlsSocket``.
"""

from __future__ import annotations

import logging
import selectors
import socket
import ssl
from typing import TYPE_CHECKING

from . import tls
from .admission import Pending
from .config import Config
from .core import outcomes as o
from .sockets import tune_client_socket
from .tlsconn import TlsConnection

if TYPE_CHECKING:
    from .connection import Connection
    from .core.chat import Chat
    from .delivery import FrontEnd
    from .loop import Loop

log = logging.getLogger("chatd.server")

READ = selectors.EVENT_READ
WRITE = selectors.EVENT_WRITE
HANDSHAKE_FAILED = "TLS handshake failed"


class TlsServing:
    """Mixed into the Server (see server.py for what the names below are)."""

    loop: Loop
    chat: Chat
    config: Config
    clients: dict[int, Connection]
    pending: Pending
    leaving: list[Connection]

    def _connection_args(self, front: FrontEnd, tls_client: bool) -> tuple: ...  # type: ignore[type-arg]

    def _start(self, conn: Connection) -> None: ...

    def _readable(self, conn: Connection) -> None: ...

    def _writable(self, conn: Connection) -> None: ...

    def _update_events(self, conn: Connection) -> None: ...

    def _close_now(self, conn: Connection) -> None: ...

    def _cancel_timer(self, conn: Connection) -> None: ...

    def _over_limit(self, ip: str) -> o.Refused | None: ...

    def _limit_key(self, ip: str) -> str: ...

    def process_leaving(self) -> None: ...

    # The context: made at start, remade by a reload.

    def init_tls(self, config: Config) -> None:
        self.tls_context: ssl.SSLContext | None = None
        if not (config.tls_cert and config.tls_key):  # the listeners may be systemd's
            return
        # check_start loaded this pair already: a failure here is a file changed since,
        # seen by a worker (re)started later.  It must not crash it, over and over.
        try:
            self.tls_context = tls.server_context(config.tls_cert, config.tls_key)
        except tls.TlsConfigError as exc:
            log.error("TLS clients are refused until a reload loads a pair: %s", exc)

    def reload_tls(self, config: Config) -> None:
        """A renewed certificate for new connections; a bad pair is logged and the one in
        use stays.  Connections already made keep the context they were made with."""
        if not (config.tls_cert and config.tls_key):
            return
        try:
            context = tls.server_context(config.tls_cert, config.tls_key)
        except tls.TlsConfigError as exc:
            kept = "kept" if self.tls_context is not None else "still missing"
            log.error("reload: TLS certificate %s: %s", kept, exc)
            return
        self.tls_context = context
        log.info("reload: TLS certificate loaded from %s", config.tls_cert)

    # Accepting.

    def adopt_tls(self, sock: socket.socket, ip: str, front: FrontEnd) -> Connection | None:
        """Starts the handshake of a new TLS client, or closes it at once past a limit
        (before a handshake there is no way to tell it why in words it can read)."""
        limit = self.tls_context is not None and self._over_limit(ip)
        if self.tls_context is None or limit:
            if limit:
                log.info("refused a TLS client from %s: %s", ip, limit.code)
            sock.close()
            return None
        tune_client_socket(sock)
        stream = tls.TlsStream(sock, self.tls_context)
        conn = TlsConnection(stream, ip, *self._connection_args(front, True))
        conn.sock.on_blocked = lambda: self._update_events(conn)
        self.clients[conn.fd] = conn
        timeout = self.config.tls_handshake_timeout
        # Not in the chat yet, like a client still registering: counted with them.
        self.pending.add(conn, self._limit_key(ip), self.loop.clock() + timeout)
        conn.events = READ
        self.loop.register(conn.sock, READ, conn)  # type: ignore[arg-type]
        conn.timer = self.loop.call_later(timeout, lambda: self._handshake_timeout(conn))
        return conn

    def tls_events(self, conn: TlsConnection, reading: bool) -> int:
        """The events a TLS client waits for; bytes already inside its stream are read
        next pass when reading (re)starts, as no socket event will announce them."""
        if reading and not conn.again and conn.tls.handshake_done and conn.unread():
            self._read_soon(conn)
        return conn.wanted(reading)

    # Events.

    def on_tls_ready(self, conn: Connection, mask: int) -> None:
        """Whatever the event, the operation that waits: the handshake, then a write if
        anything waits to go out (its own queue or the stream's ciphertext), then a read."""
        assert isinstance(conn, TlsConnection)
        if conn.handshaking:
            self._handshake(conn)
        else:
            if conn.out_size or conn.tls.wants & WRITE or conn.reason is not None:
                self._writable(conn)
            if conn.reading and conn.reason is None and self.clients.get(conn.fd) is conn:
                self._tls_read(conn)
        if self.leaving:
            self.process_leaving()

    def _tls_read(self, conn: TlsConnection) -> None:
        self._readable(conn)
        if self.clients.get(conn.fd) is not conn:
            return
        self._update_events(conn)  # a read may have left ciphertext to write (a ticket)
        self._read_soon(conn)

    def _read_soon(self, conn: TlsConnection) -> None:
        """Decrypted bytes (or the peer's close) no socket event will announce: read them
        next pass, not now, so one client's backlog cannot keep the loop from the others."""
        if conn.again or not conn.unread() or not conn.reading or conn.reason is not None:
            return
        conn.again = True

        def again() -> None:
            conn.again = False
            if self.clients.get(conn.fd) is conn and conn.reading and conn.reason is None:
                self._tls_read(conn)
                if self.leaving:
                    self.process_leaving()

        self.loop.call_later(0, again)

    # The handshake.

    def _handshake(self, conn: TlsConnection) -> None:
        try:
            conn.tls.handshake_step()
        except tls.TlsError as exc:
            self._handshake_failed(conn, exc.reason)
            return
        if conn.handshaking:
            self._update_events(conn)
        else:
            self._established(conn)

    def _established(self, conn: TlsConnection) -> None:
        self._handshake_over(conn)
        log.debug("TLS %s with %s", conn.tls.version(), conn.ip)
        self._start(conn)
        self._update_events(conn)
        if self.clients.get(conn.fd) is conn and conn.reason is None:
            self._tls_read(conn)  # the first lines may have come with the handshake

    def _handshake_failed(self, conn: TlsConnection, reason: str) -> None:
        log.info("TLS handshake with %s failed: %s", conn.ip, reason)
        self._drop_handshake(conn)

    def _handshake_timeout(self, conn: TlsConnection) -> None:
        conn.timer = None
        if conn.handshaking and self.clients.get(conn.fd) is conn:
            timeout = self.config.tls_handshake_timeout
            log.info("TLS handshake with %s failed: not done in %g s", conn.ip, timeout)
            self._drop_handshake(conn)

    def _drop_handshake(self, conn: TlsConnection) -> None:
        """Not in the chat yet: nothing to tell anyone, nothing to write."""
        self._handshake_over(conn)
        conn.sock.abrupt = True
        conn.reason = HANDSHAKE_FAILED
        self._close_now(conn)

    def _handshake_over(self, conn: TlsConnection) -> None:
        self._cancel_timer(conn)
        self.pending.discard(conn)

    def end_handshakes(self) -> None:
        """Shutting down: clients still in their handshake just go."""
        for conn in list(self.clients.values()):
            if isinstance(conn, TlsConnection) and conn.handshaking:
                self._drop_handshake(conn)
