"""PNG plots of a rollout for the Allure report: the weight timeline, the share per step, a split.

The suites' rollouts (progressive.testing.observe_rollout) attach `attach_rollout_plots`, also
when the rollout fails; the preview tests `attach_split_plot`. Plots are drawn on a bare `matplotlib.figure.Figure`
(rendered by the Agg backend when saved as PNG), never through pyplot, so no display, no global
figure state and no backend switch; matplotlib is imported only when a plot is drawn, so
importing `reports` stays cheap.

Every share is in percent of the requests answered by some version (connection errors and other
records with no version are left out); acceptance intervals come from progressive.load.timeline.join
(progressive.stats.acceptance_interval: exact binomial, false-alarm probability `alpha`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from progressive.load.recording import Records, per_second
from progressive.load.timeline import StepShare, WeightStep, WeightTimeline, join

WEIGHT_COLOUR = "#1f6fb4"
SHARE_COLOUR = "#2a9d4b"
FAIL_COLOUR = "#d62728"
QUIET_COLOUR = "#888888"
ROLLOUT_PLOTS = ("canary weight over time", "observed share per step", "failed requests over time")
SPLIT_PLOT = "split per destination"


def _figure(width: float = 9.0, height: float = 4.5):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def _canary_percent(step: WeightStep) -> float:
    total = step.primary + step.canary
    return 100.0 * step.canary / total if total > 0 else 0.0


def weight_timeline_png(steps: list[WeightStep], path: Path, records: Records | None = None,
                        canary_version: str | None = None,
                        shares: list[StepShare] | None = None) -> Path:
    """The router's canary weight over time (step line); with `records`, the canary's observed
    share per second as dots, and the seconds with failed requests as crosses; with `shares`,
    each step's observed share (a bar) over its acceptance interval (a band), where it held."""
    return _save(weight_timeline_figure(steps, records, canary_version, shares), path)


def _origin(steps: list[WeightStep], records: Records | None) -> float:
    starts = [s.first_seen for s in steps] + ([min(records.t)] if records else [])
    return min(starts) if starts else 0.0


def weight_timeline_figure(steps: list[WeightStep], records: Records | None = None,
                           canary_version: str | None = None,
                           shares: list[StepShare] | None = None):
    """weight_timeline_png's Figure (its lines carry the data drawn: tests read them)."""
    if records is not None and not canary_version:
        raise ValueError("canary_version is needed to plot the observed share")
    t0 = _origin(steps, records)
    fig = _figure()
    ax = fig.add_subplot()
    if steps:
        xs = [s.first_seen - t0 for s in steps] + [steps[-1].last_seen - t0]
        ys = [_canary_percent(s) for s in steps]
        ax.step(xs, ys + ys[-1:], where="post", color=WEIGHT_COLOUR, linewidth=2,
                label="canary weight in the router")
    else:
        ax.text(0.5, 0.5, "the router's weights were never read", transform=ax.transAxes,
                ha="center", color=QUIET_COLOUR)
    if records:
        every_second = per_second(records)
        seconds = [s for s in every_second if s.n - s.versions.get("", 0) > 0]
        ax.plot([s.t + 0.5 - t0 for s in seconds],
                [100.0 * s.versions.get(canary_version or "", 0) / (s.n - s.versions.get("", 0))
                 for s in seconds],
                "o", color=SHARE_COLOUR, markersize=4,
                label=f"observed share of {canary_version} per second")
        failing = [s for s in every_second if s.failures]
        if failing:
            ax.plot([s.t + 0.5 - t0 for s in failing], [100.0 * s.failures / s.n for s in failing],
                    "x", color=FAIL_COLOUR, markersize=7,
                    label="failed requests per second (% of that second)")
    for n, share in enumerate(s for s in shares or [] if s.n):
        lo, hi = 100.0 * share.interval[0] / share.n, 100.0 * share.interval[1] / share.n
        colour = SHARE_COLOUR if share.consistent else FAIL_COLOUR
        ax.fill_between([share.t0 - t0, share.t1 - t0], lo, hi, color=colour, alpha=0.2,
                        linewidth=0, label="acceptance interval of the step" if n == 0 else None)
        ax.plot([share.t0 - t0, share.t1 - t0], [100.0 * share.share] * 2, color=colour,
                linewidth=3, gid="step-share",
                label="observed share over the step" if n == 0 else None)
    ax.set_ylim(-3, 103)
    ax.set_xlim(left=0)
    ax.set_title("Canary weight over time" + (" and the traffic observed" if records else ""))
    ax.set_xlabel("seconds since the first observation")
    ax.set_ylabel("canary share of traffic (%)")
    ax.grid(True, alpha=0.3)
    if steps or records:
        ax.legend(loc="upper left", fontsize="small")
    return fig


def failures_png(records: Records, path: Path, steps: list[WeightStep] | None = None) -> Path:
    """Failed requests (no answer or a 5xx) per second over the run, on the timeline's clock."""
    return _save(failures_figure(records, steps), path)


def failures_figure(records: Records, steps: list[WeightStep] | None = None):
    """failures_png's Figure: one bar per second with its failed requests."""
    t0 = _origin(list(steps or []), records)
    fig = _figure(9.0, 3.2)
    ax = fig.add_subplot()
    seconds = per_second(records) if records else []
    ax.bar([s.t + 0.5 - t0 for s in seconds], [s.failures for s in seconds], width=0.9,
           color=FAIL_COLOUR, gid="failures")
    total = sum(s.failures for s in seconds)
    ax.set_title(f"Failed requests over time: {total} of {len(records) if records else 0}")
    if not total:
        ax.text(0.5, 0.5, "no request failed", transform=ax.transAxes, ha="center",
                color=QUIET_COLOUR)
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("seconds since the first observation")
    ax.set_ylabel("failed requests per second")
    ax.grid(True, axis="y", alpha=0.3)
    return fig


def step_shares_png(shares: list[StepShare], path: Path) -> Path:
    """Per weight step: the configured weight, the observed share and the acceptance interval
    (the bar: where the share must fall for the step to pass), failing steps in red."""
    fig = _figure(max(7.0, 1.0 + 0.9 * len(shares)), 4.8)
    ax = fig.add_subplot()
    xs = list(range(1, len(shares) + 1))
    for x, s in zip(xs, shares, strict=True):
        expected = 100.0 * s.expected_share
        ax.plot([x - 0.3, x + 0.3], [expected, expected], color=WEIGHT_COLOUR, linewidth=2,
                label="configured weight" if x == 1 else None)
        if s.n == 0:
            ax.annotate("no requests", (x, expected), textcoords="offset points",
                        xytext=(0, 8), ha="center", fontsize="x-small", color=QUIET_COLOUR)
            continue
        colour = SHARE_COLOUR if s.consistent else FAIL_COLOUR
        lo, hi = 100.0 * s.interval[0] / s.n, 100.0 * s.interval[1] / s.n
        ax.vlines(x, lo, hi, color=colour, linewidth=1.5)
        ax.plot([x - 0.1, x + 0.1, None, x - 0.1, x + 0.1], [lo, lo, None, hi, hi], color=colour)
        ax.plot([x], [100.0 * s.share], "o", color=colour, markersize=6)
    ax.plot([], [], "o-", color=SHARE_COLOUR, label="observed share, acceptance interval")
    if any(s.n and not s.consistent for s in shares):
        ax.plot([], [], "o-", color=FAIL_COLOUR, label="outside the acceptance interval")
    alpha = shares[0].alpha if shares else None
    ax.set_title("Observed canary share per weight step"
                 + (f"\n(false-alarm probability {alpha:g} per step)" if alpha else ""))
    ax.set_xticks(xs, [f"{s.canary_weight}%\nn={s.n}" for s in shares])
    ax.set_xlim(0.3, len(shares) + 0.7)
    ax.set_ylim(-3, 103)
    ax.set_xlabel("canary weight step (in the order the router held them)")
    ax.set_ylabel("canary share of traffic (%)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    return _save(fig, path)


def split_png(destinations: list[dict], path: Path) -> Path:
    """A fixed split (the 1% preview): one panel per destination, each zoomed on its own
    acceptance interval so that a 1% destination is as readable as a 99% one.

    Each destination is a dict: `name`, `weight` (as configured), `share`, `lo`, `hi` (the
    observed share and the acceptance interval for it, as fractions), optionally `n`.
    """
    total = sum(d["weight"] for d in destinations) or 1
    fig = _figure(max(4.0, 3.0 * len(destinations)), 4.0)
    axes = fig.subplots(1, max(1, len(destinations)), squeeze=False)[0]
    for ax, d in zip(axes, destinations, strict=False):
        expected = 100.0 * d["weight"] / total
        share, lo, hi = 100.0 * d["share"], 100.0 * d["lo"], 100.0 * d["hi"]
        colour = SHARE_COLOUR if lo <= share <= hi else FAIL_COLOUR
        ax.axhspan(lo, hi, color=colour, alpha=0.15, label="acceptance interval")
        ax.axhline(expected, color=WEIGHT_COLOUR, linewidth=2, label="configured weight")
        ax.plot([0], [share], "o", color=colour, markersize=8, label="observed share")
        span = max(hi - lo, abs(share - expected), 0.1)
        ax.set_ylim(min(lo, share) - 0.4 * span, max(hi, share) + 0.4 * span)
        ax.set_xlim(-1, 1)
        ax.set_xticks([])
        n = f", n={d['n']}" if d.get("n") is not None else ""
        ax.set_title(f"{d['name']}\nweight {d['weight']}{n}", fontsize="small")
        ax.set_ylabel("share of requests (%)")
        ax.grid(True, axis="y", alpha=0.3)
    axes[0].legend(loc="best", fontsize="x-small")
    fig.suptitle("Fixed split: observed share per destination")
    return _save(fig, path)


def destination_rows(shares) -> list[dict]:
    """split_png's input from progressive.preview.DestinationShare-like objects."""
    return [
        {"name": s.host, "weight": s.weight, "share": s.share, "n": s.n,
         "lo": s.accept[0] / s.n if s.n else 0.0, "hi": s.accept[1] / s.n if s.n else 0.0}
        for s in shares
    ]


def attach_rollout_plots(timeline: WeightTimeline | list[WeightStep], records: Records,
                         canary_version: str, shares: list[StepShare] | None = None,
                         dest: Path | None = None) -> list[Path]:
    """Draw the weight timeline (the steps' shares over it), the per-step shares and the
    failed requests over time, and attach the three to the Allure result.

    `shares` defaults to join(timeline, records, canary_version). The PNGs go to `dest` (kept)
    or to a temporary directory removed after attaching (Allure copies what it attaches).
    Outside an Allure run the attachments are silently dropped. Returns the paths written.
    """
    from progressive.reports.allure_helpers import attach_file

    steps = timeline.steps if isinstance(timeline, WeightTimeline) else list(timeline)
    if shares is None:
        shares = join(steps, records, canary_version)
    with tempfile.TemporaryDirectory(prefix="progressive-plots-") as tmp:
        out = Path(dest) if dest is not None else Path(tmp)
        paths = [
            weight_timeline_png(steps, out / "weight-timeline.png", records, canary_version,
                                shares),
            step_shares_png(shares, out / "share-per-step.png"),
            failures_png(records, out / "failed-requests.png", steps),
        ]
        for path, name in zip(paths, ROLLOUT_PLOTS, strict=True):
            attach_file(path, name=name)
    return paths


def attach_split_plot(shares, dest: Path | None = None) -> Path:
    """Draw a fixed split (progressive.preview.DestinationShare-like objects) and attach it."""
    from progressive.reports.allure_helpers import attach_file

    with tempfile.TemporaryDirectory(prefix="progressive-plots-") as tmp:
        path = split_png(destination_rows(shares), (Path(dest) if dest else Path(tmp)) / "split.png")
        attach_file(path, name=SPLIT_PLOT)
    return path
