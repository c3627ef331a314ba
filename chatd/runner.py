"""Runs one server process: listeners, the loop, and the signals of the contract.

Signal handlers only wake the loop; the loop calls ``handle_<name>`` here, outside any
handler, like gunicorn's arbiter.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import socket
from collections.abc import Callable
from typing import Any

from . import config as cfg
from . import logs, reload, systemd
from .bus import HubLink
from .clusterevents import Dropped, Evict, Pause, disconnects
from .core.intents import Intent
from .loop import Loop, raise_nofile_limit
from .server import Server
from .sockets import describe, open_listener, release_claims
from .worker import Heartbeat, LinkSocket

log = logging.getLogger("chatd.runner")

SIGNALS = ("TERM", "INT", "HUP", "USR1")


class Runner:
    def __init__(
        self,
        config: cfg.Config,
        listeners: list[socket.socket],
        overrides: dict[str, Any],
        inherited: bool = False,
        link: socket.socket | None = None,
        worker: int = 0,
        heartbeat: Heartbeat | None = None,
        member_prefix: str | None = None,
    ) -> None:
        self.overrides = overrides
        self.inherited = inherited  # the listeners are systemd's or the master's
        self.under_master = link is not None  # reloads come from the master, over the bus
        self.loop = Loop()
        bus = HubLink() if link is not None else None
        self.server = Server(config, self.loop, listeners, bus, worker)
        self.paused = {"bus": False, "cluster": False}  # why input is paused, if it is
        if link is not None:  # a worker: chat events go through the master's hub
            server = self.server
            LinkSocket(self.loop, link, bus, server.shutdown, self._bus_congested)  # type: ignore[arg-type]
        if member_prefix is not None:  # a worker of a cluster's node
            self.server.member_prefix = member_prefix
            self.server.bus.deliver = self._cluster_event
        if heartbeat is not None:
            heartbeat.keep(self.loop)
        self.notifier = systemd.Notifier()

    def _bus_congested(self, congested: bool) -> None:
        self._pause("bus", congested)

    def _pause(self, why: str, paused: bool) -> None:
        """Input stops while the bus or the cluster's Redis is backed up, and resumes
        only once neither is."""
        was = any(self.paused.values())
        self.paused[why] = paused
        if any(self.paused.values()) != was:
            self.server.pause_input(not was)

    def _cluster_event(self, event: Intent) -> None:
        """A cluster's kinds of event, then the rest as on one host."""
        kind = event.__class__
        if kind is Dropped:
            for disconnect in disconnects(self.server.chat, event):  # type: ignore[arg-type]
                self.server.apply(disconnect)
        elif kind is Evict:
            log.warning("evicting every client: %s", event.notice)  # type: ignore[union-attr]
            self.server.shutdown(notice=event.notice)  # type: ignore[union-attr]
        elif kind is Pause:
            self._pause("cluster", event.paused)  # type: ignore[union-attr]
        else:
            self.server.apply(event)

    @property
    def config(self) -> cfg.Config:
        return self.server.config

    def run(self) -> int:
        for name in SIGNALS:
            signum = getattr(signal, "SIG" + name)
            self.loop.add_signal_handler(signum, getattr(self, "handle_" + name.lower()))
        # Held since start-up (see hold_signals); what arrived meanwhile is handled now.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, signal_numbers())
        soft, hard = raise_nofile_limit()
        log.info(
            "chatd listening on %s (max %d clients, %d file descriptors)",
            ", ".join(describe(s) for s in self.server.listeners),
            self.config.max_clients,
            soft,
        )
        run_loop(self.loop, self.notifier, self.status(), lambda: self.server.shutting_down)
        log.info("chatd stopped")
        self.notifier.close()
        return self.server.exit_status

    def status(self) -> str:
        where = ", ".join(describe(s) for s in self.server.listeners)
        return f"serving {len(self.server.clients)} clients on {where}"

    def handle_term(self) -> None:
        log.info("SIGTERM: shutting down")
        self.notifier.stopping()
        self.server.shutdown()

    def handle_int(self) -> None:
        log.info("SIGINT: shutting down")
        self.notifier.stopping()
        self.server.shutdown()

    def handle_hup(self) -> None:
        """Reload (see reload.py).  A worker's master reads the file and sends the settings
        over the bus; a SIGHUP sent to the worker itself changes nothing."""
        if self.under_master:
            log.debug("SIGHUP: ignored; the master reloads every worker")
            return
        self.notifier.reloading()
        running = self.config
        new = reload.read(running, self.overrides)
        applied = running if new is None else self._rebind(new)  # bad file: logs reopened
        self.server.bus.publish(reload.event(applied))
        if new is not None and new is not running:
            log.info("SIGHUP: config reloaded from %s", new.source)
        self.notifier.ready(self.status())

    def handle_usr1(self) -> None:
        if logs.reopen():
            log.info("SIGUSR1: log file reopened")

    def _rebind(self, new: cfg.Config) -> cfg.Config:
        """Listens on a changed address; if that fails, the old one stays."""
        old = self.config
        if new.listeners() == old.listeners():
            if new.listeners_tls() == old.listeners_tls():
                return new
            log.warning("SIGHUP: turning TLS on or off for a listener takes a restart")
            return dataclasses.replace(new, listen=old.listen)
        if new.listen is not None or old.listen is not None:
            log.warning("SIGHUP: a change of listen (or to or from it) takes a restart")
            return dataclasses.replace(new, bind=old.bind, port=old.port, listen=old.listen)
        if self.inherited:
            log.warning("SIGHUP: bind/port are the socket unit's under socket activation")
            return dataclasses.replace(new, bind=old.bind, port=old.port)
        try:
            listener = open_listener(new.bind, new.port, claim=True)
        except OSError as exc:
            log.error("SIGHUP: cannot listen on %s port %d: %s", new.bind, new.port, exc.strerror)
            return dataclasses.replace(new, bind=old.bind, port=old.port)
        self.server.replace_listeners([listener])
        release_claims(keep=listener.getsockname()[1])
        return new


def signal_numbers() -> set[int]:
    return {getattr(signal, "SIG" + name) for name in SIGNALS}


def run_loop(
    loop: Loop, notifier: systemd.Notifier, status: str, stopping: Callable[[], bool]
) -> None:
    """Tells systemd we are ready, pings its watchdog from the loop itself (so a stuck
    loop is found and restarted), and runs until stopped."""
    notifier.ready(status)
    interval = notifier.watchdog_interval

    def ping() -> None:
        notifier.watchdog()
        if interval and not stopping():
            loop.call_later(interval, ping)

    if interval:
        ping()
    try:
        loop.run()
    finally:
        loop.close(restore_signals=False)
        ignore_stop_signals()


def ignore_stop_signals() -> None:
    """Stopping already: a second TERM or INT must not turn a clean exit into a kill.
    SIG_IGN, not a handler of ours: interpreter shutdown resets those to SIG_DFL."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def hold_signals() -> None:
    """Blocks our signals until the loop handles them: a SIGTERM between the pidfile and
    the handlers (a stop right after a start) must not kill us without cleaning up."""
    signal.pthread_sigmask(signal.SIG_BLOCK, signal_numbers())
