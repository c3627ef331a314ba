"""One non-blocking Redis connection that lives in a selectors loop it does not own.

The client asks its host (``chatd.loop.Loop`` is one) for four things: ``register``,
``modify`` and ``unregister`` its socket, ``call_later(delay, fn)`` for its timers (a
handle with ``cancel()``), and ``clock()``.  The host calls ``tick()`` once per loop turn
(``loop.on_tick(client.tick)``): every command queued during the turn leaves in one write.

* ``call(*args, callback=fn)`` queues a command; replies come back in order, to
  ``fn(reply)``.  A reply is bytes, int, None or a list; an error is an Exception
  instance passed as the reply: ``hiredis.ReplyError`` from Redis, ``ConnectionLost``
  when the connection dropped before the reply came.  A ConnectionLost command may or may
  not have been applied: the caller decides whether to send it again (XADD with an id of
  its own, or SET NX, make a retry harmless).
* Commands queued while Redis is away wait, and leave after the next AUTH and SELECT.
  ``call`` returns False once more than ``max_pending`` bytes wait: the command is still
  queued, and the caller should stop reading its own clients until ``on_drain``.
* Reconnection: 0.1 s doubling to 5 s, +-20 % jitter, reset once AUTH and SELECT have
  succeeded; ``on_state(True/False)`` when the connection becomes usable or stops being.
  ``last_error`` says why the last attempt failed (a refused AUTH keeps retrying).
* A command without a reply for ``timeout`` seconds (plus its own BLOCK time) drops the
  connection, as a stopped or partitioned Redis would otherwise hold it forever.
* Replies are parsed by hiredis's ``Reader``, which has no size cap of its own:
  ``max_reply`` bounds the bytes it buffers for one unfinished reply (an XREAD's COUNT
  is what bounds its number of entries).
* ``rediss://`` runs TLS through ``chatd.tls.TlsStream``, the server verified against
  the system's CAs or the ``tls_context`` given (``chatd.tls.client_context(cafile)``).
* A blocking command (XREAD BLOCK) holds its connection until it returns, so a cluster
  node uses two clients, both in the one loop: ``reader`` sends nothing but
  ``xread({stream: last_id}, on_entries, block_ms=1000, count=500)`` again from each
  reply's callback; ``writer`` carries XADD, leases and the rest, never waiting behind it.

Host names are resolved by ``getaddrinfo`` once, in ``start()`` (that may block on DNS;
an IP address or a unix socket never does); reconnections reuse the addresses.
Pub/sub and RESP3 pushes are not supported: every reply must answer a command.
"""

from __future__ import annotations

import collections
import errno
import os
import socket
import ssl
from collections.abc import Callable
from typing import Any

import hiredis

from chatd.rediscommands import Arg, Callback, Commands, ConnectionLost, encode
from chatd.redisdial import (
    EVENT_READ,
    EVENT_WRITE,
    Backoff,
    Handle,
    Host,
    Plain,
    reason_of,
    resolve,
)
from chatd.redisurl import RedisTarget
from chatd.tls import TlsError, TlsStream, client_context

READ_SIZE = 65536
READ_BUDGET = 1 << 20  # bytes read per event, so one busy connection cannot hold the loop
_INCOMPLETE = object()  # what the Reader returns for "no whole reply yet"


class RedisClient(Commands):
    """One connection; see the module's doc.  ``start()`` connects, ``close()`` ends it."""

    def __init__(
        self,
        target: RedisTarget,
        host: Host,
        *,
        on_state: Callable[[bool], None] | None = None,
        on_drain: Callable[[], None] | None = None,
        log: Callable[[str], None] | None = None,
        max_pending: int = 8 << 20,
        max_reply: int = 64 << 20,
        timeout: float = 10.0,
        backoff: Backoff | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.target, self.host = target, host
        self.on_state, self.on_drain, self.log = on_state, on_drain, log
        self.max_pending, self.max_reply, self.timeout = max_pending, max_reply, timeout
        self.backoff = backoff or Backoff()
        self.tls_context = tls_context
        self.sock: socket.socket | None = None
        self.up = False
        self.last_error: str | None = None
        self._stream: Plain | TlsStream | None = None
        self._connecting = False
        self._registered: tuple[socket.socket, int] | None = None
        self._addresses: list[tuple[int, Any]] = []
        self._connect_deadline = 0.0
        self._attempt = 0
        self._queued: collections.deque[tuple[bytes, Callback | None, float]] = collections.deque()
        self._queued_bytes = 0
        self._out = bytearray()
        self._inflight: collections.deque[tuple[Callback | None, float]] = collections.deque()
        self._hello: list[tuple[str, ...]] = []
        self._reader: Any = None
        self._retry: Handle | None = None
        self._watchdog: Handle | None = None
        self._over = False
        self._closed = False

    # The caller's side.

    def start(self) -> None:
        """Resolves the address (see the module's doc) and makes the first attempt."""
        self._addresses = resolve(self.target)
        self._connect()

    def call(self, *args: Arg, callback: Callback | None = None, block: float = 0.0) -> bool:
        """Queues one command; False when over max_pending (it is queued all the same).

        block: seconds the command may legitimately wait in Redis (BLOCK), on top of timeout.
        """
        if self._closed:
            raise ConnectionLost("the Redis client is closed")
        data = encode(*args)
        self._queued.append((data, callback, block))
        self._queued_bytes += len(data)
        if self.pending_bytes() > self.max_pending:
            self._over = True
        return not self._over

    def pending_bytes(self) -> int:
        """Bytes of commands not yet written to the socket."""
        return self._queued_bytes + len(self._out)

    @property
    def over_limit(self) -> bool:
        return self._over

    def tick(self) -> None:
        """Once per loop turn: writes what the turn queued, then re-arms the selector."""
        if self.up and self._queued:
            self._move_queued()
        if self._out and self._stream is not None and self._stream.handshake_done:
            self._guarded(self._write)
        self._check_drain()
        self._sync()

    flush = tick

    def close(self) -> None:
        """Drops the connection for good; every waiting callback gets ConnectionLost."""
        if self._closed:
            return
        self._drop("the Redis client was closed", retry=False)
        self._closed = True
        lost = ConnectionLost("the Redis client was closed")
        while self._queued:
            _, callback, _ = self._queued.popleft()
            _deliver(callback, lost)
        self._queued_bytes = 0

    # The loop's side.

    @property
    def wants(self) -> int:
        """READ whenever connected; WRITE while connecting or while output waits."""
        if self.sock is None:
            return 0
        if self._connecting:
            return EVENT_WRITE
        stream = self._stream
        assert stream is not None
        return EVENT_READ | stream.wants | (EVENT_WRITE if self._out else 0)

    def on_ready(self, mask: int) -> None:
        self._guarded(lambda: self._ready(mask))
        self._check_drain()
        self._sync()

    def _ready(self, mask: int) -> None:
        if self.sock is None:
            return  # an event reported before a drop in the same turn: stale
        if self._connecting:
            self._connected()
        elif self._stream is not None and not self._stream.handshake_done:
            self._handshake()
        else:
            if mask & EVENT_READ:
                self._read()
            if self._stream is not None and (mask & EVENT_WRITE or self._stream.wants):
                self._write()

    def _guarded(self, step: Callable[[], None]) -> None:
        """Runs one I/O step; a socket, TLS or protocol failure drops the connection."""
        try:
            step()
        except (OSError, TlsError) as exc:
            self._drop(reason_of(exc))
        except hiredis.ProtocolError as exc:
            self._drop(f"unreadable reply from Redis ({exc})")

    # Connecting.

    def _connect(self) -> None:
        self._retry = None
        if self._closed:
            return
        family, address = self._addresses[self._attempt % len(self._addresses)]
        self._attempt += 1
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError as exc:  # out of descriptors: try again later, like any failure
            self._drop(f"cannot make a socket: {reason_of(exc)}")
            return
        sock.setblocking(False)
        self.sock, self._connecting = sock, True
        self._connect_deadline = self.host.clock() + self.timeout
        # A unix socket's EAGAIN means its backlog is full, not that the connect goes on.
        err = sock.connect_ex(address)
        if err in (0, errno.EINPROGRESS):
            self._arm_watchdog()  # a connect or TLS handshake that hangs times out too
            self._sync()
        else:
            self._drop(f"cannot connect: {reason_of(OSError(err, os.strerror(err)))}")

    def _connected(self) -> None:
        assert self.sock is not None
        err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise OSError(err, os.strerror(err))
        self._connecting = False
        if self.target.tls:
            context = self.tls_context or client_context()
            self._stream = TlsStream(
                self.sock, context, server_side=False, server_hostname=self.target.host
            )
            self._handshake()
        else:
            self._stream = Plain(self.sock)
            self._send_hello()

    def _handshake(self) -> None:
        assert isinstance(self._stream, TlsStream)
        self._stream.handshake_step()
        if self._stream.handshake_done:  # its last flight may still wait: wants carries it
            self._send_hello()

    def _send_hello(self) -> None:
        """AUTH and SELECT go first; the caller's commands wait for their replies."""
        self._reader = hiredis.Reader(notEnoughData=_INCOMPLETE)
        self._hello = list(self.target.hello_commands())
        if not self._hello:
            self._came_up()
            return
        for command in self._hello:
            self._out += encode(*command)
            self._inflight.append((self._hello_reply, self.host.clock() + self.timeout))
        self._write()

    def _hello_reply(self, reply: Any) -> None:
        if isinstance(reply, ConnectionLost):
            return
        command = self._hello.pop(0)
        if isinstance(reply, Exception):
            self._drop(f"{command[0]} refused: {reply}")
            return
        if not self._hello:
            self._came_up()

    def _came_up(self) -> None:
        self.backoff.reset()
        self.last_error = None
        self.up = True
        self._move_queued()
        if self.on_state is not None:
            self.on_state(True)

    # Reading and writing.

    def _read(self) -> None:
        stream, reader = self._stream, self._reader
        assert stream is not None
        budget = READ_BUDGET
        # TLS holds bytes no socket event announces: it is read until it has none left.
        while self._stream is stream and (budget > 0 or stream.pending()):
            data = stream.recv(READ_SIZE)
            if data is None:
                return
            if not data:
                self._drop("Redis closed the connection")
                return
            budget -= len(data)
            reader.feed(data)
            self._dispatch(reader)
            if self._reader is reader and reader.len() > self.max_reply:
                self._drop(f"a reply over {self.max_reply} bytes (max_reply)")

    def _dispatch(self, reader: Any) -> None:
        while self._reader is reader:
            reply = reader.gets()
            if reply is _INCOMPLETE:
                return
            if not self._inflight:
                self._drop("Redis sent a reply to no command")
                return
            callback, _ = self._inflight.popleft()
            _deliver(callback, reply)

    def _move_queued(self) -> None:
        """Queued commands become in flight: their bytes go to the output buffer."""
        now = self.host.clock()
        while self._queued:
            data, callback, block = self._queued.popleft()
            self._out += data
            self._inflight.append((callback, now + self.timeout + block))
        self._queued_bytes = 0
        self._arm_watchdog()

    def _write(self) -> None:
        stream = self._stream
        assert stream is not None
        if stream.flush() and self._out:
            sent = stream.send(self._out)
            del self._out[:sent]

    def _check_drain(self) -> None:
        if self._over and self.pending_bytes() <= self.max_pending // 2:
            self._over = False
            if self.on_drain is not None:
                self.on_drain()

    # Timeouts and dropping.

    def _deadline(self) -> float | None:
        """When the connection counts as dead if nothing comes: the oldest command's."""
        if self.sock is None:
            return None
        if self._connecting or self._stream is None or not self._stream.handshake_done:
            return self._connect_deadline
        return self._inflight[0][1] if self._inflight else None

    def _arm_watchdog(self) -> None:
        deadline = self._deadline()
        if self._watchdog is None and deadline is not None:
            delay = max(0.0, deadline - self.host.clock())
            self._watchdog = self.host.call_later(delay, self._watch)

    def _watch(self) -> None:
        """One timer at a time, not one per command: it looks at the oldest one only."""
        self._watchdog = None
        deadline = self._deadline()
        if deadline is not None and deadline <= self.host.clock():
            self._drop(f"no answer from Redis in {self.timeout:g} s")
        self._arm_watchdog()
        self._sync()

    def _drop(self, reason: str, retry: bool = True) -> None:
        """Closes the socket, fails the commands in flight, and schedules the next try."""
        was_up = self.up
        self.up, self._connecting, self._reader = False, False, None
        self.last_error = reason
        if self._registered is not None:
            self.host.unregister(self._registered[0])
            self._registered = None
        if self.sock is not None:
            self.sock.close()
        self.sock, self._stream = None, None
        self._out.clear()
        for handle in (self._watchdog, self._retry):
            if handle is not None:
                handle.cancel()
        self._watchdog = self._retry = None
        lost = ConnectionLost(f"{self.target.describe()}: {reason}")
        inflight, self._inflight = self._inflight, collections.deque()
        self._hello = []
        for callback, _ in inflight:
            _deliver(callback, lost)
        if retry and not self._closed:
            delay = self.backoff.next()
            self._retry = self.host.call_later(delay, self._connect)
            if self.log is not None:
                self.log(f"redis {self.target.describe()}: {reason}; retrying in {delay:.2f} s")
        if was_up and self.on_state is not None:
            self.on_state(False)

    def _sync(self) -> None:
        """Keeps the host's selector registered for exactly what wants says."""
        sock, wants = self.sock, self.wants
        current = self._registered
        if sock is None or not wants:
            if current is not None:
                self.host.unregister(current[0])
                self._registered = None
            return
        if current is None:
            self.host.register(sock, wants, self.on_ready)
        elif current != (sock, wants):
            self.host.modify(sock, wants, self.on_ready)
        self._registered = (sock, wants)


def _deliver(callback: Callback | None, reply: Any) -> None:
    if callback is not None:
        callback(reply)
