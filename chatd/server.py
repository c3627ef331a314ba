"""One server process: accepts clients, enforces limits, and wires the loop to the chat.

The loop only moves bytes: each line becomes an intent at the edge (the connection's
front-end), the bus puts the intents in order, the chat turns each into outcomes, and
delivery hands the bytes to send back to the connections.  Clients that must leave are
queued and dealt with after the current event (never in the middle of a broadcast), then
every client with pending output is flushed, once per loop tick.

The input half (flood control, items to intents, runs of chat lines) is intake.py; the
output half (the end-of-tick flush) is writer.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import selectors
import socket

from . import __version__, logs, reload, watch
from .acceptor import Acceptor
from .admission import Pending
from .bus import Bus, LocalBus
from .config import Config
from .connection import CLOSED, SHUTDOWN, Connection
from .core import intents as i
from .core import outcomes as o
from .core.chat import REPLICATED, Chat, CoreSettings
from .delivery import Delivery, Session
from .intake import Intake
from .linedoor import LineDoor
from .loop import Loop, Timer
from .peeraddr import limit_key
from .proto.irc import IrcFront, IrcSettings
from .proto.ircwire import IrcFramer, IrcRunFramer
from .proto.line import LineFront, LineSettings
from .protocol import LineParser, LineRunParser
from .sockets import protocol_of, tune_client_socket
from .tlsconn import TlsConnection
from .tlsserve import TlsServing
from .writer import Writer

log = logging.getLogger("chatd.server")

READ = selectors.EVENT_READ
WRITE = selectors.EVENT_WRITE
LINGER = 5.0  # seconds a leaving client has to take its last lines


_DISCONNECT, _SETTINGS = i.Disconnect, i.Settings  # looked at for every intent


def chat_settings(config: Config) -> CoreSettings:
    return CoreSettings(
        max_clients=config.max_clients,
        max_clients_per_ip=config.max_clients_per_ip,
        ipv6_prefix_length=config.ipv6_prefix_length,
        default_room=config.default_room,
    )


def line_settings(config: Config) -> LineSettings:
    return LineSettings(
        server_name=config.server_name,
        motd=config.motd,
        version=__version__,
        password=bool(config.server_password),
    )


def irc_settings(config: Config) -> IrcSettings:
    return IrcSettings(
        server_name=config.server_name,
        motd=config.motd,
        version=__version__,
        password=config.server_password or "",
    )


def watch_limits(config: Config) -> watch.Limits:
    return watch.Limits(idle=config.idle_timeout, ping=config.irc_ping_interval)


class Server(Writer, TlsServing, Intake):
    def __init__(
        self,
        config: Config,
        loop: Loop,
        listeners: list[socket.socket] = (),  # type: ignore[assignment]
        bus: Bus | None = None,
        worker: int = 0,
    ) -> None:
        self.loop = loop
        self.chat = Chat(chat_settings(config))
        self.line = LineFront(line_settings(config))
        self.irc = IrcFront(irc_settings(config), self.chat)
        self.delivery = Delivery(config.log_messages)
        self.delivery.on_welcome = self._welcomed
        self.delivery.on_refused = self._refused
        self.delivery.on_bye = self._bye
        # Bound once: apply runs for every intent, in every replica.
        self._chat_apply = self.chat.apply
        self._deliver_outcomes = self.delivery.deliver
        self.config = config
        self.max_send_buffer = config.max_send_buffer
        self.acceptor = Acceptor(loop, self.adopt, lambda: len(self.clients))
        self.clients: dict[int, Connection] = {}  # by fd
        self.worker = worker
        self.member_prefix = f"{worker}:"  # a cluster's are longer: unique cluster-wide
        self._ids = 0
        self.bus = bus if bus is not None else LocalBus()
        self.bus.deliver = self.apply
        self.pending = Pending()  # not in the chat yet: TLS handshakes, registering, /pass
        self.door = LineDoor(self.line, self.pending, self.bus.publish, self._irc_port)
        self.door.secret = config.server_password
        self.limits = watch_limits(config)
        self.leaving: list[Connection] = []  # clients to disconnect after this event
        self.lingering: set[Connection] = set()  # gone from the chat, output still flushing
        self.shutting_down = False
        self.input_paused = False  # the bus is backed up: no client is read
        self.exit_status = 0
        self._last_burst = 0.0
        self._trim_timer: Timer | None = None
        self.init_tls(config)
        loop.on_tick(self.end_of_tick)
        self.replace_listeners(list(listeners))

    # Configuration.

    def reconfigure(self, config: Config) -> None:
        """Applies a new config to this process: running clients, limits, the log file
        and level (a reload's "settings" event comes here); the listeners are the caller's.

        With several workers the settings that decide shared outcomes come as an ordered
        event from the master instead (chat.REPLICATED), so the replicas never disagree."""
        logs.use(config.log_level, config.log_file)
        settings = chat_settings(config)
        if not isinstance(self.bus, LocalBus):
            kept = {k: getattr(self.chat.settings, k) for k in REPLICATED}
            settings = dataclasses.replace(settings, **kept)
        self.chat.reconfigure(settings)
        self.line.reconfigure(line_settings(config))
        self.irc.reconfigure(irc_settings(config))
        self.delivery.log_messages = config.log_messages
        self.config = config
        self.max_send_buffer = config.max_send_buffer
        self.reload_tls(config)
        self.limits = watch_limits(config)
        self.door.secret = config.server_password
        for conn in self.clients.values():
            if conn.front is self.line:  # IRC lines are 512 bytes, whatever the config says
                conn.parser.max_line = config.max_line_bytes  # type: ignore[union-attr]
            self._rearm(conn)  # the deadlines may be nearer now

    @property
    def listeners(self) -> list[socket.socket]:
        return self.acceptor.listeners

    def replace_listeners(self, listeners: list[socket.socket]) -> None:
        self.acceptor.replace(listeners)

    # Clients.

    def adopt(
        self, sock: socket.socket, ip: str, protocol: str = "line", tls: bool = False
    ) -> Connection | None:
        """Takes a connected socket as a new client; the chat admits it or turns it away
        when the connect event is applied (limits hold across all workers).

        A line client connects at once and is greeted; an IRC client is only a session
        of the IRC front-end until it registers (NICK and USER), and then connects.  A
        TLS client does either once its handshake is done (tlsserve.py)."""
        front: LineFront | IrcFront = self.irc if protocol == "irc" else self.line
        if self.shutting_down:
            _refuse(sock, b"" if tls else front.error("server shutting down"))
            return None
        if tls:
            return self.adopt_tls(sock, ip, front)
        # Connections not in the chat yet are this process's to count; otherwise the
        # chat refuses when the connect event is applied.
        if protocol == "irc" or self.config.server_password or self.pending:
            refusal = self._over_limit(ip)
            if refusal is not None:
                log.info("refused a client from %s: %s", ip, self.line.refusal_text(refusal))
                _refuse(sock, front.refusal(refusal))
                return None
        tune_client_socket(sock)
        conn = Connection(sock, ip, *self._connection_args(front, False))
        self.clients[conn.fd] = conn
        conn.events = READ
        self.loop.register(sock, READ, conn)
        self._start(conn)
        return conn

    def _connection_args(self, front: LineFront | IrcFront, tls: bool) -> tuple:  # type: ignore[type-arg]
        """Connection's arguments after the socket and the IP."""
        self._ids += 1
        local = self.bus.__class__ is LocalBus
        return (
            self.loop.clock(),
            f"{self.member_prefix}{self._ids}",
            front,
            self.delivery,
            self.leaving,
            self.on_tls_ready if tls else self.on_ready,
            self.config.max_line_bytes,
            self.config.flood_burst,
            # In one process a run of chat lines is handed to the chat at once (intake.py).
            (IrcRunFramer if local else IrcFramer)()
            if front is self.irc
            else (LineRunParser if local else LineParser)(self.config.max_line_bytes),
        )

    def _start(self, conn: Connection) -> None:
        self.delivery.add(conn)
        irc = conn.front is self.irc
        registering = irc or bool(self.config.server_password)
        if registering:
            deadline = conn.last_active + self.config.registration_timeout
            self.pending.add(conn, self._limit_key(conn.ip), deadline)
        if irc:
            self.irc.open(conn.id, conn.ip)
        else:
            self.door.open(conn)
        if registering:
            self._arm_idle(conn)  # not welcomed yet, but its registration time runs

    def _over_limit(self, ip: str) -> o.Refused | None:
        """A connection not in the chat yet (registering, owing /pass, in its TLS
        handshake) holds a slot as well: counted here, locally (the chat counts its users
        across workers)."""
        chat = self.chat
        key = self._limit_key(ip)
        why = self.pending.refusal(
            key,
            len(chat),
            chat.per_ip.get(key, 0),
            chat.settings.max_clients,
            chat.settings.max_clients_per_ip,
        )
        return None if why is None else o.Refused("", *why)

    def _limit_key(self, ip: str) -> str:
        return limit_key(ip, self.chat.settings.ipv6_prefix_length)

    def _irc_port(self) -> int | None:
        ports = [s.getsockname()[1] for s in self.listeners if protocol_of(s) == "irc"]
        return ports[0] if ports else None

    # Events, in the bus's order: the same in every replica of the chat.

    def apply(self, intent: i.Intent) -> None:
        self._deliver_outcomes(self._chat_apply(intent))
        if intent.__class__ is _DISCONNECT:
            self.delivery.local.pop(intent.id, None)  # type: ignore[union-attr]
            self.irc.close(intent.id)  # type: ignore[union-attr]
        elif intent.__class__ is _SETTINGS:  # a reload: the chat took the shared part
            config = reload.config_of(intent)  # type: ignore[arg-type]
            if config is not None:
                self.reconfigure(config)

    # What the chat's outcomes ask of our connections (local sessions are Connections).

    def _welcomed(self, session: Session) -> None:
        self._rearm(session)  # type: ignore[arg-type]  # registered: other deadlines now

    def _bye(self, session: Session, reason: str) -> None:
        session.close(reason)  # type: ignore[attr-defined]  # our sessions are Connections

    def _refused(self, session: Session, refusal: o.Refused) -> None:
        conn: Connection = session  # type: ignore[assignment]
        if conn.reason is not None:  # with workers it may have left before this came back
            return
        log.info("refused a client from %s: %s", conn.ip, self.line.refusal_text(refusal))
        conn.reason = refusal.code
        with contextlib.suppress(OSError):
            conn.sock.send(conn.front.refusal(refusal))
        self._close_now(conn)

    # Client events.

    def on_ready(self, conn: Connection, mask: int) -> None:
        if mask & WRITE:
            self._writable(conn)
        if mask & READ and conn.reading and conn.reason is None:
            self._readable(conn)
        if self.leaving:
            self.process_leaving()

    def _readable(self, conn: Connection) -> None:
        data = conn.recv()
        if data is None:
            return
        if not data:
            conn.close(CLOSED)
            return
        now = conn.last_heard = self.loop.clock()
        if conn.front is self.line:  # an IRC user's PING and PONG are no activity
            conn.last_active = now
        conn.parser.feed(data)
        self._deliver(conn)

    def _writable(self, conn: Connection) -> None:
        if conn.flush():
            if conn in self.lingering:
                self._close_now(conn)
            else:
                self._update_events(conn)

    def pause_input(self, paused: bool) -> None:
        """The bus cannot take our events as fast as clients send them: stop reading
        every client (TCP pushes back on them; what they sent is not lost, only not read
        yet) until it drains.  Output keeps flowing."""
        self.input_paused = paused
        for conn in list(self.clients.values()):
            self._update_events(conn)

    def _update_events(self, conn: Connection) -> None:
        # Write interest only once a write left bytes behind (out_size counts those).
        reading = conn.reading and conn.reason is None and not self.input_paused
        want = (READ if reading else 0) | (WRITE if conn.out_size else 0)
        if conn.__class__ is TlsConnection:
            want = self.tls_events(conn, reading)  # type: ignore[arg-type]
        if want == conn.events:
            return
        if conn.events == 0:
            self.loop.register(conn.sock, want, conn)
        elif want == 0:
            self.loop.unregister(conn.sock)
        else:
            self.loop.modify(conn.sock, want, conn)
        conn.events = want

    # Timers: one per connection, for its registration, idle and ping deadlines (watch.py).

    def _arm_idle(self, conn: Connection) -> None:
        if conn.timer is None:
            irc = conn.front is self.irc
            when = watch.due(conn, self.limits, self.pending.deadline(conn), irc)
            if when is not None:
                conn.timer = self.loop.call_at(when, lambda: self._idle(conn))

    def _rearm(self, conn: Connection) -> None:
        """After a change of deadlines; a held-back client's timer is the flood one."""
        if conn.reason is None and not conn.held_back:
            self._cancel_timer(conn)
            self._arm_idle(conn)

    def _idle(self, conn: Connection) -> None:
        """Rearms itself lazily, so an active client costs nothing per line."""
        conn.timer = None
        if conn.reason is not None or conn.held_back:
            return
        now = self.loop.clock()
        if self.input_paused:  # we are not reading: silence proves nothing
            conn.last_active = conn.last_heard = now
        irc = conn.front is self.irc
        what = watch.check(conn, now, self.limits, self.pending.deadline(conn), irc)
        if what == watch.PING:
            conn.send(self.irc.ping())
        elif what is not None:
            conn.send(self.irc.closing(conn.ip, what) if irc else conn.front.error(what.lower()))
            conn.close(what)
            self.process_leaving()
            return
        self._arm_idle(conn)

    @staticmethod
    def _cancel_timer(conn: Connection) -> None:
        if conn.timer is not None:
            conn.timer.cancel()
            conn.timer = None

    # Leaving, after the event that caused it.

    def process_leaving(self) -> None:
        """Disconnects the clients that asked to leave; their rooms may make more leave."""
        while self.leaving:
            batch = self.leaving[:]  # the list itself stays: connections hold it
            self.leaving.clear()
            for conn in batch:
                self._cancel_timer(conn)
                conn.held_back = False
                self.bus.publish(i.Disconnect(conn.id, conn.reason or CLOSED))
                if conn.aborted:
                    conn.out.clear()  # what the broadcast queued after the abort
                if conn.out:
                    self._linger(conn)
                else:
                    self._close_now(conn)

    def _linger(self, conn: Connection) -> None:
        """Keeps a leaving client until its last lines (Bye, an error) are written."""
        self.lingering.add(conn)
        conn.reading = False
        self._update_events(conn)
        self.delivery.dirty.add(conn)
        conn.timer = self.loop.call_later(LINGER, lambda: self._close_now(conn))

    def _close_now(self, conn: Connection) -> None:
        if self.clients.get(conn.fd) is not conn:  # closed already; the fd may be another's
            return
        del self.clients[conn.fd]
        self.lingering.discard(conn)
        self.pending.discard(conn)
        self.door.forget(conn)
        self._cancel_timer(conn)
        if conn.events:
            self.loop.unregister(conn.sock)
            conn.events = 0
        conn.out.clear()
        conn.sock.close()
        if self.shutting_down and not self.clients:
            self.loop.stop()

    # Shutdown.

    def shutdown(self, grace: float = 3.0, notice: str = "server shutting down") -> None:
        """The contract's graceful stop: tell everyone, flush (bounded), then stop."""
        if self.shutting_down:
            return
        self.shutting_down = True
        log.info("shutting down: %d clients", len(self.clients))
        self.replace_listeners([])
        self.end_handshakes()
        self.delivery.notify_all(notice)
        for conn in list(self.clients.values()):
            conn.reason = conn.reason or SHUTDOWN
            self._cancel_timer(conn)
            if conn.out:
                self._linger(conn)
            else:
                self._close_now(conn)
        self.loop.call_later(grace, self._force_close)
        if not self.clients:
            self.loop.stop()

    def _force_close(self) -> None:
        for conn in list(self.clients.values()):
            self._close_now(conn)
        self.loop.stop()


def _refuse(sock: socket.socket, line: bytes) -> None:
    try:
        sock.setblocking(False)
        sock.send(line)
    except OSError:
        pass
    sock.close()
