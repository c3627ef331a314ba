"""Socket set-up: the listening socket, the options every client socket gets, and a bus read."""

from __future__ import annotations

import socket


def open_listener(bind: str, port: int, reuse_port: bool = False) -> socket.socket:
    """A non-blocking listening TCP socket; '::' listens on IPv4 too.

    reuse_port: one such socket per worker on the same port, and the kernel spreads the
    connections among them (only with several workers: two chatds must not share a port
    by accident)."""
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((bind, port))
        sock.listen(socket.SOMAXCONN)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def tune_client_socket(sock: socket.socket) -> None:
    sock.setblocking(False)
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Keepalive finds half-open peers (a host that vanished) in about two minutes.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 6)


def describe(sock: socket.socket) -> str:
    """host:port of a listening socket, for the logs and sd_notify's STATUS."""
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def recv_ready(sock: socket.socket, size: int = 1 << 20) -> bytes | None:
    """One read from a bus socket: None if nothing is there yet; b"" once the other end
    is gone (end of stream or an error), as either end only needs to know that."""
    try:
        return sock.recv(size)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b""
