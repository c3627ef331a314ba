"""The master: listening sockets, signals, sd_notify and worker processes; no client ever.

Like gunicorn's arbiter, signal handlers only wake the loop, which calls handle_<name>.
Each worker is a single-threaded loop with its own replica of the chat; the master's hub
gives every chat event one order and sends it to every worker (see bus.py).  A worker that
dies is replaced at once (its users' rooms see them leave); one that stops reading the bus
is killed before its backlog can grow the master; if the master dies, the workers stop.
"""

from __future__ import annotations

import contextlib
import dataclasses
import faulthandler
import logging
import os
import selectors
import signal
import socket
import traceback
from typing import TYPE_CHECKING, Any

from . import config as cfg
from . import logs, reload, systemd
from .bus import BusError, Event, Hub, encode
from .core.chat import Chat
from .core.intents import Gone, State
from .loop import Loop
from .server import chat_settings
from .sockets import describe, open_listener, protocol_of, recv_ready, tag, tls_of
from .worker import Heartbeat, die_with_parent

if TYPE_CHECKING:
    from .clusterhub import ClusterHub

log = logging.getLogger("chatd.master")

READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE
SIGNALS = ("TERM", "INT", "HUP", "USR1", "CHLD")
GRACE = 10.0  # seconds the workers get to stop before SIGKILL
RESPAWN_BACKOFF = 1.0  # a worker that died this soon after starting waits this long
ABORT_GRACE = 1.0  # seconds an aborted worker has to print its stack before SIGKILL
EX_SOFTWARE = 70


class Child:
    __slots__ = ("slot", "pid", "sock", "heartbeat", "started", "events", "killed", "prefix")

    def __init__(
        self, slot: int, pid: int, sock: socket.socket, heartbeat: Heartbeat, started: float
    ) -> None:
        self.slot, self.pid, self.sock, self.started = slot, pid, sock, started
        self.prefix: str | None = None  # its users' ids' start in a cluster ("SLOT:" else)
        self.heartbeat = heartbeat
        self.events = READ
        self.killed = False  # by us, for not reading the bus or not beating


class Master:
    def __init__(
        self,
        config: cfg.Config,
        listeners: list[socket.socket],
        overrides: dict[str, Any],
        inherited: bool = False,
    ) -> None:
        self.config = config
        self.listeners = listeners
        self.overrides = overrides
        self.inherited = inherited
        self.loop = Loop()
        # The master's own replica: state only (it has no clients), so that a worker
        # that starts while others run can be given the chat as it stands.
        self.chat = Chat(chat_settings(config))
        self.hub = Hub(observe=self._observe)
        self.cluster: ClusterHub | None = None  # with a cluster, the hub is its relay
        if config.cluster is not None:
            from .clusterhub import ClusterHub

            self.hub = self.cluster = ClusterHub(self)
        self.exit_status = 0
        self.children: dict[int, Child] = {}  # by slot
        self.slot_listeners: dict[int, list[socket.socket]] = {}
        self.notifier = systemd.Notifier()
        self.stopping = False
        self.loop.on_tick(self.flush)

    # Running.

    def run(self) -> int:
        from .runner import run_loop

        for name in SIGNALS:
            signum = getattr(signal, "SIG" + name)
            self.loop.add_signal_handler(signum, getattr(self, "handle_" + name.lower()))
        if self.cluster is not None:  # from the loop, which a fatal error must stop
            self.loop.call_later(0, self.cluster.node.start)  # workers start once joined
        for slot in range(self.config.worker_count()):
            self.spawn(slot)
        self.loop.call_later(Heartbeat.INTERVAL, self._check_heartbeats)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _signal_numbers())
        where = ", ".join(describe(s) for s in self.listeners)
        count = self.config.worker_count()
        log.info("chatd master listening on %s with %d workers", where, count)
        status = f"{count} workers on {where}"
        run_loop(self.loop, self.notifier, status, lambda: self.stopping)
        if self.cluster is not None:
            self.cluster.node.close()
        log.info("chatd stopped")
        return self.exit_status

    def fail(self, status: int) -> None:
        """Cannot go on (another live node has our name): stop, exiting status."""
        self.exit_status = status
        self._stop("a fatal error")

    def listeners_for(self, slot: int) -> list[socket.socket]:
        """Slot 0 has the first sockets; others an SO_REUSEPORT twin of each (same port and
        protocol),
        kept by the master across respawns (so no queued connection is lost). systemd's
        sockets are shared by all."""
        if self.inherited or slot == 0:
            return self.listeners
        if slot not in self.slot_listeners:
            twins = []
            for listener in self.listeners:
                host, port = listener.getsockname()[:2]
                twin = open_listener(host, port, reuse_port=True)
                twins.append(tag(twin, protocol_of(listener), tls_of(listener)))
            self.slot_listeners[slot] = twins
        return self.slot_listeners[slot]

    def spawn(self, slot: int) -> None:
        if self.cluster is not None and not self.cluster.joined:
            return  # once joined: until then a worker would have no chat to serve
        prefix = None if self.cluster is None else self.cluster.member_prefix(slot)
        listeners = self.listeners_for(slot)
        ours, theirs = socket.socketpair()
        heartbeat = Heartbeat(self.loop.clock())
        # Until the child has its own handlers, a signal to it must not run ours: they
        # would write to the master's wakeup socket, which the child shares for a moment.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _signal_numbers())
        pid = os.fork()
        if pid == 0:
            ours.close()
            os._exit(self._be_worker(slot, theirs, listeners, heartbeat, prefix))
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        theirs.close()
        ours.setblocking(False)
        self.hub.add(slot, first=encode(State(self.chat.snapshot())), prefix=prefix)
        child = Child(slot, pid, ours, heartbeat, self.loop.clock())
        child.prefix = prefix
        self.children[slot] = child
        self.loop.register(ours, READ, lambda mask: self._on_child(child, mask))
        log.info("worker %d started: pid %d", slot, pid)

    def _be_worker(
        self,
        slot: int,
        link: socket.socket,
        listeners: list[socket.socket],
        heartbeat: Heartbeat,
        prefix: str | None,
    ) -> int:
        """In the child: drop the master's state, then run one worker loop."""
        from .runner import Runner

        try:
            die_with_parent()
            faulthandler.enable(all_threads=False)  # SIGABRT from the master: print the stack
            for child in self.children.values():
                child.sock.close()
                child.heartbeat.close()
            self.loop.close(restore_signals=True)  # the selector is made anew after fork
            for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
                os.environ.pop(name, None)  # the master speaks for the service
            for other in {id(s): s for ls in self.slot_listeners.values() for s in ls}.values():
                if other not in listeners:
                    other.close()
            runner = Runner(
                self.config, listeners, self.overrides, True, link, slot, heartbeat, prefix
            )
            return runner.run()
        except BaseException:
            traceback.print_exc()
            return EX_SOFTWARE

    # The bus.

    def _observe(self, event: Event) -> None:
        self.chat.apply(event)  # checked by the hub first: its shape is sound

    def _on_child(self, child: Child, mask: int) -> None:
        if self.children.get(child.slot) is not child or child.events == 0:
            return  # reaped or cut off earlier in this loop turn; its slot may be reused
        if mask & WRITE:
            self._write(child)
        if mask & READ:
            data = recv_ready(child.sock)
            if data is None:
                return
            if not data:  # exiting; SIGCHLD does the rest
                self.loop.unregister(child.sock)
                child.events = 0
                return
            try:
                self.hub.received(child.slot, data)
            except BusError as exc:  # its fault, not ours: replace it, as if it had died
                self._cut_off(child, f"sent a bad bus frame: {exc}")

    def _cut_off(self, child: Child, why: str) -> None:
        """Kills a worker and hears no more from it; its users are announced gone when it
        is reaped, like those of a worker that died."""
        self._kill_stuck(child, why)
        self.loop.unregister(child.sock)
        child.events = 0
        self.hub.remove(child.slot)

    def flush(self) -> None:
        """End of tick: every worker gets what the hub queued for it, in one send."""
        for child in list(self.children.values()):
            self._write(child)
        for slot in self.hub.stuck():
            child = self.children.get(slot)
            if child is not None:
                backlog = self.hub.backlog[slot]
                self._cut_off(child, f"stopped reading the bus ({backlog} bytes unread)")

    def _check_heartbeats(self) -> None:
        """A worker whose loop stopped turning (a bug, a stop signal) serves nobody; like
        gunicorn's timeout, replace it rather than leave its users hanging."""
        timeout = self.config.worker_timeout
        if self.stopping:
            return
        now = self.loop.clock()
        for child in list(self.children.values()):
            silence = child.heartbeat.silence(now)
            if timeout and silence > timeout and not child.killed:
                self._kill_stuck(child, f"not responding for {silence:.1f}s", abort=True)
        self.loop.call_later(Heartbeat.INTERVAL, self._check_heartbeats)

    def _kill_stuck(self, child: Child, why: str, abort: bool = False) -> None:
        """abort: SIGABRT first, so the worker's faulthandler prints where its loop is
        stuck (on standard error), then SIGKILL for one that cannot even do that (stopped)."""
        how = "aborting it (its stack goes to standard error)" if abort else "killing it"
        log.error("worker %d (pid %d) %s: %s", child.slot, child.pid, why, how)
        child.killed = True
        self._kill(child, signal.SIGABRT if abort else signal.SIGKILL)
        if abort:
            self.loop.call_later(ABORT_GRACE, lambda: self._kill_if_there(child))

    def _kill_if_there(self, child: Child) -> None:
        if self.children.get(child.slot) is child:
            self._kill(child, signal.SIGKILL)

    def _write(self, child: Child) -> None:
        if child.slot not in self.hub.outboxes or child.events == 0:
            return
        data = self.hub.take_output(child.slot)
        sent = 0
        if data:
            try:
                sent = child.sock.send(data)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                sent = len(data)  # it is going; SIGCHLD will say so
        self.hub.put_back(child.slot, data[sent:])
        want = READ | (WRITE if sent < len(data) else 0)
        if want != child.events:
            self.loop.modify(child.sock, want, lambda mask: self._on_child(child, mask))
            child.events = want

    # Signals.

    def handle_chld(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            self._reap(pid, status)
        if self.stopping and not self.children:
            self._finish()

    def _reap(self, pid: int, status: int) -> None:
        child = next((c for c in self.children.values() if c.pid == pid), None)
        if child is None:
            return
        del self.children[child.slot]
        child.events = 0
        self.loop.unregister(child.sock)
        child.sock.close()
        child.heartbeat.close()
        self.hub.remove(child.slot)
        how = _describe(status)
        if self.stopping:
            log.info("worker %d stopped (%s)", child.slot, how)
            return
        log.warning("worker %d (pid %d) %s", child.slot, pid, how)
        if self.cluster is None:
            self.hub.announce(Gone(child.slot, "connection lost"))
        elif self.cluster.joined:  # else it was evicted: its users went with the node
            gone = self.cluster.gone(child.prefix or "")
            if gone is not None:
                self.hub.announce(gone)
        else:
            return  # started again once joined
        if child.slot < self.config.worker_count():
            quick = self.loop.clock() - child.started < RESPAWN_BACKOFF
            if quick:  # crashing at start: do not spin
                self.loop.call_later(RESPAWN_BACKOFF, lambda: self._respawn(child.slot))
            else:
                self.spawn(child.slot)

    def _respawn(self, slot: int) -> None:
        if not self.stopping and slot not in self.children:
            self.spawn(slot)

    def handle_term(self) -> None:
        self._stop("SIGTERM")

    def handle_int(self) -> None:
        self._stop("SIGINT")

    def _stop(self, why: str) -> None:
        if self.stopping:
            return
        log.info("%s: stopping %d workers", why, len(self.children))
        self.stopping = True
        self.notifier.stopping()
        for child in self.children.values():
            self._kill(child, signal.SIGTERM)
        self.loop.call_later(GRACE, self._force_stop)
        if not self.children:
            self._finish()

    def _finish(self) -> None:
        """Every worker is gone: stop (a cluster's node says so to the others first)."""
        if self.cluster is not None:
            return self.cluster.node.finish(self.loop.stop)
        self.loop.stop()

    def _force_stop(self) -> None:
        for child in self.children.values():
            self._kill(child, signal.SIGKILL)

    def handle_hup(self) -> None:
        """Reload (see reload.py): the master alone reads the file, switches its own log,
        and sends the settings to every worker in the event order; the count adapts."""
        self.notifier.reloading()
        running = self.config
        new = reload.read(running, self.overrides)
        self._settle(running if new is None else self._keep_address(new))
        if new is None:
            self.notifier.ready("reload failed; running on the old config")
            return
        wanted = self.config.worker_count()
        for slot in range(wanted):
            if slot not in self.children:
                self.spawn(slot)
        for child in [c for c in self.children.values() if c.slot >= wanted]:
            log.info("retiring worker %d", child.slot)
            self._kill(child, signal.SIGTERM)
            for listener in self.slot_listeners.pop(child.slot, []):
                listener.close()
        if new is not running:
            log.info("SIGHUP: config reloaded from %s (%d workers)", new.source, wanted)
        self.notifier.ready(f"{wanted} workers")

    def handle_usr1(self) -> None:
        """Log rotation: the running settings once more, which reopens every log file."""
        if self._settle(self.config):
            log.info("SIGUSR1: log file reopened; the workers reopen theirs")

    def _settle(self, new: cfg.Config) -> bool:
        """Our own log first: if its new file cannot be opened, every process keeps the
        one it has, so they all still write to the same place.  False in that case."""
        opened = logs.use(new.log_level, new.log_file)
        if not opened:
            new = dataclasses.replace(new, log_file=logs.current_path())
        self.config = new
        self.hub.announce(reload.event(new))  # our replica applies it in _observe
        return opened

    def _keep_address(self, new: cfg.Config) -> cfg.Config:
        old = self.config
        if new.cluster != old.cluster:
            log.warning("SIGHUP: a change of cluster takes a restart")
            new = dataclasses.replace(new, cluster=old.cluster)
        if (new.bind, new.port) == (old.bind, old.port):
            return new
        if self.inherited:
            log.warning("SIGHUP: bind/port are the socket unit's under socket activation")
        else:
            log.warning("SIGHUP: a new bind/port needs a restart when running workers")
        return dataclasses.replace(new, bind=old.bind, port=old.port)

    def _kill(self, child: Child, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signum)


def _signal_numbers() -> set[int]:
    return {getattr(signal, "SIG" + name) for name in SIGNALS}


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"
