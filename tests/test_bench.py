"""The benchmark's own plumbing: counting, parsing, medians, ratios, report, arguments."""

from __future__ import annotations

import json

import pytest

from bench import generator, report
from bench.generator import Result, count_marks, last_stamp, stamp_line


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
    names = set(generator.SCENARIOS)
    assert {"fanout10", "fanout100", "fanout500", "rate", "idle", "slowreader", "flood"} <= names


def test_main_writes_json_for_an_empty_selection(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(report, "run", lambda args, save: [Result("rate", "chatd", p99_ms=0.5)])
    out = tmp_path / "r.json"
    assert report.main(["--json", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["results"][0]["p99_ms"] == 0.5
    assert "rate" in capsys.readouterr().out
