"""The rollout plots: valid PNGs, readable, failing steps drawn in red, attached to Allure."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from rollout_data import T0, rollout

from progressive.load.timeline import join
from progressive.reports import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the IHDR chunk; fails unless the file is a PNG."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def red_pixels(path: Path) -> int:
    """Pixels drawn in the plots' failure colour (#d62728), give or take antialiasing."""
    from matplotlib.image import imread

    rgb = (imread(path)[..., :3] * 255).round()
    target = [0xD6, 0x27, 0x28]
    return int((abs(rgb - target).max(axis=-1) <= 12).sum())


def test_importing_reports_leaves_matplotlib_unloaded():
    code = ("import sys, progressive.reports.plots, progressive.reports.html, progressive.reports.conformance; "
            "sys.exit('matplotlib' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


class TestWeightTimeline:
    def test_weights_and_observed_share(self, tmp_path: Path):
        steps, records = rollout([0, 10, 20, 50, 100])
        out = plots.weight_timeline_png(steps, tmp_path / "t.png", records, "v2")
        assert png_size(out) == (900, 450)
        assert red_pixels(out) == 0  # no failed request, no red cross

    def test_seconds_with_failed_requests_are_marked(self, tmp_path: Path):
        steps, records = rollout([0, 50])
        for i in range(20):
            records.append(T0 + 1.0 + i * 0.01, "", 503, 2.0)
        out = plots.weight_timeline_png(steps, tmp_path / "t.png", records, "v2")
        assert red_pixels(out) > 0

    def test_weights_alone(self, tmp_path: Path):
        steps, _ = rollout([0, 10, 100])
        assert png_size(plots.weight_timeline_png(steps, tmp_path / "t.png")) == (900, 450)

    def test_no_weights_seen_still_draws(self, tmp_path: Path):
        assert png_size(plots.weight_timeline_png([], tmp_path / "t.png"))[0] > 0

    def test_records_need_the_canary_version(self, tmp_path: Path):
        steps, records = rollout([0, 10])
        with pytest.raises(ValueError, match="canary_version"):
            plots.weight_timeline_png(steps, tmp_path / "t.png", records)


class TestStepShares:
    def test_consistent_steps_are_not_red(self, tmp_path: Path):
        steps, records = rollout([0, 10, 20, 50, 100])
        shares = join(steps, records, "v2")
        assert all(s.consistent for s in shares)
        out = plots.step_shares_png(shares, tmp_path / "s.png")
        assert png_size(out)[0] >= 700
        assert red_pixels(out) == 0

    def test_a_failing_step_is_red(self, tmp_path: Path):
        # step 3 holds weight 20 but serves 45%: ~495 requests, far outside the interval
        steps, records = rollout([0, 10, 20, 50], served={2: 45})
        shares = join(steps, records, "v2")
        assert [s.consistent for s in shares] == [True, True, False, True]
        assert red_pixels(plots.step_shares_png(shares, tmp_path / "s.png")) > 50

    def test_a_step_without_requests(self, tmp_path: Path):
        steps, records = rollout([0, 10])
        steps[1].last_seen = steps[1].first_seen + 0.01  # shorter than the guards: n = 0
        shares = join(steps, records, "v2")
        assert shares[1].n == 0
        assert png_size(plots.step_shares_png(shares, tmp_path / "s.png"))[0] > 0


def test_split_png_zooms_on_each_destination(tmp_path: Path):
    destinations = [
        {"name": "croc-hunter.prod", "weight": 99, "share": 0.9905, "lo": 0.9874, "hi": 0.9925,
         "n": 20000},
        {"name": "croc-hunter.pr-42", "weight": 1, "share": 0.0095, "lo": 0.0075, "hi": 0.0126,
         "n": 20000},
    ]
    out = plots.split_png(destinations, tmp_path / "split.png")
    assert png_size(out) == (600, 400)
    assert red_pixels(out) == 0
    destinations[1]["share"] = 0.031
    assert red_pixels(plots.split_png(destinations, tmp_path / "bad.png")) > 20


def test_attach_outside_an_allure_run_writes_the_pngs(tmp_path: Path):
    steps, records = rollout([0, 10, 100])
    paths = plots.attach_rollout_plots(steps, records, "v2", dest=tmp_path)
    assert [p.name for p in paths] == ["weight-timeline.png", "share-per-step.png",
                                       "failed-requests.png"]
    assert all(png_size(p)[0] > 0 for p in paths)


def test_attached_to_the_allure_result(allure_run):
    results = [json.loads(p.read_text()) for p in allure_run.results.glob("*-result.json")]
    stepping = next(r for r in results if r["name"] == "test_stepping")
    attached = {a["name"]: a for a in stepping["attachments"]}
    assert set(attached) == set(plots.ROLLOUT_PLOTS)
    for a in attached.values():
        assert a["type"] == "image/png"
        assert png_size(allure_run.results / a["source"])[0] > 0


def distinct_colours(path: Path) -> int:
    from matplotlib.image import imread

    rgb = (imread(path)[..., :3] * 255).round().astype(int)
    return len({tuple(px) for px in rgb.reshape(-1, 3)[::7]})


class TestWhatThePlotsShow:
    """The data behind each plot is the rollout's: the steps' weights, each step's observed
    share and interval, the failed requests per second; and the images are drawn, not blank."""

    def test_the_timeline_draws_the_weights_and_each_steps_share_over_its_interval(self):
        steps, records = rollout([0, 10, 20, 50, 100], served={2: 35})
        shares = join(steps, records, "v2")
        ax = plots.weight_timeline_figure(steps, records, "v2", shares).axes[0]
        weight_line = ax.lines[0]
        assert list(weight_line.get_ydata())[:-1] == [float(s.canary) for s in steps]
        assert list(weight_line.get_xdata())[:-1] == [s.first_seen - T0 for s in steps]
        drawn = [line for line in ax.lines if line.get_gid() == "step-share"]
        counted = [s for s in shares if s.n]
        assert [line.get_ydata()[0] for line in drawn] == [100 * s.share for s in counted]
        assert [tuple(line.get_xdata()) for line in drawn] == [(s.t0 - T0, s.t1 - T0) for s in counted]
        assert [line.get_color() for line in drawn].count(plots.FAIL_COLOUR) == \
            sum(1 for s in counted if not s.consistent) == 1  # step 2 served 35% at weight 20

    def test_the_failures_plot_counts_failed_requests_per_second(self):
        steps, records = rollout([0, 50])
        for i in range(30):
            records.append(T0 + 1.0 + i * 0.01, "", 503, 2.0)
        ax = plots.failures_figure(records, steps).axes[0]
        heights = {round(b.get_x() + b.get_width() / 2, 2): b.get_height() for b in ax.patches}
        assert heights[1.5] == 30 and sum(heights.values()) == 30
        assert "30 of" in ax.get_title()

    def test_the_images_are_drawn_not_blank(self, tmp_path: Path):
        steps, records = rollout([0, 10, 20, 50, 100])
        for path in plots.attach_rollout_plots(steps, records, "v2", dest=tmp_path):
            assert distinct_colours(path) > 20, f"{path.name} is blank or uniform"


def test_the_conformance_report_names_each_tests_attachments(allure_run):
    import yaml

    tests = {t["name"]: t for p in yaml.safe_load(allure_run.conformance.read_text())["profiles"]
             for t in p["tests"]}
    assert tests["canary-stepping"]["attachments"] == list(plots.ROLLOUT_PLOTS)
    assert tests["preview-split"]["attachments"] == [plots.SPLIT_PLOT]  # failed, plot attached
    assert "attachments" not in tests["mirroring"]
