"""Synthetic ECG (hardware_mocks.synth.ecg), measured the way the app measures it (inference.signal.ecg).

Print the calibration figures with ``.venv/bin/python tests/test_synth_ecg.py`` (or ``pytest -s -k figures``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pytest

from hardware_mocks.synth.ecg import (
    DEFAULT_HEART_RATE_PROFILE,
    HeartRateProfile,
    HeartRateResponse,
    simulate_ecg,
    simulate_heart_rate,
)
from inference.signal.ecg import ecg_clean, ecg_peaks, heart_rate_slope, mean_heart_rate_slope, signal_rate

FS = 1000.0
DURATION_S = 60.0
ETA = 2.0  # CMCL-Net's threshold factor
PEAK_TOLERANCE_S = 0.020
EDGE_S = 0.5  # beats this close to the recording's ends are not required to be found
CALIBRATION_SEEDS = tuple(range(10))
RESPONSES_PER_TRIAL = 8
NOISELESS = {"noise_mv": 0.0, "baseline_wander_mv": 0.0, "powerline_mv": 0.0}

pytestmark = pytest.mark.filterwarnings("ignore::Warning")  # neurokit2 / pandas deprecation chatter


def _apexes(seed: int, count: int, duration_s: float = DURATION_S) -> list[float]:
    """``count`` apexes spread over the trial (evenly, jittered by +-1.5 s at most), from their own rng."""
    if count == 0:
        return []
    rng = np.random.default_rng([seed, 1])
    evenly = np.linspace(4.0, duration_s - 6.0, count)
    return sorted((evenly + rng.uniform(-1.5, 1.5, count)).tolist())


@dataclass(frozen=True)
class Trial:
    heart_rate: np.ndarray
    ecg: np.ndarray
    true_peaks: np.ndarray
    peaks: np.ndarray
    hrs: np.ndarray
    apexes_s: list[float]


def _trial(seed: int, n_responses: int = RESPONSES_PER_TRIAL, duration_s: float = DURATION_S) -> Trial:
    apexes = _apexes(seed, n_responses, duration_s)
    rng = np.random.default_rng(seed)
    responses = [HeartRateResponse(apex) for apex in apexes]
    heart_rate = simulate_heart_rate(duration_s, FS, rng, responses=responses)
    ecg, true_peaks = simulate_ecg(heart_rate, FS, rng)
    peaks = ecg_peaks(ecg, FS)
    hrs = heart_rate_slope(signal_rate(peaks, FS, desired_length=ecg.size), FS)
    return Trial(heart_rate, ecg, true_peaks, peaks, hrs, apexes)


@dataclass(frozen=True)
class CalibrationFigures:
    apex_hrs: np.ndarray  # HRS at every apex of every trial (bpm/s)
    mean_hrs: np.ndarray  # each trial's mean HRS (bpm/s)
    above: np.ndarray  # per apex: HRS > ETA x its trial's mean
    background_fraction_above: float  # trials without responses: fraction of all samples > ETA x mean
    n_responses: int

    @property
    def fraction_above(self) -> float:
        return float(np.mean(self.above))

    def report(self) -> str:
        q25, median, q75 = np.percentile(self.apex_hrs, [25, 50, 75])
        return (
            f"{len(self.mean_hrs)} trials x {self.n_responses} responses in {DURATION_S:.0f} s: "
            f"apex HRS median {median:.1f} bpm/s (quartiles {q25:.1f}-{q75:.1f}); "
            f"trial mean HRS {np.mean(self.mean_hrs):.2f} bpm/s "
            f"(range {self.mean_hrs.min():.2f}-{self.mean_hrs.max():.2f}); "
            f"apexes above {ETA:g} x mean: {self.fraction_above:.0%}; "
            f"without responses, samples above {ETA:g} x mean: {self.background_fraction_above:.1%}"
        )


def calibration_figures(
    seeds: tuple[int, ...] = CALIBRATION_SEEDS, n_responses: int = RESPONSES_PER_TRIAL
) -> CalibrationFigures:
    apex_hrs: list[float] = []
    means: list[float] = []
    above: list[bool] = []
    background: list[float] = []
    for seed in seeds:
        trial = _trial(seed, n_responses)
        mean = mean_heart_rate_slope(trial.hrs)
        at_apex = trial.hrs[np.round(np.asarray(trial.apexes_s) * FS).astype(int)]
        apex_hrs.extend(at_apex.tolist())
        means.append(mean)
        above.extend((at_apex > ETA * mean).tolist())
        quiet = _trial(seed, 0).hrs
        background.append(float(np.mean(quiet > ETA * mean_heart_rate_slope(quiet))))
    return CalibrationFigures(
        np.array(apex_hrs), np.array(means), np.array(above), float(np.mean(background)), n_responses
    )


@pytest.fixture(scope="module")
def figures() -> CalibrationFigures:
    return calibration_figures()


# ----------------------------------------------------------------------------------------------------------


def test_same_seed_same_signal_other_seed_other_signal() -> None:
    first, again, other = _trial(3), _trial(3), _trial(4)
    np.testing.assert_array_equal(first.heart_rate, again.heart_rate)
    np.testing.assert_array_equal(first.ecg, again.ecg)
    np.testing.assert_array_equal(first.true_peaks, again.true_peaks)
    assert not np.array_equal(first.ecg, other.ecg)


def test_responses_add_to_the_same_background() -> None:
    responses = [HeartRateResponse(10.0), HeartRateResponse(30.0, amplitude_bpm=8.0)]
    quiet = simulate_heart_rate(DURATION_S, FS, np.random.default_rng(7))
    excited = simulate_heart_rate(DURATION_S, FS, np.random.default_rng(7), responses=responses)
    t = np.arange(quiet.size) / FS
    np.testing.assert_allclose(excited - quiet, responses[0].curve(t) + responses[1].curve(t), atol=1e-9)


def test_response_shape_rises_steepest_before_the_apex_and_recovers() -> None:
    response = HeartRateResponse(apex_s=5.0)
    t = np.arange(0, 20.0, 1 / FS)
    curve = response.curve(t)
    centre = response.apex_s - response.lead_s
    assert np.all(curve[t <= centre - response.rise_s / 2] == 0)
    assert np.all(curve[t >= centre + response.rise_s / 2 + response.recovery_s] == 0)
    assert curve.max() == pytest.approx(response.amplitude_bpm)
    slope = np.gradient(curve, 1 / FS)
    assert t[np.argmax(slope)] == pytest.approx(centre, abs=2 / FS)
    assert -slope.min() < slope.max() / 2  # slow recovery
    with pytest.raises(ValueError):
        HeartRateResponse(1.0, rise_s=0.0)


def test_heart_rate_is_physiological() -> None:
    for seed in CALIBRATION_SEEDS:
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


def test_detected_r_peaks_match_the_true_ones() -> None:
    for seed in CALIBRATION_SEEDS:
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
    responses = [HeartRateResponse(apex) for apex in _apexes(0, RESPONSES_PER_TRIAL)]
    warm_up = np.random.default_rng(0)
    simulate_ecg(simulate_heart_rate(1.0, FS, warm_up), FS, warm_up)
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    simulate_ecg(simulate_heart_rate(DURATION_S, FS, rng, responses=responses), FS, rng)
    assert time.perf_counter() - start < 0.5


def test_apex_hrs_stands_out_of_the_trial_mean(figures: CalibrationFigures) -> None:
    assert figures.fraction_above >= 0.80
    assert 8.0 <= float(np.median(figures.apex_hrs)) <= 16.0
    assert np.all((figures.mean_hrs >= 3.0) & (figures.mean_hrs <= 7.0))


def test_without_responses_few_samples_exceed_twice_the_mean(figures: CalibrationFigures) -> None:
    assert figures.background_fraction_above < 0.15


def test_print_calibration_figures(figures: CalibrationFigures) -> None:
    """Not a check: prints the figures to quote (``pytest -s -k figures``)."""
    print("\n" + figures.report())


def test_edge_cases() -> None:
    with pytest.raises(ValueError):
        simulate_heart_rate(0.0, FS, np.random.default_rng(0))
    with pytest.raises(ValueError):
        simulate_ecg(np.array([]), FS, np.random.default_rng(0))
    with pytest.raises(ValueError):
        simulate_ecg(np.full(100, -5.0), FS, np.random.default_rng(0))
    ecg, peaks = simulate_ecg(np.full(300, 70.0), FS, np.random.default_rng(0))  # shorter than a beat
    assert ecg.shape == (300,) and peaks.size <= 1
    assert np.all(np.isfinite(ecg_clean(ecg, FS)))


if __name__ == "__main__":
    print(calibration_figures().report())
    for n_responses in (6, 10):
        print(calibration_figures(n_responses=n_responses).report())
