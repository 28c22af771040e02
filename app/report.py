"""The session report: ECG, heart rate with its mean, HRS with the eta x mean line, the model score with its
threshold, and the spotted and ground-truth intervals on one time axis (like the CMCL-Net paper's
visual-inspection figure)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from acquisition.readers.annotations import Interval
from inference.alerts import Alert
from inference.engine import SpottingEngine

MAX_ECG_POINTS = 20000  # plotted ECG points (decimated beyond)
COLOURS = {"genuine": "tab:green", "rejected": "tab:red", "unfiltered": "tab:orange", "truth": "tab:blue"}


def write_report(path: Path, engine: SpottingEngine, truth: Sequence[Interval] = (), title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rate = engine.ecg_rate
    ecg, first = engine.ecg.get(engine.ecg.start, engine.ecg.end)
    t_ecg = (first + np.arange(len(ecg))) / rate
    step = max(1, len(ecg) // MAX_ECG_POINTS)
    stop = engine.heart.samples_seen
    hr = engine.heart.rate_curve(first, stop)[::step] if stop > first else np.zeros(0)
    slope = engine.heart.hrs_curve(first, stop)[::step] if stop > first else np.zeros(0)
    t_hr = (first + np.arange(0, max(stop - first, 0), step)) / rate
    hrs = engine.settings.hrs
    hrs_mean = hrs.baseline_mean(engine.heart, engine.trial_start_sample, stop)

    fig, axes = plt.subplots(
        5, 1, figsize=(14, 10), sharex=True, gridspec_kw={"height_ratios": [2, 1.2, 1.2, 1.2, 0.9]}
    )
    axes[0].plot(t_ecg[::step], ecg[::step], lw=0.5, color="k")
    axes[0].set_ylabel("ECG (mV)")
    axes[1].plot(t_hr, hr, color="tab:purple", lw=1)
    if np.isfinite(hr).any():
        axes[1].axhline(float(np.nanmean(hr)), color="tab:purple", ls="--", lw=0.8, label="mean")
        axes[1].legend(loc="upper right", fontsize=8)
    axes[1].set_ylabel("HR (bpm)")
    axes[2].plot(t_hr, slope, color="tab:brown", lw=1)
    if np.isfinite(hrs_mean):
        label = f"eta x {hrs.baseline} mean at the end ({hrs.eta:g} x {hrs_mean:.1f})"
        axes[2].axhline(hrs.eta * hrs_mean, color="tab:red", ls="--", lw=0.8, label=label)
        axes[2].legend(loc="upper right", fontsize=8)
    axes[2].set_ylabel("HRS (bpm/s)")
    spotter = engine.spotter
    scores = np.asarray(spotter.trace, dtype=float)
    axes[3].plot(np.asarray(spotter.trace_ms) / 1000.0, scores, color="tab:gray", lw=0.8)
    axes[3].axhline(engine.threshold, color="k", ls=":", lw=0.8, label=f"threshold {engine.threshold:.2f}")
    top = max(1.0, 1.1 * float(np.nanmax(scores))) if np.isfinite(scores).any() else 1.0
    axes[3].set_ylim(0, top)
    axes[3].set_ylabel(spotter.score_label)
    axes[3].legend(loc="upper right", fontsize=8)
    _intervals(axes[4], engine.alerts, truth, engine.fps)
    for ax in axes[:4]:
        for alert in engine.alerts:
            ax.axvspan(alert.onset_s, alert.offset_s, color=COLOURS[alert.decision], alpha=0.15)
    axes[4].set_xlabel("time (s, from the first trigger pulse)")
    fig.suptitle(title or f"mespot: {engine.session_id}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _intervals(ax, alerts: Sequence[Alert], truth: Sequence[Interval], fps: float) -> None:
    for interval in truth:
        ax.axvspan(
            interval.onset / fps,
            (interval.offset + 1) / fps,
            ymin=0.55,
            ymax=0.95,
            color=COLOURS["truth"],
            alpha=0.8 if interval.kind == "ME" else 0.3,
        )
    for alert in alerts:
        ax.axvspan(
            alert.onset_s,
            alert.offset_s,
            ymin=0.05,
            ymax=0.45,
            color=COLOURS[alert.decision],
            alpha=0.8 if alert.kind == "ME" else 0.4,
        )
    ax.set_yticks([0.25, 0.75], ["spotted", "truth"])
    ax.set_ylim(0, 1)
