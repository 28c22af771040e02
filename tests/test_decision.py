"""The HRS filter's one decision path: its sample, what it knows there, and the same answer live and offline
(on real ECG: tests/data/ecg/ecg_1000hz.csv, NeuroKit's data, MIT)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from inference.decision import HrsFilter
from inference.signal.causal import CausalHeartRate

FS = 1000.0
ECG = np.loadtxt(Path(__file__).parent / "data" / "ecg" / "ecg_1000hz.csv", delimiter=",", skiprows=1)


def _heart(upto: int, block: int = 250) -> CausalHeartRate:
    heart = CausalHeartRate(FS)
    for first in range(0, upto, block):
        heart.push(ECG[first : min(first + block, upto)])
    return heart


def test_settings_are_checked() -> None:
    for bad in ({"eta": math.nan}, {"eta": -1.0}, {"baseline": "future"}, {"trailing_s": 0.0},
                {"timeout_s": math.inf}):
        with pytest.raises(ValueError):
            HrsFilter(**bad)


def test_the_decision_waits_for_the_beat_after_the_apex_then_is_final() -> None:
    hrs = HrsFilter()
    whole = _heart(len(ECG))
    apex = 20_000
    ready = apex + 800
    at = hrs.decision_sample(whole, apex, ready)
    assert at is not None and at >= ready
    covered = whole.covered_at(apex)
    assert covered is not None and at == max(ready, covered)
    # live: fed only up to the decision sample, the heart gives the same answer as the whole recording
    live = _heart(at)
    assert hrs.decision_sample(live, apex, ready) == at
    assert hrs.decide(live, apex, 0, at) == hrs.decide(whole, apex, 0, at)
    assert hrs.decision_sample(_heart(at - 1), apex, ready) is None  # a sample earlier: not yet


def test_genuine_rejected_unfiltered() -> None:
    whole = _heart(len(ECG))
    apex = 30_000
    at = HrsFilter().decision_sample(whole, apex, apex + 800)
    decision, hrs_apex, hrs_mean = HrsFilter(eta=0.0).decide(whole, apex, 0, at)
    assert (decision == "genuine") == (hrs_apex > 0) and math.isfinite(hrs_mean)
    assert HrsFilter(eta=1e6).decide(whole, apex, 0, at)[0] == "rejected"
    assert HrsFilter(enabled=False).decide(whole, apex, 0, at)[0] == "unfiltered"
    assert HrsFilter().decide(_heart(2000), 1500, 0, 2000)[0] == "unfiltered"  # no beats yet


def test_trailing_baseline_reads_only_the_last_seconds() -> None:
    whole = _heart(len(ECG))
    at = 45_000
    trial = HrsFilter().baseline_mean(whole, 0, at)
    trailing = HrsFilter(baseline="trailing", trailing_s=10.0).baseline_mean(whole, 0, at)
    assert trailing == pytest.approx(whole.mean_hrs(at - 10_000, at, upto=at))
    assert trial == pytest.approx(whole.mean_hrs(0, at, upto=at))
