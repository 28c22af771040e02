"""ECG features of a window (inference.features.ecg): the band-passed wave and the HRV features."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from inference.features.ecg import (
    DEFAULT_HRS_BPM_S,
    DEFAULT_RMSSD_S,
    DEFAULT_RR_S,
    DEFAULT_RR_STD_S,
    DEFAULT_SDSD_S,
    WAVE_CLIP,
    ecg_bandpass,
    ecg_wave_window,
    hrv_features,
)
from inference.features.spec import FeatureSpec
from inference.signal.ecg import ecg_peaks, heart_rate_slope, mean_heart_rate_slope, signal_rate

DATA = Path(__file__).parent / "data"
REAL_ECG_CSV = DATA / "ecg" / "ecg_1000hz.csv"  # NeuroKit2 data folder, MIT (LICENSE.neurokit.txt beside it)
FS = 1000.0
SPEC = FeatureSpec()
PRE = round(SPEC.ecg_pre_ms * FS / 1000)
SPAN = round((SPEC.ecg_pre_ms + SPEC.window_ms + SPEC.ecg_post_ms) * FS / 1000)
BIN = SPAN / SPEC.ecg_steps  # samples per wave point

pytestmark = pytest.mark.filterwarnings("ignore::Warning")  # neurokit2 / pandas deprecation chatter


@pytest.fixture(scope="module")
def real_ecg() -> np.ndarray:
    if not REAL_ECG_CSV.exists():
        pytest.skip(f"{REAL_ECG_CSV} missing")
    with REAL_ECG_CSV.open(newline="") as handle:
        return np.array([float(row["ECG"]) for row in csv.DictReader(handle)])


def _features(
    peaks: np.ndarray, at: int, spec: FeatureSpec = SPEC, fs: float = FS, **kwargs: float
) -> dict[str, float]:
    values = hrv_features(peaks, fs, at, spec, **kwargs)
    assert values.shape == (len(spec.hrv_features),) and values.dtype == np.float32
    assert np.all(np.isfinite(values))
    return dict(zip(spec.hrv_features, values.tolist(), strict=True))


# --- the wave ------------------------------------------------------------------------------------------


def test_wave_window_shape_dtype_and_standardization(real_ecg: np.ndarray) -> None:
    for start in (PRE, 10_000, 25_123, real_ecg.size - SPAN + PRE):
        wave = ecg_wave_window(real_ecg, FS, start, SPEC)
        assert wave.shape == (SPEC.ecg_steps,) and wave.dtype == np.float32
        assert np.all(np.isfinite(wave)) and np.abs(wave).max() <= WAVE_CLIP
        assert abs(float(np.median(wave))) < 1e-5  # robustly centred
        mad = float(np.median(np.abs(wave - np.median(wave))))
        assert mad == pytest.approx(1 / 1.4826, rel=1e-3)
        assert wave.max() > 5.0  # an R wave stands out of the baseline


@pytest.mark.parametrize("point", [3, 60, 195, 231, 250])
def test_a_spike_lands_at_its_resampled_position(point: int) -> None:
    rng = np.random.default_rng(point)
    ecg = 0.01 * rng.standard_normal(20_000)
    start = 8_000
    spike = start - PRE + round((point + 0.5) * BIN)  # the middle of wave point `point`
    ecg[spike] += 1.0
    wave = ecg_wave_window(ecg, FS, start, SPEC)
    assert int(np.argmax(wave)) == point
    # The window's own start is at point pre / BIN.
    ecg[spike] -= 1.0
    ecg[start] += 1.0
    assert int(np.argmax(ecg_wave_window(ecg, FS, start, SPEC))) == int(PRE / BIN)


def test_wave_reads_nothing_after_the_window(real_ecg: np.ndarray) -> None:
    """Live, the window's end is the newest sample: the recording cut there gives the same wave."""
    start = 20_000
    live = real_ecg[: start - PRE + SPAN]
    offline = ecg_wave_window(real_ecg, FS, start, SPEC)
    np.testing.assert_array_equal(offline, ecg_wave_window(live, FS, start, SPEC))
    # ... and samples more than FILTER_PAD_S before it are not read either.
    origin = start - PRE - 1000
    np.testing.assert_array_equal(offline, ecg_wave_window(real_ecg[origin:], FS, start - origin, SPEC))


def test_samples_outside_the_recording_are_zeros(real_ecg: np.ndarray) -> None:
    wave = ecg_wave_window(real_ecg, FS, 0, SPEC)  # the pre-context lies before the first sample
    outside = int(np.ceil(PRE / BIN))  # points whose bin starts before sample 0
    assert np.all(wave[:outside] == 0.0)
    # A bin is zero only when it is invalid, or (odd counts) the median point itself.
    assert np.count_nonzero(wave[outside:]) >= SPEC.ecg_steps - outside - 1
    end = ecg_wave_window(real_ecg, FS, real_ecg.size - 100, SPEC)  # the recording ends 100 ms into it
    recorded = int((PRE + 100) // BIN)  # points whose whole bin was recorded
    assert np.all(end[recorded:] == 0.0) and np.count_nonzero(end[:recorded]) >= recorded - 1
    assert np.all(ecg_wave_window(real_ecg, FS, -10_000, SPEC) == 0.0)
    assert np.all(ecg_wave_window(real_ecg, FS, real_ecg.size + PRE, SPEC) == 0.0)


def test_lost_samples_are_zeros(real_ecg: np.ndarray) -> None:
    ecg = real_ecg.copy()
    start = 20_000
    lost = slice(start - PRE + 1000, start - PRE + 1300)
    ecg[lost] = np.nan
    wave = ecg_wave_window(ecg, FS, start, SPEC)
    assert np.all(np.isfinite(wave))
    first, last = int(1000 // BIN), int(np.ceil(1300 / BIN)) - 1  # sample i spans [i, i + 1) of the bins
    assert np.all(wave[first : last + 1] == 0.0)
    assert np.count_nonzero(wave) >= SPEC.ecg_steps - (last + 1 - first) - 1
    assert wave[first - 1] != 0.0 and wave[last + 1] != 0.0
    ecg[start - PRE - 2000 : start - PRE + SPAN] = np.nan
    assert np.all(ecg_wave_window(ecg, FS, start, SPEC) == 0.0)
    assert np.all(ecg_wave_window(np.zeros(20_000), FS, start, SPEC) == 0.0)  # flat: nothing to scale


def test_wave_is_cheap(real_ecg: np.ndarray) -> None:
    import time

    starts = range(5_000, 45_000, 100)
    began = time.perf_counter()
    for start in starts:
        ecg_wave_window(real_ecg, FS, start, SPEC)
    per_window_ms = 1000 * (time.perf_counter() - began) / len(starts)
    assert per_window_ms < 1.0


def test_ecg_bandpass_removes_wander_keeps_nans() -> None:
    t = np.arange(20_000) / FS
    ecg = 2.0 + np.sin(2 * np.pi * 0.05 * t) + 0.5 * np.sin(2 * np.pi * 10 * t)
    ecg[5_000:5_100] = np.nan
    filtered = ecg_bandpass(ecg, FS)
    assert filtered.shape == ecg.shape and filtered.dtype == np.float64
    assert np.all(np.isnan(filtered[5_000:5_100])) and np.all(np.isfinite(filtered[:5_000]))
    middle = slice(8_000, 18_000)
    np.testing.assert_allclose(filtered[middle], 0.5 * np.sin(2 * np.pi * 10 * t[middle]), atol=0.03)
    with pytest.raises(ValueError):
        ecg_bandpass(np.zeros((2, 10)), FS)
    with pytest.raises(ValueError):
        ecg_bandpass(np.zeros(10), 0.0)


# --- HRV features --------------------------------------------------------------------------------------


def test_hrv_of_a_regular_beat_train_is_exact() -> None:
    peaks = np.arange(500, 60_000, 1000)  # RR 1 s
    f = _features(peaks, 59_600)
    assert f["rr_mean_s"] == pytest.approx(1.0)
    assert f["hr_mean_bpm"] == pytest.approx(60.0) and f["hr_now_bpm"] == pytest.approx(60.0)
    for name in ("rr_std_s", "hrv_sdsd_s", "hrv_rmssd_s", "hrs_now_bpm_s", "hrs_mean_bpm_s", "hrs_ratio"):
        assert f[name] == pytest.approx(0.0, abs=1e-9), name


def test_hrv_uses_only_the_trailing_window() -> None:
    slow, fast = np.arange(0, 40_000, 1000), np.arange(40_500, 80_000, 500)  # 60 then 120 bpm
    peaks = np.concatenate([slow, fast])
    assert _features(peaks, 39_999)["hr_mean_bpm"] == pytest.approx(60.0)
    late = _features(peaks, 79_999)  # the window (49.999 s, 79.999 s] holds only the fast beats
    assert late["rr_mean_s"] == pytest.approx(0.5) and late["hr_now_bpm"] == pytest.approx(120.0)
    assert late["rr_std_s"] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("slope", [2.0, -1.5])
def test_hrs_on_a_heart_rate_ramp_equals_its_slope(slope: float) -> None:
    """Beats of a heart rate HR(t) = 80 + slope * t bpm: beat k where the phase (80 t + slope t^2 / 2) / 60
    reaches k.  At 1 kHz the 1 ms rounding of the beats alone moves a beat-to-beat slope by up to 30 %, so the
    peaks are taken at 100 kHz."""
    fs, duration_s = 100_000.0, 29.0
    beats = np.arange(1, int((80.0 * duration_s + slope * duration_s**2 / 2) / 60.0) + 1)
    beat_times = (-80.0 + np.sqrt(80.0**2 + 120.0 * slope * beats)) / slope
    peaks = np.round(beat_times * fs).astype(np.int64)
    at = int(peaks[-1]) + 2000

    def features(**kwargs: float) -> dict[str, float]:
        return _features(peaks, at, fs=fs, **kwargs)

    f = features()
    assert f["hrs_now_bpm_s"] == pytest.approx(abs(slope), rel=0.01)
    assert f["hrs_mean_bpm_s"] == pytest.approx(abs(slope), rel=1e-3)
    assert f["hrs_ratio"] == pytest.approx(1.0, rel=0.01)
    # The last beat's rate is the mean HR over its interval: the ramp's value at the interval's middle.
    middle = (beat_times[-1] + beat_times[-2]) / 2
    assert f["hr_now_bpm"] == pytest.approx(80.0 + slope * middle, rel=1e-4)
    given = features(hrs_mean=4.0)
    assert given["hrs_mean_bpm_s"] == 4.0
    assert given["hrs_ratio"] == pytest.approx(abs(slope) / 4.0, rel=0.01)
    assert features(hrs_mean=float("nan"))["hrs_mean_bpm_s"] == pytest.approx(abs(slope), rel=1e-3)


def test_hrv_on_real_ecg_is_physiological(real_ecg: np.ndarray) -> None:
    peaks = ecg_peaks(real_ecg, FS)
    hrs = heart_rate_slope(signal_rate(peaks, FS, desired_length=real_ecg.size), FS)
    for at in (35_000, 42_000, real_ecg.size - 1):
        f = _features(peaks, at)
        assert 0.6 <= f["rr_mean_s"] <= 1.3 and 45.0 <= f["hr_mean_bpm"] <= 100.0
        assert 0.01 <= f["rr_std_s"] <= 0.2
        assert 0.005 <= f["hrv_sdsd_s"] <= 0.2 and 0.005 <= f["hrv_rmssd_s"] <= 0.2
        assert 40.0 <= f["hr_now_bpm"] <= 120.0
        assert 0.0 <= f["hrs_now_bpm_s"] <= 30.0 and 1.0 <= f["hrs_mean_bpm_s"] <= 10.0
        # The window's mean HRS is the mean of the signal_rate curve's HRS between its beats.
        window = peaks[(peaks > at - SPEC.hrv_window_s * FS) & (peaks <= at)]
        expected = mean_heart_rate_slope(hrs, int(window[1]), int(window[-1]))
        assert f["hrs_mean_bpm_s"] == pytest.approx(expected, rel=0.02)


def test_few_peaks_give_defaults() -> None:
    default_hr = 60.0 / DEFAULT_RR_S
    none = _features(np.array([], dtype=np.int64), 5_000)
    assert none == pytest.approx({
        "rr_mean_s": DEFAULT_RR_S, "rr_std_s": DEFAULT_RR_STD_S, "hr_mean_bpm": default_hr,
        "hrv_sdsd_s": DEFAULT_SDSD_S, "hrv_rmssd_s": DEFAULT_RMSSD_S, "hr_now_bpm": default_hr,
        "hrs_now_bpm_s": DEFAULT_HRS_BPM_S, "hrs_mean_bpm_s": DEFAULT_HRS_BPM_S, "hrs_ratio": 1.0,
    })
    assert _features(np.array([1_000]), 5_000) == none
    assert _features(np.array([1_000, 9_000]), 9_500) == none  # an 8 s "RR": a gap, not a beat
    assert _features(np.array([1_000, 2_000]), 40_000) == none  # both beats left the window
    one = _features(np.array([1_000, 1_900]), 2_000)  # a single RR interval of 0.9 s
    assert one["rr_mean_s"] == pytest.approx(0.9) and one["hr_now_bpm"] == pytest.approx(60 / 0.9)
    assert one["rr_std_s"] == pytest.approx(DEFAULT_RR_STD_S)
    assert one["hrs_now_bpm_s"] == pytest.approx(DEFAULT_HRS_BPM_S)
    future = _features(np.array([1_000, 1_900, 2_900, 3_800]), 2_000)  # later peaks are not seen
    assert future == one


def test_hrv_follows_the_spec_order_and_rejects_bad_input() -> None:
    peaks = np.arange(0, 20_000, 800)
    reordered = dataclasses.replace(SPEC, hrv_features=("hr_now_bpm", "rr_mean_s"))
    np.testing.assert_allclose(hrv_features(peaks, FS, 19_999, reordered), [75.0, 0.8], rtol=1e-6)
    with pytest.raises(ValueError):
        hrv_features(peaks, FS, 19_999, dataclasses.replace(SPEC, hrv_features=("lf_hf",)))
    with pytest.raises(ValueError):
        hrv_features(np.array([5, 5, 9]), FS, 100, SPEC)
    with pytest.raises(ValueError):
        hrv_features(peaks, 0.0, 100, SPEC)
    with pytest.raises(ValueError):
        hrv_features(peaks, FS, 100, SPEC, hrs_mean=-1.0)
