"""TLS for one non-blocking socket inside a single-threaded selectors loop.

The stream runs OpenSSL over two memory BIOs and moves the bytes between them and the
socket itself, rather than wrapping the socket: then nothing OpenSSL does can read the
socket behind the caller's back, every byte held is one the stream can count, and a
close_notify can be sent while the peer's data is still arriving (an ``SSLSocket`` fails
that race with APPLICATION_DATA_AFTER_CLOSE_NOTIFY when the data is already in the socket).

How a caller drives a ``TlsStream`` (the server does it per client; the tests do it too):

* Register the socket for ``stream.wants`` plus what the caller itself wants: EVENT_READ
  while it reads input, EVENT_WRITE while its own plaintext queue is not empty and
  ``stream.handshake_done``.  Re-arm after every step: ``wants`` changes with each call.
* On ANY event call the operation that is waiting, whichever event came: until
  ``handshake_done``, ``handshake_step()``; after it ``recv()`` if reading and ``send()``
  if the queue is not empty (or ``flush()`` when it is, if ``wants`` has EVENT_WRITE).
  A read may need a write (a TLS 1.3 ticket or key update) and a write may need a read
  (the handshake); the stream handles both: ciphertext it could not write waits inside
  it and sets EVENT_WRITE in ``wants``.
* ``recv(n)`` returns bytes, ``b""`` once the peer closed (``closed_by`` says how), or
  ``None`` when nothing more can come without the socket.  Call it until ``None`` or
  ``b""``; a caller that stops earlier (a budget, flood control) must come back without
  waiting for the selector while ``pending()`` is non-zero, since those bytes are inside
  the stream and no socket event will announce them.  After ``None``, ``pending()`` is 0.
* ``send(data)`` takes plaintext from the head of the caller's queue and returns how much
  it took (the caller deletes that much), or 0 when the socket is full.  Taken means
  encrypted: the caller's queue stays plaintext only, and the stream holds at most one
  batch of ciphertext (about ``SEND_BATCH`` bytes) on top of it; ssl's rule that a blocked
  write be retried with the same buffer does not apply here.
* ``close_notify()`` queues the alert and flushes it; it returns "done" once it is on the
  wire, "want_write" while it waits for the socket (call again on EVENT_WRITE, within the
  caller's grace period).  ``recv()`` still works afterwards, which is how a client
  half-closes: it reads the rest until the peer's close_notify (``b""``).
"""

from __future__ import annotations

import enum
import re
import selectors
import socket
import ssl
import time

RAW_READ = 65536  # ciphertext read from the socket at a time, only when OpenSSL needs more
SEND_BATCH = 65536  # plaintext encrypted per send() call before the socket is tried
EVENT_READ = selectors.EVENT_READ
EVENT_WRITE = selectors.EVENT_WRITE


class Step(enum.Enum):
    DONE = "done"
    WANT_READ = "want_read"
    WANT_WRITE = "want_write"


class TlsError(Exception):
    """A TLS failure on one connection; ``reason`` is short enough for one log line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TlsConfigError(Exception):
    """A certificate or key that cannot be used: ``key`` is the setting, ``path`` the file."""

    def __init__(self, key: str, path: str, problem: str) -> None:
        super().__init__(f"{key} {path}: {problem}")
        self.key, self.path, self.problem = key, path, problem


def describe(exc: ssl.SSLError) -> str:
    """One line for an ssl error: 'certificate verify failed: hostname mismatch, ...'."""
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        message = exc.verify_message.rstrip(".")
        if message[1:2].islower():  # 'Hostname mismatch' reads on after a colon; 'IP' stays
            message = message[:1].lower() + message[1:]
        return f"certificate verify failed: {message}"
    if exc.reason:
        return str(exc.reason).lower().replace("_", " ")
    # No reason code: '[SSL] PEM lib (_ssl.c:3926)' says 'PEM lib' and where in C.
    return re.sub(r"^\[\w+\] | \(_ssl\.c:\d+\)$", "", str(exc.args[-1] if exc.args else exc))


# Contexts.


def server_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """The server's context: ssl's server defaults, TLS 1.2 at least, no compression,
    no renegotiation.  The cert file may hold the chain after the certificate."""
    _check_pem("tls_cert", cert_file, ("CERTIFICATE",))
    _check_pem("tls_key", key_file, ("PRIVATE KEY",))
    _check_certificates(cert_file)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    try:
        # A password callback, so an encrypted key fails here and never prompts.
        context.load_cert_chain(cert_file, key_file, password=lambda: b"")
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            problem = f"the key does not match the certificate in {cert_file}"
        else:  # the certificates passed on their own: the key is what fails
            problem = f"not a usable private key ({describe(exc)})"
        raise TlsConfigError("tls_key", key_file, problem) from None
    return context


def reload_context(
    current: ssl.SSLContext, cert_file: str, key_file: str
) -> tuple[ssl.SSLContext, TlsConfigError | None]:
    """A new context for new connections, or the current one and why not.

    Streams already made keep the context they were made with, whatever happens here.
    """
    try:
        return server_context(cert_file, key_file), None
    except TlsConfigError as exc:
        return current, exc


def client_context(cafile: str | None = None, insecure: bool = False) -> ssl.SSLContext:
    """The client's: the system CAs, or only ``cafile``'s; ``insecure`` verifies nothing."""
    if cafile is not None:
        _check_pem("--cafile", cafile, ("CERTIFICATE",))
    try:
        context = ssl.create_default_context(cafile=cafile)
    except ssl.SSLError as exc:
        raise TlsConfigError("--cafile", str(cafile), describe(exc)) from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def client_handshake(
    sock: socket.socket, context: ssl.SSLContext, host: str, timeout: float = 10.0
) -> TlsStream:
    """A client's handshake, waiting at most timeout seconds; TlsError if it fails.

    The socket is left non-blocking, for a selectors loop to drive the stream.
    """
    sock.setblocking(False)
    stream = TlsStream(sock, context, server_side=False, server_hostname=host)
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(sock, EVENT_READ)
        while stream.handshake_step() is not Step.DONE:
            sel.modify(sock, stream.wants)
            if not sel.select(max(0.0, deadline - time.monotonic())):
                raise TlsError(f"the handshake took over {timeout:g} s")
    return stream


def _check_certificates(cert_file: str) -> None:
    """Parses the certificates alone, so a broken one is not blamed on the key."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_verify_locations(cafile=cert_file)
    except ssl.SSLError as exc:
        problem = f"not a usable PEM certificate ({describe(exc)})"
        raise TlsConfigError("tls_cert", cert_file, problem) from None


def _check_pem(key: str, path: str, kinds: tuple[str, ...]) -> None:
    """Names what is wrong with the file in words, before OpenSSL's codes would."""
    try:
        with open(path, "rb") as f:
            text = f.read(1 << 20)
    except FileNotFoundError:
        raise TlsConfigError(key, path, "no such file") from None
    except IsADirectoryError:
        raise TlsConfigError(key, path, "is a directory, not a PEM file") from None
    except OSError as exc:
        raise TlsConfigError(key, path, f"cannot read it: {exc.strerror}") from None
    wanted = " or ".join(kinds)
    if not any(f"-----BEGIN {k}".encode() in text or f" {k}-----".encode() in text for k in kinds):
        raise TlsConfigError(key, path, f"not PEM: no '-----BEGIN ...{wanted}-----' block")
    if b"ENCRYPTED" in text and "PRIVATE KEY" in kinds:
        raise TlsConfigError(key, path, "the key is encrypted; chatd needs it without a passphrase")


# The stream.


class TlsStream:
    """TLS over one non-blocking socket; see the module's doc for how to drive it."""

    def __init__(
        self,
        sock: socket.socket,
        context: ssl.SSLContext,
        *,
        server_side: bool = True,
        server_hostname: str | None = None,
    ) -> None:
        self.sock = sock
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._tls = context.wrap_bio(
            self._in, self._out, server_side=server_side, server_hostname=server_hostname
        )
        self._unsent = bytearray()  # ciphertext the socket did not take yet
        self._held = bytearray()  # plaintext decrypted by close_notify() before the alert
        self._starved = False  # the last read found no whole record and the socket empty
        self._raw_eof = False
        self._closing = False
        self.handshake_done = False
        self.closed_by: str | None = None  # "close_notify", "eof" (without it), "reset"

    def fileno(self) -> int:
        return self.sock.fileno()

    @property
    def wants(self) -> int:
        """The selector events the TLS layer itself needs next (the caller adds its own)."""
        if self._unsent or self._out.pending:
            return EVENT_WRITE  # the handshake reads only once its own output is out
        return EVENT_READ if not self.handshake_done and not self._raw_eof else 0

    def pending(self) -> int:
        """Bytes inside the stream that a recv() may turn into data without the socket."""
        buffered = len(self._held) + self._tls.pending()
        return buffered if self._starved else buffered + self._in.pending

    def peer_certificate(self) -> dict | None:
        return self._tls.getpeercert()

    def version(self) -> str | None:
        return self._tls.version()

    # The handshake.

    def handshake_step(self) -> Step:
        """Advances the handshake as far as the socket allows; TlsError when it fails.

        WANT_WRITE can come with ``handshake_done`` already true (its last flight, or a
        TLS 1.3 ticket, waits for the socket): from then on ``wants`` and flush() carry it.
        """
        while not self.handshake_done:
            try:
                self._tls.do_handshake()
                self.handshake_done = True
            except ssl.SSLWantReadError:
                if not self._flush_quietly():
                    return Step.WANT_WRITE
                if self._raw_eof:
                    raise TlsError("closed during the handshake") from None
                if not self._fill():
                    return Step.WANT_READ
            except ssl.SSLEOFError:
                raise TlsError("closed during the handshake") from None
            except ssl.SSLError as exc:
                self._flush_quietly()  # the alert that tells the peer why, if it still listens
                raise TlsError(describe(exc)) from None
        return Step.DONE if self._flush_quietly() else Step.WANT_WRITE

    # Reading.

    def recv(self, n: int) -> bytes | None:
        """Up to n bytes; b"" when the peer closed; None when it would block."""
        if self._held:
            data = bytes(self._held[:n])
            del self._held[:n]
            return data
        if self.closed_by is not None:
            return b""
        while True:
            try:
                data = self._tls.read(n)
            except ssl.SSLWantReadError:
                if self._raw_eof:
                    return self._closed("eof")
                if not self._fill():
                    self._starved = True
                    return None
                continue
            except ssl.SSLZeroReturnError:
                return self._closed("close_notify")
            except ssl.SSLEOFError:
                return self._closed("eof")
            except ssl.SSLError as exc:
                raise TlsError(describe(exc)) from None
            finally:
                self._flush_quietly()  # what OpenSSL wrote while reading (tickets, key updates)
            return data if data else self._closed("close_notify")

    def _closed(self, how: str) -> bytes:
        if self.closed_by is None:
            self.closed_by = how
        return b""

    def _fill(self) -> bool:
        """One read of ciphertext from the socket into OpenSSL; False if it would block."""
        try:
            raw = self.sock.recv(RAW_READ)
        except (BlockingIOError, InterruptedError):
            return False
        except ConnectionError:
            self.closed_by = self.closed_by or "reset"
            raw = b""
        self._starved = False
        if raw:
            self._in.write(raw)
        else:
            self._raw_eof = True
            self._in.write_eof()
        return True

    # Writing.

    def send(self, data: bytes | bytearray | memoryview) -> int:
        """Encrypts from the head of data as far as the socket takes it; the count taken.

        0 means the socket is full (or the handshake is not done): wait for EVENT_WRITE.
        A closed or reset peer raises OSError as a plain socket's send would.
        """
        if not self.handshake_done or self._closing:
            return 0
        taken = 0
        with memoryview(data) as view:
            while taken < len(view) and self.flush():
                batch = view[taken : taken + SEND_BATCH]
                try:
                    self._tls.write(batch)
                except ssl.SSLError as exc:
                    raise TlsError(describe(exc)) from None
                taken += len(batch)
        self.flush()
        return taken

    def flush(self) -> bool:
        """Writes ciphertext waiting inside the stream; True when none is left."""
        if self._out.pending:
            self._unsent += self._out.read()
        while self._unsent:
            try:
                sent = self.sock.send(self._unsent)
            except (BlockingIOError, InterruptedError):
                return False
            del self._unsent[:sent]
        return True

    def _flush_quietly(self) -> bool:
        """flush() where a dead socket is for the next read or send to report."""
        try:
            return self.flush()
        except OSError:
            self._unsent.clear()
            return True

    # Closing.

    def close_notify(self) -> Step:
        """Sends the close_notify alert; DONE once it is written, WANT_WRITE until then."""
        if not self._closing:
            self._closing = True
            self._decrypt_held()
            try:
                self._tls.unwrap()
            except ssl.SSLWantReadError:
                pass  # ours is queued; the peer's may come later, through recv()
            except ssl.SSLError:
                return Step.DONE  # no session to close (the handshake never finished)
        try:
            return Step.DONE if self.flush() else Step.WANT_WRITE
        except OSError:
            return Step.DONE  # the peer is gone: nothing left to tell it

    def _decrypt_held(self) -> None:
        """Records already read must be decrypted before the alert is sent: OpenSSL fails
        application data it meets while it waits for the peer's close_notify."""
        while True:
            try:
                data = self._tls.read(RAW_READ)
            except ssl.SSLError:
                return
            if not data:
                return
            self._held += data

    def close(self) -> None:
        self.sock.close()
