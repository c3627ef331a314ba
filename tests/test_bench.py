"""The benchmark's own plumbing: counting, parsing, medians, ratios, report, arguments."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from bench import cgen, generator, report, scenarios, targets
from bench.generator import Load, Result, count_marks, last_stamp, stamp_line


def test_stamped_line_round_trips():
    line = stamp_line(123456789)
    assert last_stamp(b"<bob> " + line + b"\r\n") == 123456789


def test_last_stamp_skips_a_cut_one():
    whole, cut = stamp_line(111), stamp_line(222)[:10]
    assert last_stamp(whole + b"\n" + cut) == 111
    assert last_stamp(b"no stamps here") is None


def test_marks_are_counted_even_when_split_between_reads():
    data = b"".join(stamp_line(i) + b"\n" for i in range(5))
    cut = data.index(b"@@", 10) + 1  # between the two @ of the second mark
    first, second = data[:cut], data[cut:]
    total = count_marks(first, False) + count_marks(second, first.endswith(b"@"))
    assert total == 5
    assert count_marks(b"a@b", True) == 0


def test_median_of_runs():
    runs = [
        Result("fanout 100", "chatd", 100, 10, 10, per_second=v, p99_ms=p, extra={"cut": c})
        for v, p, c in [(100.0, 3.0, True), (300.0, 1.0, True), (200.0, 2.0, False)]
    ]
    merged = report.median_result(runs)
    assert merged.per_second == 200.0
    assert merged.p99_ms == 2.0
    assert merged.extra["cut"] is False  # a flag holds only if it held in every run


def test_ratios_follow_each_scenario_direction():
    results = [
        Result("fanout 100", "chatd", per_second=300.0),
        Result("fanout 100", "ncat", per_second=100.0),
        Result("rate", "chatd", p99_ms=0.5),
        Result("rate", "ngircd", p99_ms=1.0),
        Result("idle", "chatd", extra={"kib_per_conn": 1.5}),
        Result("idle", "ngircd", extra={"kib_per_conn": 6.0}),
    ]
    assert report.ratios(results) == {
        ("fanout 100", "ncat"): 3.0,
        ("rate", "ngircd"): 2.0,
        ("idle", "ngircd"): 4.0,
    }


def test_table_has_one_row_per_result_and_the_ratio_columns():
    results = [
        Result("fanout 100", "chatd", 100, 99, 99, per_second=300.0),
        Result("fanout 100", "ncat", 100, 99, 99, per_second=100.0),
    ]
    text = report.table(results)
    lines = text.splitlines()
    assert "deliveries/s" in lines[0] and "vs ncat" in lines[0]
    assert len(lines) == 4
    assert "3.00x" in lines[2]
    assert "99/99" in lines[3]


def test_compare_with_an_earlier_run():
    earlier = {
        "results": [{"scenario": "fanout 100", "server": "chatd", "per_second": 200.0, "extra": {}}]
    }
    now = [Result("fanout 100", "chatd", per_second=300.0)]
    assert "200.00 -> 300.00 (+50.0%)" in report.compare(now, earlier)


def test_arguments(tmp_path):
    args = report.parse_args(["--scenarios", "rate,idle", "--servers", "chatd", "--runs", "5"])
    assert args.scenarios == ["rate", "idle"] and args.servers == ["chatd"] and args.runs == 5
    with pytest.raises(SystemExit):
        report.parse_args(["--scenarios", "warp"])
    with pytest.raises(SystemExit):
        report.parse_args(["--runs", "0"])


def test_every_scenario_the_issue_names_is_there():
    names = set(scenarios.SCENARIOS)
    assert {"fanout10", "fanout100", "fanout500", "rate", "idle", "slowreader", "flood"} <= names


def test_main_writes_json_for_an_empty_selection(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(report, "run", lambda args, save: [Result("rate", "chatd", p99_ms=0.5)])
    out = tmp_path / "r.json"
    assert report.main(["--json", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["results"][0]["p99_ms"] == 0.5
    assert "rate" in capsys.readouterr().out


# The C parts: the load generator's results, the generator's CPU share, the relay.

LOADGEN_LINE = {
    "generator": "c", "clients": 8, "rooms": 2, "ready": 8, "closed": 0, "connect_s": 0.01,
    "expected": 76, "delivered": 76, "elapsed_s": 0.2, "per_second": 380, "p50_ms": 0.1,
    "p99_ms": 0.5, "max_ms": 0.7, "samples": 20, "gen_cpu_pct": 12.5,
    "server_cpu_pct": 30.0, "server_rss_kib": 2048, "slow_cut": None,
}  # fmt: skip


def test_loadgen_results_are_read_from_its_last_line():
    text = "a warning first\n" + json.dumps(LOADGEN_LINE) + "\n\n"
    assert cgen.parse_output(text) == LOADGEN_LINE


@pytest.mark.parametrize(
    ("stdout", "stderr", "says"),
    [
        ('{"error": "connect: Connection refused after 0 clients"}', "", "Connection refused"),
        ("", "usage: loadgen --port P", "usage: loadgen"),
        ("Segmentation fault", "", "Segmentation fault"),
        ("[1, 2]", "", "not an object"),
        ('{"generator": "c", "delivered": 5}', "", "lack clients"),
    ],
)
def test_loadgen_failures_are_errors_that_say_why(stdout, stderr, says):
    with pytest.raises(RuntimeError, match=says):
        cgen.parse_output(stdout, stderr)


def test_loadgen_command_carries_the_dialect_and_the_server_pids(monkeypatch):
    target = targets.Ngircd(Path("/nonexistent"), {})
    monkeypatch.setattr(target, "pids", lambda: [41, 42])
    cmd = cgen.command(target, Load(40, rooms=2, senders=1, window=8, silent_last=True))
    pairs = dict(zip(cmd[1::2], cmd[2::2], strict=False))
    assert pairs["--rooms"] == "2" and pairs["--senders"] == "1" and pairs["--window"] == "8"
    assert pairs["--hello"].endswith("JOIN #{r}\r\n") and pairs["--prefix"] == "PRIVMSG #{r} :"
    assert "--silent-last" in cmd
    assert cmd[-4:] == ["--server-pid", "41", "--server-pid", "42"]
    with pytest.raises(RuntimeError, match="no rooms"):
        cgen.command(targets.Ncat(Path("/nonexistent"), {}), Load(40, rooms=2))


def test_only_servers_whose_deliveries_are_fixed_bytes_get_discarding_receivers(monkeypatch):
    # ncat --chat prefixes "<userN> " once per read of the sender, not once per line:
    # counting its bytes would count wrong, so every receiver reads and counts lines.
    for cls, sampled in ((targets.Ncat, ["--sample-every", "1"]), (targets.Ngircd, [])):
        target = cls(Path("/nonexistent"), {})
        monkeypatch.setattr(target, "pids", lambda: [])
        cmd = cgen.command(target, Load(40))
        at = cmd.index("--sample-every") if "--sample-every" in cmd else len(cmd)
        assert cmd[at : at + 2] == sampled


def test_a_run_becomes_a_result_with_the_generator_share(monkeypatch):
    monkeypatch.setattr(scenarios, "drive", lambda target, load, args: dict(LOADGEN_LINE))
    target = targets.Relay(Path("/nonexistent"), {})
    args = argparse.Namespace(window=16, duration=1.0, generator="c")
    result = scenarios.rooms(target, 40, args)
    assert (result.scenario, result.server, result.clients) == ("rooms", "relay", 40)
    assert (result.delivered, result.expected, result.per_second) == (76, 76, 380)
    assert (result.generator, result.gen_cpu_pct) == ("c", 12.5)
    assert result.rss_after_kib == 2048 and result.extra["server_cpu_pct"] == 30


def test_a_generator_over_60_percent_of_a_core_is_flagged():
    calm = Result("fanout 100", "chatd", generator="c", gen_cpu_pct=60.0)
    busy = Result("fanout 100", "relay", generator="python", gen_cpu_pct=60.5)
    assert not report.saturated(calm) and report.saturated(busy)
    assert report.generator_cell(calm) == "c 60%"
    assert report.generator_cell(busy) == "python 60% !"
    warning = report.warnings([calm, busy])
    assert "fanout 100 / relay" in warning and "chatd" not in warning
    assert report.warnings([calm]) == ""
    lines = report.table([calm, busy]).splitlines()
    assert "generator CPU" in lines[0] and "vs relay" in lines[0]
    assert "c 60%" in lines[2] and "python 60% !" in lines[3]


def test_the_busiest_run_sets_the_generator_share_of_a_median():
    runs = [
        Result("rooms", "chatd", per_second=v, generator="c", gen_cpu_pct=g)
        for v, g in [(100.0, 20.0), (300.0, 75.0), (200.0, 30.0)]
    ]
    merged = report.median_result(runs)
    assert merged.per_second == 200.0
    assert (merged.generator, merged.gen_cpu_pct) == ("c", 75.0)
    assert report.saturated(merged)


def test_ratio_to_the_relay_is_in_chatd_row():
    results = [
        Result("rooms", "chatd", per_second=100.0),
        Result("rooms", "relay", per_second=400.0),
    ]
    assert report.ratios(results) == {("rooms", "relay"): 0.25}
    assert "0.25x" in report.table(results).splitlines()[2]


def test_without_the_c_generator_the_python_one_runs_and_says_so(capsys):
    ap = argparse.ArgumentParser()
    assert report.choose_generator(ap, "auto", built=False) == "python"
    assert "not built" in capsys.readouterr().err
    assert report.choose_generator(ap, "auto", built=True) == "c"
    assert report.choose_generator(ap, "python", built=True) == "python"
    with pytest.raises(SystemExit):
        report.choose_generator(ap, "c", built=False)


def test_rooms_is_a_scenario_of_100_rooms_of_20():
    func, clients, _ = scenarios.SCENARIOS["rooms"]
    assert func is scenarios.rooms and clients == 2000 and "rooms" in scenarios.NEEDS_ROOMS
    assert {targets.room_of(i, 2000, 100) for i in range(20)} == {0}
    assert targets.room_of(20, 2000, 100) == 1 and targets.room_of(1999, 2000, 100) == 99
    assert targets.Ncat.dialect(100) is None and targets.Relay.dialect(100) is not None


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """bench/relay.c and bench/loadgen.c compiled as make bench compiles them."""
    cc = shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler (cc): the relay and the C load generator cannot be built")
    out = tmp_path_factory.mktemp("bench-build")
    for name in ("relay", "loadgen"):
        source = Path(targets.__file__).parent / f"{name}.c"
        subprocess.run(
            [cc, "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(out / name), str(source)],
            check=True,
            timeout=60,
        )
    return out


@pytest.fixture
def relay(built):
    """The relay on a free port."""
    port = targets.free_port()
    proc = subprocess.Popen([str(built / "relay"), str(port)])
    deadline = time.monotonic() + 5
    while not _listening(port):  # no probe connection: it would be a guest in the room
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the relay did not listen within 5 s")
        time.sleep(0.02)
    yield port
    proc.terminate()
    proc.wait(5)


def _listening(port: int) -> bool:
    """True once something listens on the port (binding it then fails)."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _read_until(sock: socket.socket, end: bytes) -> bytes:
    data = b""
    while not data.endswith(end):
        chunk = sock.recv(4096)
        assert chunk, f"closed after {data!r}"
        data += chunk
    return data


def _greeted(port: int) -> tuple[socket.socket, bytes]:
    """A client of the relay, once greeted, and its nick."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=3)
    greeting = _read_until(sock, b")\r\n")
    lines = greeting.split(b"\r\n")
    match = re.fullmatch(rb"\*\*\* You are (guest\d+)", lines[-3])
    assert match, greeting
    nick = match.group(1)
    assert re.fullmatch(rb"\*\*\* You joined #lobby \(\d+ users?: .*\b%s\)" % nick, lines[-2])
    return sock, nick


def test_relay_greets_and_relays_a_line_to_the_others_only(relay):
    a, nick_a = _greeted(relay)
    b, nick_b = _greeted(relay)
    assert _read_until(a, b"\r\n") == b"*** %s joined #lobby\r\n" % nick_b
    a.sendall(b"hello there\r\n")
    assert _read_until(b, b"\r\n") == b"<%s> hello there\r\n" % nick_a
    b.sendall(b"/join r1\n")
    assert _read_until(b, b"\r\n") == b"*** You joined #r1 (1 user: %s)\r\n" % nick_b
    assert _read_until(a, b"\r\n") == b"*** %s left #lobby (joined #r1)\r\n" % nick_b
    b.sendall(b"alone in r1\n")  # reaches no one
    a.sendall(b"alone in the lobby\n/join r1\n")
    # The next line each sees is the join: neither saw the other room's line, nor its own.
    assert _read_until(b, b"\r\n") == b"*** %s joined #r1\r\n" % nick_a
    joined = _read_until(a, b"\r\n")
    assert joined == b"*** You joined #r1 (2 users: %s, %s)\r\n" % (nick_b, nick_a)
    a.close()
    assert _read_until(b, b"\r\n") == b"*** %s left #r1 (connection lost)\r\n" % nick_a
    b.close()


def test_c_generator_counts_split_marks_and_skips_cut_stamps(built):
    proc = subprocess.run(
        [str(built / "loadgen"), "--self-test"], capture_output=True, text=True, timeout=10
    )
    assert json.loads(proc.stdout) == {"self_test": "ok"}, proc.stderr
    assert proc.returncode == 0


def test_c_and_python_generators_agree_on_a_small_load(built, relay):
    target = targets.Relay(Path("/nonexistent"), {})
    target.port = relay
    load = Load(8, rooms=2, senders=2, window=4, duration=0.1)
    proc = subprocess.run(
        [str(built / "loadgen"), *cgen.command(target, load)[1:]],
        capture_output=True,
        text=True,
        timeout=20,
    )
    c = cgen.parse_output(proc.stdout, proc.stderr)
    python = generator.window_load(target, load)
    for out in (c, python):
        assert set(cgen.FIGURES) <= set(out)
        assert out["ready"] == 8 and out["closed"] == 0
        assert out["expected"] > 0 and out["delivered"] == out["expected"]
        assert 0 < out["p50_ms"] <= out["p99_ms"] <= out["max_ms"] < 1000
        assert out["slow_cut"] is None  # no silent reader in this load
        assert 0 <= out["gen_cpu_pct"] <= 200
    assert (c["generator"], python["generator"]) == ("c", "python")
    # In each room of 4, one reader samples and 3 count bytes they discard; their bytes
    # were exactly what their lines come to, or delivered would fall short above.
    assert (c["discarding"], c["byte_mismatch"]) == (6, 0)


def test_the_baseline_runs_the_chatd_of_its_own_tree(tmp_path, monkeypatch):
    from bench.targets import Baseline

    monkeypatch.delenv("CHATD_BASELINE", raising=False)
    assert not Baseline.available()
    (tmp_path / "chatd").mkdir()
    monkeypatch.setenv("CHATD_BASELINE", str(tmp_path))
    assert Baseline.available()
    command = Baseline(tmp_path, {}).command(10)
    assert command[1] == "-c" and repr(str(tmp_path.resolve())) in command[2]
    assert command[3:5] == ["--config", str(tmp_path / "chatd.yaml")]


def test_runs_interleave_across_servers(monkeypatch, tmp_path):
    """Run 1 of every server, then run 2: a machine that slows down mid-scenario must not
    land on one server's runs only."""
    import argparse

    from bench import report

    order: list[tuple[str, int]] = []

    class Fake:
        install = "nothing"

        def __init__(self, workdir, options) -> None:
            self.workdir = tmp_path / "w"

        @classmethod
        def available(cls) -> bool:
            return True

        @classmethod
        def dialect(cls, rooms: int = 1) -> object:
            return object()

        def start(self, clients: int) -> None:
            pass

        def stop(self) -> None:
            pass

    def scenario(target, clients, args):
        order.append((target.name, sum(1 for n, _ in order if n == target.name)))
        return Result("s", target.name, clients, 1, 1, per_second=1.0)

    targets = {name: type(name, (Fake,), {"name": name}) for name in ("a", "b")}
    monkeypatch.setattr(report, "TARGETS", targets)
    monkeypatch.setattr(report, "SCENARIOS", {"s": (scenario, 2, {})})
    args = argparse.Namespace(scenarios=["s"], servers=["a", "b"], runs=3, idle_clients=1)
    results = report.run(args)
    assert order == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    assert [r.server for r in results] == ["a", "b"]
