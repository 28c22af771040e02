"""Synthetic ECG (hardware_mocks.synth.ecg): physiological, detectable by an independent detector
(neurokit2), and with heart-rate responses timed as in the psychophysiology literature.

Nothing here uses the project's own ECG processing (``inference``): the generator must not be tuned to it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import neurokit2 as nk
import numpy as np
import pytest

from hardware_mocks.synth.ecg import (
    DEFAULT_HEART_RATE_PROFILE,
    HeartRateProfile,
    HeartRateResponse,
    simulate_ecg,
    simulate_heart_rate,
)
from hardware_mocks.synth.timeline import TimelineProfile, draw_response

FS = 1000.0
DURATION_S = 60.0
PEAK_TOLERANCE_S = 0.020
EDGE_S = 0.5  # beats this close to the recording's ends are not required to be found
SEEDS = tuple(range(6))
RESPONSES_PER_TRIAL = 6
NOISELESS = {"noise_mv": 0.0, "baseline_wander_mv": 0.0, "powerline_mv": 0.0}

pytestmark = pytest.mark.filterwarnings("ignore::Warning")  # neurokit2 / pandas deprecation chatter


def _onsets(seed: int, count: int, duration_s: float = DURATION_S) -> list[float]:
    """``count`` event onsets spread over the trial (evenly, jittered by +-1 s), from their own rng."""
    if count == 0:
        return []
    rng = np.random.default_rng([seed, 1])
    evenly = np.linspace(3.0, duration_s - 12.0, count)
    return sorted((evenly + rng.uniform(-1.0, 1.0, count)).tolist())


@dataclass(frozen=True)
class Trial:
    heart_rate: np.ndarray
    ecg: np.ndarray
    true_peaks: np.ndarray
    peaks: np.ndarray  # found by neurokit2
    responses: list[HeartRateResponse]


def _trial(seed: int, n_responses: int = RESPONSES_PER_TRIAL, duration_s: float = DURATION_S) -> Trial:
    drawer = np.random.default_rng([seed, 2])
    responses = [draw_response(drawer, onset, TimelineProfile()) for onset in _onsets(seed, n_responses)]
    rng = np.random.default_rng(seed)
    heart_rate = simulate_heart_rate(duration_s, FS, rng, responses=responses)
    ecg, true_peaks = simulate_ecg(heart_rate, FS, rng)
    _, info = nk.ecg_peaks(nk.ecg_clean(ecg, sampling_rate=int(FS)), sampling_rate=int(FS))
    return Trial(heart_rate, ecg, true_peaks, np.asarray(info["ECG_R_Peaks"]), responses)


def beat_rate(peaks: np.ndarray, n: int) -> np.ndarray:
    """Heart rate (bpm) from R-peak samples, as 60 / RR held from each beat to the next."""
    rate = np.full(n, np.nan)
    bpm = 60.0 * FS / np.diff(peaks)
    for start, stop, value in zip(peaks[1:], np.r_[peaks[2:], n], bpm, strict=True):
        rate[start:stop] = value
    return rate


# ----------------------------------------------------------------------------------------------------------


def test_same_seed_same_signal_other_seed_other_signal() -> None:
    first, again, other = _trial(3), _trial(3), _trial(4)
    np.testing.assert_array_equal(first.heart_rate, again.heart_rate)
    np.testing.assert_array_equal(first.ecg, again.ecg)
    np.testing.assert_array_equal(first.true_peaks, again.true_peaks)
    assert not np.array_equal(first.ecg, other.ecg)


def test_responses_add_to_the_same_background() -> None:
    responses = [HeartRateResponse(10.0), HeartRateResponse(30.0, amplitude_bpm=8.0, deceleration_bpm=2.0)]
    quiet = simulate_heart_rate(DURATION_S, FS, np.random.default_rng(7))
    excited = simulate_heart_rate(DURATION_S, FS, np.random.default_rng(7), responses=responses)
    t = np.arange(quiet.size) / FS
    np.testing.assert_allclose(excited - quiet, responses[0].curve(t) + responses[1].curve(t), atol=1e-9)


def test_response_shape_follows_its_timing() -> None:
    r = HeartRateResponse(onset_s=5.0, amplitude_bpm=6.0, latency_s=1.0, peak_s=3.0, recovery_s=5.0,
                          deceleration_bpm=2.0, deceleration_latency_s=0.3, deceleration_s=1.5)
    t = np.arange(0, 20.0, 1 / FS)
    curve = r.curve(t)
    assert np.all(curve[t <= r.onset_s + 0.3] == 0)
    assert curve[(t > 5.5) & (t < 6.2)].min() < -0.5  # the orienting dip comes first
    assert t[np.argmax(curve)] == pytest.approx(8.0, abs=2 / FS)
    assert curve.max() == pytest.approx(6.0, abs=1e-6)
    assert np.all(curve[t >= r.end_s] == 0) and r.end_s == pytest.approx(13.0)
    slope = np.gradient(curve, 1 / FS)
    assert -slope[t > 8.0].min() < slope.max()  # slower recovery than rise
    with pytest.raises(ValueError):
        HeartRateResponse(1.0, latency_s=2.0, peak_s=1.0)


def test_drawn_responses_have_the_literature_timing() -> None:
    profile = TimelineProfile()
    rng = np.random.default_rng(4)
    drawn = [draw_response(rng, 0.0, profile) for _ in range(500)]
    latency = np.array([r.latency_s for r in drawn])
    peak = np.array([r.peak_s for r in drawn])
    amplitude = np.array([r.amplitude_bpm for r in drawn])
    assert latency.min() >= 0.5 and latency.max() <= 1.5
    assert peak.min() >= 2.0 and peak.max() <= 4.0
    assert amplitude.min() >= 3.0 and amplitude.max() <= 10.0
    assert 0.2 <= np.mean([r.deceleration_bpm > 0 for r in drawn]) <= 0.4  # some orienting responses
    assert np.std(peak) > 0.3 and np.std(amplitude) > 1.0  # drawn with spread


def test_measured_heart_rate_rises_a_few_seconds_after_each_event() -> None:
    """Event-related average of the beat-to-beat rate (true R-peaks): higher 2-4 s after the onsets than in
    the second before them, by a few bpm."""
    rises = []
    for seed in SEEDS:
        trial = _trial(seed)
        rate = beat_rate(trial.true_peaks, trial.ecg.size)
        for r in trial.responses:
            i = int(r.onset_s * FS)
            before = np.nanmean(rate[i - int(FS) : i])
            after = np.nanmean(rate[i + int(2 * FS) : i + int(4 * FS)])
            rises.append(after - before)
    assert 2.0 <= np.median(rises) <= 10.0
    assert np.mean(np.array(rises) > 0) >= 0.8


def test_heart_rate_is_physiological() -> None:
    for seed in SEEDS:
        trial = _trial(seed)
        assert trial.heart_rate.min() >= 45.0 and trial.heart_rate.max() <= 120.0
        beat_rates = 60.0 * FS / np.diff(trial.peaks)
        assert beat_rates.min() >= 40.0 and beat_rates.max() <= 120.0
    quiet = simulate_heart_rate(DURATION_S, FS, np.random.default_rng(0))
    assert abs(np.mean(quiet) - DEFAULT_HEART_RATE_PROFILE.base_bpm) < 5.0
    slow = simulate_heart_rate(
        DURATION_S, FS, np.random.default_rng(0), profile=HeartRateProfile(base_bpm=60.0)
    )
    np.testing.assert_allclose(slow, quiet - 10.0)
    np.testing.assert_allclose(
        simulate_heart_rate(DURATION_S, FS, np.random.default_rng(0), base_bpm=60.0), slow
    )


def test_neurokit_finds_the_true_r_peaks() -> None:
    for seed in SEEDS:
        trial = _trial(seed)
        n = trial.ecg.size
        truth = trial.true_peaks[(trial.true_peaks > EDGE_S * FS) & (trial.true_peaks < n - EDGE_S * FS)]
        distance = np.min(np.abs(truth[:, None] - trial.peaks[None, :]), axis=1)
        assert np.mean(distance <= PEAK_TOLERANCE_S * FS) >= 0.98
        spurious = np.min(np.abs(trial.peaks[:, None] - trial.true_peaks[None, :]), axis=1)
        assert np.mean(spurious <= PEAK_TOLERANCE_S * FS) >= 0.98


def test_ecg_output_types_and_morphology() -> None:
    ecg, peaks = simulate_ecg(np.full(10_000, 60.0), FS, np.random.default_rng(1), **NOISELESS)
    assert ecg.dtype == np.float64 and ecg.shape == (10_000,)
    assert peaks.dtype == np.int64 and peaks.size in (9, 10)
    assert np.all(np.abs(np.diff(peaks) - 1000) <= 1)
    assert np.median(ecg[peaks]) == pytest.approx(1.0, abs=0.1)  # R about amplitude_mv
    beat = ecg[peaks[4] - 350 : peaks[4] + 600]
    r = 350
    assert beat[r - 45 : r - 20].min() < 0  # Q
    assert beat[r + 20 : r + 60].min() < -0.1  # S
    assert beat[r - 300 : r - 100].max() > 0.1  # P
    assert beat[r + 150 : r + 450].max() > 0.2  # T


def test_qt_shortens_at_faster_rates() -> None:
    """The T-wave offset from R scales with sqrt(RR) (Bazett): at 120 bpm it is 1/sqrt(2) of that at 60."""
    offsets = {}
    for bpm in (60.0, 120.0):
        ecg, peaks = simulate_ecg(np.full(10_000, bpm), FS, np.random.default_rng(0), **NOISELESS)
        beat = peaks[3]
        offsets[bpm] = np.argmax(ecg[beat + 120 : beat + 450]) + 120
    assert offsets[120.0] / offsets[60.0] == pytest.approx(1 / np.sqrt(2), abs=0.05)


def test_sixty_seconds_at_1000_hz_is_fast() -> None:
    responses = [HeartRateResponse(onset) for onset in _onsets(0, RESPONSES_PER_TRIAL)]
    warm_up = np.random.default_rng(0)
    simulate_ecg(simulate_heart_rate(1.0, FS, warm_up), FS, warm_up)
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    simulate_ecg(simulate_heart_rate(DURATION_S, FS, rng, responses=responses), FS, rng)
    assert time.perf_counter() - start < 0.5


def test_edge_cases() -> None:
    with pytest.raises(ValueError):
        simulate_heart_rate(0.0, FS, np.random.default_rng(0))
    with pytest.raises(ValueError):
        simulate_ecg(np.array([]), FS, np.random.default_rng(0))
    with pytest.raises(ValueError):
        simulate_ecg(np.full(100, -5.0), FS, np.random.default_rng(0))
    ecg, peaks = simulate_ecg(np.full(300, 70.0), FS, np.random.default_rng(0))  # shorter than a beat
    assert ecg.shape == (300,) and peaks.size <= 1
    assert np.all(np.isfinite(nk.ecg_clean(ecg, sampling_rate=int(FS))))
