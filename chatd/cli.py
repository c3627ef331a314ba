"""chatd's command line: argv -> config -> logs -> the server in the foreground."""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import sys
from typing import Any, NoReturn

from . import __version__, logs
from . import config as cfg

log = logging.getLogger("chatd")

EX_USAGE = 64
EX_UNAVAILABLE = 69
EX_CANTCREAT = 73

_QUOTED = re.compile(f"'([^']{{{cfg.SHOWN + 1},}})'")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        message = _QUOTED.sub(lambda m: cfg.shown(m.group(1)), message)  # a pasted value
        self.print_usage(sys.stderr)
        self.exit(EX_USAGE, f"{self.prog}: {message}\n")


def parser() -> argparse.ArgumentParser:
    ap = _Parser(
        prog="chatd",
        description="A chat-room daemon for raw TCP clients (nc, telnet) and chatd-client.",
        epilog="Exit status: 0 after a clean stop, 78 for a bad config, 69 if it cannot listen "
        "or another chatd holds the pidfile, 73 if the log file or pidfile cannot be created. "
        "Relative paths are relative to the directory chatd is started in.",
    )
    ap.add_argument("-c", "--config", metavar="FILE", help="YAML config (default: built-in)")
    ap.add_argument(
        "--check-config", action="store_true", help="validate the config and exit 0 or 78"
    )
    ap.add_argument("--bind", metavar="ADDR", help="address to listen on (overrides 'bind')")
    ap.add_argument("--port", type=int, metavar="N", help="TCP port (overrides 'port')")
    ap.add_argument("--max-clients", type=int, metavar="N", help="overrides 'max_clients'")
    ap.add_argument("--log-level", metavar="LEVEL", help="debug, info, warning or error")
    ap.add_argument("--log-file", metavar="FILE", help="log to FILE instead of stderr")
    ap.add_argument("--workers", metavar="N", help="worker processes, or 'auto'")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument(
        "--daemon", action="store_const", const=True, help="detach into the background"
    )
    mode.add_argument(
        "--foreground", dest="daemon", action="store_const", const=False, help="do not detach"
    )
    ap.add_argument("--pidfile", metavar="FILE", help="write the server's pid to FILE")
    ap.add_argument("--version", action="version", version=f"chatd {__version__}")
    return ap


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    workers: Any = args.workers
    if workers is not None and workers.isascii() and workers.isdigit() and len(workers) < 10:
        workers = int(workers)  # anything else goes to the validator as given
    return {
        "bind": args.bind,
        "port": args.port,
        "max_clients": args.max_clients,
        "log_level": args.log_level,
        "log_file": args.log_file,
        "workers": workers,
        "daemon": args.daemon,
        "pidfile": args.pidfile,
    }


def load_config(args: argparse.Namespace) -> cfg.Config:
    base = cfg.load(args.config) if args.config else cfg.Config()
    return cfg.override(base, overrides(args))


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        config = load_config(args)
        cfg.check_start(config)
    except cfg.ConfigError as exc:
        print(f"chatd: config error: {exc}", file=sys.stderr)
        return cfg.EX_CONFIG
    if args.check_config:
        print(f"chatd: {config.source}: config OK")
        return 0
    try:
        logs.setup(config.log_level, config.log_file)
    except OSError as exc:  # checked above: this is a race or a full disk
        words = cfg.os_error_words(exc)
        print(f"chatd: cannot open log file {config.log_file}: {words}", file=sys.stderr)
        return EX_CANTCREAT
    return serve(config, overrides(args))


def serve(config: cfg.Config, given: dict[str, Any]) -> int:
    """Listen (or take systemd's sockets), detach if asked, and run until stopped."""
    from . import systemd
    from .daemon import Pidfile, PidfileError, daemon_context
    from .runner import hold_signals
    from .sockets import claims, open_listener, tag

    hold_signals()
    listeners = systemd.listen_fds()
    inherited = bool(listeners)
    if inherited:
        problem = _inherited_problem(config, listeners)
        if problem:
            print(f"chatd: config error: {problem}", file=sys.stderr)
            for listener in listeners:
                listener.close()
            return cfg.EX_CONFIG
    else:
        workers = config.worker_count() > 1
        listeners = []
        tls_flags = config.listeners_tls()
        for (protocol, bind, port), tls in zip(config.listeners(), tls_flags, strict=True):
            try:
                listener = open_listener(bind, port, reuse_port=workers, claim=True)
            except OSError as exc:
                print(
                    f"chatd: cannot listen on {bind} port {port}: {exc.strerror or exc}",
                    file=sys.stderr,
                )
                for listener in listeners:
                    listener.close()
                return EX_UNAVAILABLE
            listeners.append(tag(listener, protocol, tls))
    pidfile = Pidfile(config.pidfile) if config.pidfile else None
    try:
        if pidfile is not None:
            pidfile.lock()  # before detaching: a failure still reaches the terminal
        if config.daemon and systemd.under_systemd():
            log.warning("daemon: true ignored under systemd: staying in the foreground")
        elif config.daemon:
            keep = [*listeners, *claims(), *logs.open_streams(), *([pidfile] if pidfile else [])]
            with daemon_context(keep, pidfile):
                return run(config, listeners, given, inherited)
        with pidfile or contextlib.nullcontext():
            return run(config, listeners, given, inherited)
    except PidfileError as exc:
        print(f"chatd: {exc}", file=sys.stderr)
        if config.daemon:  # detached already, perhaps: standard error is /dev/null
            log.error("%s", exc)
        for listener in listeners:
            listener.close()
        return exc.status


def _inherited_problem(config: cfg.Config, listeners: list[Any]) -> str | None:
    """Under socket activation the socket units decide where chatd listens: a config
    that says otherwise is said once; a TLS socket without a pair is an error."""
    from . import systemd
    from .sockets import tls_of

    if any(tls_of(s) for s in listeners) and not (config.tls_cert and config.tls_key):
        return (
            f"{config.source}: tls_cert: a socket unit passes a TLS socket (FileDescriptorName="
            "line-tls or irc-tls): tls_cert and tls_key are required"
        )
    if config.listen is not None:
        log.warning("listen is ignored under socket activation: the socket units decide")
    else:
        mismatch = systemd.address_mismatch(listeners, config.bind, config.port)
        if mismatch:
            log.warning("%s", mismatch)
    return None


def run(config: cfg.Config, listeners: list[Any], given: dict[str, Any], inherited: bool) -> int:
    """One process, or a master over workers: the same server either way.  A cluster's
    node is always a master, even over one worker (chatd.clusterhub says why)."""
    if config.worker_count() > 1 or config.cluster is not None:
        from .master import Master

        return Master(config, listeners, given, inherited).run()
    from .runner import Runner

    return Runner(config, listeners, given, inherited).run()


if __name__ == "__main__":
    sys.exit(main())
