"""The benchmark's IRC and idle parts: who the clients are, the commands the C generator
gets for them, chatd's and the relay's IRC listeners, and the idle figures."""

from __future__ import annotations

import argparse
import socket
import subprocess
import time
from pathlib import Path

import pytest
from test_bench import _listening, _read_until, built  # noqa: F401  (built is a fixture)

from bench import cgen, report, scenarios, targets
from bench.generator import Load, Result
from bench.targets import CHATD_ROOMS_DIALECT, IRC_DIALECT, Speaker, speakers
from chatd import config

NOWHERE = Path("/nonexistent")


def _pairs(cmd: list[str]) -> dict[str, str]:
    """--key value pairs of a loadgen command line (flags without a value are skipped)."""
    out, args = {}, cmd[1:]
    i = 0
    while i < len(args):
        if i + 1 < len(args) and not args[i + 1].startswith("--"):
            out[args[i]] = args[i + 1]
            i += 2
        else:
            out[args[i]] = ""
            i += 1
    return out


def test_line_clients_speak_the_servers_own_dialect():
    chatd = targets.Chatd(NOWHERE, {})
    assert speakers(chatd, 1, "line") == [Speaker(chatd.port, targets.CHATD_DIALECT)]
    ngircd = targets.Ngircd(NOWHERE, {})
    assert speakers(ngircd, 1, "line") == [Speaker(ngircd.port, IRC_DIALECT)]


def test_irc_clients_go_to_the_irc_port_and_answer_ping():
    chatd = targets.Chatd(NOWHERE, {"irc": True})
    assert chatd.irc_port and chatd.irc_port != chatd.port
    assert speakers(chatd, 1, "irc") == [Speaker(chatd.irc_port, IRC_DIALECT)]
    assert IRC_DIALECT.pong and not targets.CHATD_DIALECT.pong
    ngircd = targets.Ngircd(NOWHERE, {"irc": True})
    assert ngircd.irc_port == ngircd.port


def test_mixed_is_line_clients_in_the_bench_room_and_irc_clients():
    relay = targets.Relay(NOWHERE, {"irc": True})
    line, irc = speakers(relay, 1, "mixed")
    assert line == Speaker(relay.port, CHATD_ROOMS_DIALECT)  # /join bench, not the lobby
    assert irc == Speaker(relay.irc_port, IRC_DIALECT)
    assert targets.room_name(0, 1) == "bench"


@pytest.mark.parametrize(
    ("target", "protocol", "says"),
    [
        (targets.Chatd(NOWHERE, {}), "irc", "no IRC listener"),  # not asked for one
        (targets.Ncat(NOWHERE, {"irc": True}), "irc", "no IRC listener"),
        (targets.Ngircd(NOWHERE, {"irc": True}), "mixed", "cannot have mixed"),
    ],
)
def test_a_server_without_those_clients_is_an_error_that_says_so(target, protocol, says):
    with pytest.raises(RuntimeError, match=says):
        speakers(target, 1, protocol)


def test_the_c_generator_gets_every_other_client_as_irc_in_mixed(monkeypatch):
    target = targets.Chatd(NOWHERE, {"irc": True})
    monkeypatch.setattr(target, "pids", lambda: [7])
    cmd = cgen.command(target, Load(100, protocol="mixed"))
    pairs = _pairs(cmd)
    assert pairs["--port"] == str(target.port) and pairs["--hello"] == "/join {r}\n"
    assert pairs["--alt-every"] == "2" and pairs["--alt-port"] == str(target.irc_port)
    assert pairs["--alt-hello"].startswith("NICK b{i}\r\n") and pairs["--alt-ready"] == " 366 "
    assert pairs["--alt-prefix"] == "PRIVMSG #{r} :" and pairs["--alt-suffix"] == "\r\n"
    assert "--alt-pong" in cmd and "--pong" not in cmd  # line clients get no PINGs


def test_the_c_generator_gets_irc_clients_on_the_irc_port():
    target = targets.Relay(NOWHERE, {"irc": True})
    cmd = cgen.command(target, Load(100, protocol="irc"))
    pairs = _pairs(cmd)
    assert pairs["--port"] == str(target.irc_port) and "--pong" in cmd
    assert "--alt-every" not in cmd


def test_idle_command_has_no_window_and_waits_for_the_server_to_settle():
    target = targets.Chatd(NOWHERE, {})
    cmd = cgen.idle_command(target, 10_000, settle=1.5)
    pairs = _pairs(cmd)
    assert "--idle" in cmd and pairs["--settle"] == "1.5" and pairs["--clients"] == "10000"
    assert "--window" not in cmd and "--duration" not in cmd and pairs["--senders"] == "1"


def test_chatd_with_an_irc_port_has_a_config_chatd_accepts(tmp_path):
    target = targets.Chatd(tmp_path, {"irc": True})
    target.command(100)
    loaded = config.load(str(tmp_path / "chatd.yaml"))
    assert sorted((entry.protocol, entry.port) for entry in loaded.listen) == sorted(
        [("line", target.port), ("irc", target.irc_port)]
    )
    plain = targets.Chatd(tmp_path, {})
    plain.command(100)
    assert not config.load(str(tmp_path / "chatd.yaml")).listen


def test_the_relay_opens_its_irc_port_only_when_asked():
    plain, irc = targets.Relay(NOWHERE, {}), targets.Relay(NOWHERE, {"irc": True})
    assert len(plain.command(10)) == 3
    assert irc.command(10)[1:] == [str(irc.port), str(targets.MAX_SEND_BUFFER), str(irc.irc_port)]


def test_irc_and_mixed_are_scenarios_of_100_and_skip_who_cannot_take_part(capsys):
    assert scenarios.SCENARIOS["irc"][:2] == (scenarios.irc, 100)
    assert scenarios.SCENARIOS["mixed"][:2] == (scenarios.mixed, 100)
    assert {"irc", "mixed"} <= scenarios.NEEDS_IRC and "mixed" in scenarios.NEEDS_LINE_AND_IRC
    assert report._runs_on("irc", "chatd", {"irc": True})
    assert report._runs_on("irc", "ngircd", {"irc": True}) == targets.Ngircd.available()
    assert not report._runs_on("mixed", "ngircd", {"irc": True})
    assert not report._runs_on("irc", "ncat", {"irc": True})
    err = capsys.readouterr().err
    assert "ncat" in err and ("no line clients" in err or "not installed" in err)


def test_an_irc_run_is_named_after_its_clients(monkeypatch):
    seen: list[Load] = []

    def drive(target, load, args):
        seen.append(load)
        return {**LOADGEN_LINE}

    monkeypatch.setattr(scenarios, "drive", drive)
    args = argparse.Namespace(window=16, duration=1.0, generator="c")
    target = targets.Chatd(NOWHERE, {"irc": True})
    assert scenarios.irc(target, 100, args).scenario == "irc 100"
    assert scenarios.mixed(target, 100, args).scenario == "mixed 100"
    assert [load.protocol for load in seen] == ["irc", "mixed"]
    assert all(load.senders == 10 and load.rooms == 1 for load in seen)


LOADGEN_LINE = {
    "generator": "c", "clients": 100, "rooms": 1, "ready": 100, "closed": 0,
    "connect_s": 0.01, "expected": 99, "delivered": 99, "elapsed_s": 1.0, "per_second": 99,
    "p50_ms": 0.1, "p99_ms": 0.5, "max_ms": 0.7, "samples": 20, "gen_cpu_pct": 12.5,
    "server_cpu_pct": 30.0, "server_rss_kib": 2048, "slow_cut": None,
}  # fmt: skip

IDLE_LINE = {
    "generator": "c", "clients": 10000, "connected": 10000, "ready": 10000, "open": 10000,
    "connect_s": 4.5, "connect_error": "", "gen_cpu_pct": 20.0,
    "server_rss_before_kib": 20000, "server_rss_kib": 35625, "expected": 9999,
    "delivered": 9999, "broadcast_s": 0.1, "p50_ms": 50.0, "p99_ms": 90.0, "max_ms": 95.0,
}  # fmt: skip


def test_idle_with_the_c_generator_reports_memory_per_connection(monkeypatch):
    monkeypatch.setattr(cgen, "idle", lambda target, clients, settle: dict(IDLE_LINE))
    args = argparse.Namespace(generator="c")
    result = scenarios.idle(targets.Chatd(NOWHERE, {}), 10_000, args)
    assert (result.generator, result.gen_cpu_pct, result.clients) == ("c", 20.0, 10_000)
    assert result.extra["kib_per_conn"] == 1.56  # (35,625 - 20,000) KiB / 10,000
    assert result.extra["connect_s"] == 4.5 and "error" not in result.extra
    assert (result.delivered, result.expected) == (9999, 9999)
    line = report.table([result]).splitlines()[2]
    assert "c 20%" in line and "kib_per_conn=1.56" in line


def test_idle_says_why_connecting_stopped_and_none_open_is_no_figure(monkeypatch):
    out = {**IDLE_LINE, "open": 0, "connected": 598, "connect_error": "598 connected, then x"}
    monkeypatch.setattr(cgen, "idle", lambda target, clients, settle: out)
    result = scenarios.idle(targets.Ncat(NOWHERE, {}), 10_000, argparse.Namespace(generator="c"))
    assert result.extra["error"] == "598 connected, then x"
    assert result.extra["kib_per_conn"] == 0.0


def test_idle_output_lacking_a_figure_is_an_error():
    text = '{"generator": "c", "clients": 3}'
    with pytest.raises(RuntimeError, match="lack connected"):
        cgen.parse_output(text, "", cgen.IDLE_FIGURES)


# The relay's IRC port and the C generator's PONGs, for real.


@pytest.fixture
def irc_relay(built):  # noqa: F811
    """The relay with a line port and an IRC port."""
    line, irc = targets.free_port(), targets.free_port()
    proc = subprocess.Popen([str(built / "relay"), str(line), "262144", str(irc)])
    deadline = time.monotonic() + 5
    while not (_listening(line) and _listening(irc)):
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the relay did not listen within 5 s")
        time.sleep(0.02)
    yield line, irc
    proc.terminate()
    proc.wait(5)


def test_relay_irc_and_line_clients_share_a_room(irc_relay):
    line_port, irc_port = irc_relay
    irc = socket.create_connection(("127.0.0.1", irc_port), timeout=3)
    irc.sendall(b"NICK b0\r\nUSER b0 0 * :bench\r\nJOIN #bench\r\n")
    assert _read_until(irc, b":End of /NAMES list.\r\n").startswith(b":relay 001 b0 ")
    line = socket.create_connection(("127.0.0.1", line_port), timeout=3)
    greeting = _read_until(line, b")\r\n")
    nick = greeting.split(b"*** You are ")[1].split(b"\r\n")[0]
    line.sendall(b"/join bench\n")
    assert _read_until(line, b")\r\n") == b"*** You joined #bench (2 users: b0, %s)\r\n" % nick
    source = b":%s!line@127.0.0.1" % nick
    assert _read_until(irc, b"\r\n") == source + b" JOIN #bench\r\n"
    line.sendall(b"@@1 from line\n")
    assert _read_until(irc, b"\r\n") == source + b" PRIVMSG #bench :@@1 from line\r\n"
    irc.sendall(b"PRIVMSG #bench :@@2 from irc\r\nPING :tok\r\n")
    assert _read_until(line, b"\r\n") == b"<b0> @@2 from irc\r\n"
    assert _read_until(irc, b"\r\n") == b":relay PONG relay :tok\r\n"  # not its own line
    irc.close()
    assert _read_until(line, b"\r\n") == b"*** b0 left #bench (connection lost)\r\n"
    line.close()


def test_c_generator_drives_irc_and_mixed_clients_through_the_relay(built, irc_relay):  # noqa: F811
    target = targets.Relay(NOWHERE, {"irc": True})
    target.port, target.irc_port = irc_relay
    for protocol in ("irc", "mixed"):
        load = Load(8, senders=4, window=4, duration=0.1, protocol=protocol)
        proc = subprocess.run(
            [str(built / "loadgen"), *cgen.command(target, load)[1:]],
            capture_output=True,
            text=True,
            timeout=20,
        )
        out = cgen.parse_output(proc.stdout, proc.stderr)
        assert out["ready"] == 8 and out["closed"] == 0, protocol
        assert out["expected"] > 0 and out["delivered"] == out["expected"], protocol


def test_c_generator_idle_mode_connects_and_broadcasts(built, irc_relay):  # noqa: F811
    target = targets.Relay(NOWHERE, {})
    target.port = irc_relay[0]
    cmd = cgen.idle_command(target, 50, settle=0.1)
    proc = subprocess.run(
        [str(built / "loadgen"), *cmd[1:]], capture_output=True, text=True, timeout=30
    )
    out = cgen.parse_output(proc.stdout, proc.stderr, cgen.IDLE_FIGURES)
    assert (out["connected"], out["ready"], out["open"]) == (50, 50, 50)
    assert out["connect_error"] == ""
    assert (out["expected"], out["delivered"]) == (49, 49)


def test_connections_in_flight_stay_within_the_servers_listen_backlog():
    assert cgen.connect_batch(targets.Chatd(NOWHERE, {})) == 128
    ngircd, ncat = targets.Ngircd(NOWHERE, {}), targets.Ncat(NOWHERE, {})
    assert cgen.connect_batch(ngircd) == cgen.connect_batch(ncat) == 8
    assert _pairs(cgen.command(ngircd, Load(500)))["--connect-batch"] == "8"
    assert _pairs(cgen.idle_command(ncat, 10_000, 1.5))["--connect-batch"] == "8"


def test_a_run_reports_cpu_time_per_delivery_for_server_and_generator(monkeypatch):
    out = {**LOADGEN_LINE, "per_second": 2_000_000, "server_cpu_pct": 50.0}
    monkeypatch.setattr(scenarios, "drive", lambda target, load, args: out)
    args = argparse.Namespace(window=16, duration=1.0, generator="c")
    result = scenarios.irc(targets.Chatd(NOWHERE, {"irc": True}), 100, args)
    assert result.extra["server_ns"] == 250  # half a core for 2 M deliveries a second
    assert result.extra["gen_ns"] == 62  # 12.5 % of a core
    assert scenarios.ns_per_delivery(50.0, Result("s", "x")) == 0  # nothing delivered
