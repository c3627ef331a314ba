"""The listening sockets: accepted connections are handed to the server.

Accepts come in batches, so a connection storm cannot starve the chat, and running out
of file descriptors pauses accepting for a while instead of spinning on a listener that
stays readable.
"""

from __future__ import annotations

import errno
import logging
import selectors
import socket
from collections.abc import Callable

from .loop import Loop
from .peeraddr import normal
from .sockets import protocol_of, tls_of

log = logging.getLogger("chatd.server")

ACCEPT_BATCH = 128  # accepts per readiness event
ACCEPT_PAUSE = 0.5  # seconds without accepting after EMFILE/ENFILE
FD_ERRORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


class Acceptor:
    def __init__(
        self,
        loop: Loop,
        adopt: Callable[..., object],  # (sock, ip, protocol, tls)
        clients: Callable[[], int],
    ) -> None:
        self.loop = loop
        self.adopt = adopt
        self.clients = clients  # for the log line when out of descriptors
        self.listeners: list[socket.socket] = []

    def replace(self, listeners: list[socket.socket]) -> None:
        """Closes the current listeners and polls the new ones (none: stop accepting)."""
        for old in self.listeners:
            self.loop.unregister(old)
            old.close()
        self.listeners = list(listeners)
        for listener in self.listeners:
            self._poll(listener)

    def _poll(self, listener: socket.socket) -> None:
        self.loop.register(listener, selectors.EVENT_READ, lambda mask: self._accept(listener))

    def _accept(self, listener: socket.socket) -> None:
        protocol, tls = protocol_of(listener), tls_of(listener)
        for _ in range(ACCEPT_BATCH):
            try:
                sock, addr = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in FD_ERRORS:
                    self._pause(listener, exc)
                    return
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO):
                    continue
                raise
            # normal: a "::" listener's IPv4 clients come as ::ffff:a.b.c.d
            ip = normal(addr[0]) if isinstance(addr, tuple) else "local"
            self.adopt(sock, ip, protocol, tls)

    def _pause(self, listener: socket.socket, exc: OSError) -> None:
        """Out of descriptors: stop polling the listener for a while instead of spinning."""
        log.warning(
            "cannot accept: %s (%d clients); pausing accepts for %.1fs",
            exc.strerror,
            self.clients(),
            ACCEPT_PAUSE,
        )
        self.loop.unregister(listener)

        def resume() -> None:
            if listener in self.listeners:  # not replaced (or closed by a shutdown) since
                self._poll(listener)

        self.loop.call_later(ACCEPT_PAUSE, resume)
