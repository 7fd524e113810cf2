"""Record lines, incremental reading, merging and the summaries suites and plots use."""

from __future__ import annotations

from progressive.load.recording import (
    Record,
    RecordFileReader,
    Records,
    failure_count,
    format_line,
    is_failure,
    merge,
    parse_lines,
    per_second,
    read_record_file,
    share,
    status_counts,
    version_counts,
)


def test_a_line_round_trips_even_with_commas_in_the_version():
    out = Records()
    text = format_line(1700000000.123456, 500, 12.5, "v2,rc1") + format_line(1700000000.5, 0, 3.0, "")
    assert parse_lines(text, out) == 2
    assert list(out) == [
        Record(1700000000.123456, "v2,rc1", 500, 12.5),
        Record(1700000000.5, "", 0, 3.0),
    ]


def test_the_reader_returns_only_complete_lines_and_resumes(tmp_path):
    path = tmp_path / "records.csv"
    reader, out = RecordFileReader(path), Records()
    assert reader.read_new(out) == 0  # no file yet
    line = format_line(10.0, 200, 1.0, "v1")
    path.write_text(line + line[:7])  # the writer is in the middle of a line
    assert reader.read_new(out) == 1
    with open(path, "a") as f:
        f.write(line[7:] + line)
    assert reader.read_new(out) == 2
    assert reader.read_new(out) == 0
    assert len(out) == 3 and set(out.version) == {"v1"}


def test_merge_orders_several_files_by_time(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text(format_line(1.0, 200, 1, "v1") + format_line(3.0, 200, 1, "v1"))
    b.write_text(format_line(2.0, 200, 1, "v2") + format_line(4.0, 200, 1, "v2"))
    merged = merge([read_record_file(a), read_record_file(b)])
    assert list(merged.t) == [1.0, 2.0, 3.0, 4.0]
    assert merged.version == ["v1", "v2", "v1", "v2"]


def _sample() -> Records:
    return Records.from_rows([
        (100.1, "v1", 200, 1.0),
        (100.6, "v2", 500, 1.0),
        (101.2, "v1", 404, 1.0),
        (103.9, "", 0, 1.0),
        (103.95, "v2", 200, 1.0),
    ])


def test_failures_are_connection_errors_and_5xx_only():
    assert [is_failure(s) for s in (0, 200, 404, 499, 500, 503)] == [
        True, False, False, False, True, True]
    assert failure_count(_sample()) == 2


def test_counts_by_version_and_status():
    assert version_counts(_sample()) == {"v1": 2, "v2": 2, "": 1}
    assert status_counts(_sample()) == {200: 2, 500: 1, 404: 1, 0: 1}


def test_share_of_a_version_in_a_window():
    records = _sample()
    assert share(records, "v2").k == 2 and share(records, "v2").n == 5
    window = share(records, "v2", t0=100.5, t1=102.0)  # [t0, t1)
    assert (window.k, window.n, window.share) == (1, 2, 0.5)
    assert share(Records(), "v1").share == 0.0


def test_per_second_series_has_every_second_including_empty_ones():
    seconds = per_second(_sample())
    assert [s.t for s in seconds] == [100, 101, 102, 103]
    assert [s.n for s in seconds] == [2, 1, 0, 2]
    assert [s.failures for s in seconds] == [1, 0, 0, 1]
    assert seconds[0].share("v2") == 0.5 and seconds[2].share("v2") == 0.0
    assert per_second(Records()) == []


def test_windows_by_completion_and_by_whole_request():
    records = Records.from_rows([(10.0, "v1", 200, 500.0), (10.6, "v1", 200, 100.0)])
    assert len(records.between(10.0, 10.6)) == 1
    inside = records.started_and_completed_within(10.0, 11.0)  # the first started at 9.5
    assert list(inside.t) == [10.6]
