"""ECG → R-peaks → heart rate → HRS (inference.signal.ecg), on real recordings and on exact toy signals."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from inference.signal.ecg import (
    HR_MAX_BPM,
    HR_MIN_BPM,
    ecg_clean,
    ecg_is_inverted,
    ecg_peaks,
    heart_rate_slope,
    mean_heart_rate_slope,
    signal_rate,
)

DATA = Path(__file__).parent / "data"
REAL_ECG_CSV = DATA / "ecg" / "ecg_1000hz.csv"  # NeuroKit2 data folder, MIT (LICENSE.neurokit.txt beside it)
REAL_ECG_FS = 1000.0
# BIOPAC file from bioread's test data (MIT), copied into tests/data/acq with its licence.
PHYSIO_ACQ = Path(__file__).parent / "data" / "acq" / "physio-5.0.1.acq"

pytestmark = pytest.mark.filterwarnings("ignore::Warning")  # neurokit2 / pandas deprecation chatter


def _read_csv_ecg(path: Path) -> np.ndarray:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        return np.array([float(row["ECG"]) for row in reader])


def _toy_ecg(rr_s: float, duration_s: float, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Narrow Gaussian 'R waves' (1 mV, 10 ms) every ``rr_s`` plus a small T wave: an exact peak reference."""
    t = np.arange(round(duration_s * fs)) / fs
    beats = np.arange(0.5, duration_s - 0.5, rr_s)
    ecg = np.zeros_like(t)
    for beat in beats:
        ecg += np.exp(-0.5 * ((t - beat) / 0.010) ** 2)
        ecg += 0.25 * np.exp(-0.5 * ((t - beat - 0.25) / 0.05) ** 2)
    return ecg, np.round(beats * fs).astype(np.int64)


@pytest.fixture(scope="module")
def real_ecg() -> np.ndarray:
    if not REAL_ECG_CSV.exists():
        pytest.skip(f"{REAL_ECG_CSV} missing")
    return _read_csv_ecg(REAL_ECG_CSV)


def test_real_ecg_peaks_give_a_physiological_heart_rate(real_ecg: np.ndarray) -> None:
    peaks = ecg_peaks(real_ecg, REAL_ECG_FS)
    assert peaks.dtype == np.int64
    assert np.all(np.diff(peaks) > 0)
    beat_rates = 60.0 * REAL_ECG_FS / np.diff(peaks)
    assert beat_rates.min() >= 40.0 and beat_rates.max() <= 120.0
    duration_s = real_ecg.size / REAL_ECG_FS
    assert 40.0 <= 60.0 * peaks.size / duration_s <= 120.0

    rate = signal_rate(peaks, REAL_ECG_FS, desired_length=real_ecg.size)
    assert rate.shape == real_ecg.shape
    assert rate.min() >= 40.0 and rate.max() <= 120.0
    hrs = heart_rate_slope(rate, REAL_ECG_FS)
    # Real resting HRV: a mean slope of a few bpm/s (the CMCL-Net paper reports about 5).
    assert 1.0 <= mean_heart_rate_slope(hrs) <= 10.0


def test_real_biphasic_biopac_ecg_is_read_at_its_known_rate() -> None:
    """physio-5.0.1.acq: an unusual biphasic ECG at about 58-76 bpm.  NeuroKit's detector on the raw polarity
    doubles some beats (rates near 200 bpm); the polarity check fixes that."""
    bioread = pytest.importorskip("bioread")
    channel = bioread.read_file(str(PHYSIO_ACQ)).channels[1]
    assert channel.name.startswith("EKG")
    ecg = np.asarray(channel.data, dtype=np.float64)
    fs = float(channel.samples_per_second)
    assert ecg_is_inverted(ecg_clean(ecg, fs), fs)
    beat_rates = 60.0 * fs / np.diff(ecg_peaks(ecg, fs))
    assert beat_rates.min() >= 57.0 and beat_rates.max() <= 77.0


def test_peaks_match_an_exact_toy_ecg_in_both_polarities() -> None:
    fs = 500.0
    ecg, truth = _toy_ecg(0.8, 20.0, fs)
    noisy = ecg + 0.01 * np.random.default_rng(0).standard_normal(ecg.size)
    for signal, polarity in ((noisy, "auto"), (-noisy, "auto"), (-noisy, "inverted")):
        peaks = ecg_peaks(signal, fs, polarity=polarity)
        assert peaks.size == truth.size
        assert np.max(np.abs(peaks - truth)) <= 0.010 * fs
    assert not ecg_is_inverted(ecg_clean(noisy, fs), fs)
    assert ecg_is_inverted(ecg_clean(-noisy, fs), fs)


def test_ecg_peaks_degenerate_input() -> None:
    assert ecg_peaks(np.zeros(5000), 1000.0).size == 0
    assert ecg_peaks(np.zeros(1), 1000.0).size == 0
    with pytest.raises(ValueError):
        ecg_peaks(np.zeros(100), 0.0)
    with pytest.raises(ValueError):
        ecg_peaks(np.zeros(100), 1000.0, polarity="upside-down")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ecg_clean(np.zeros((2, 100)), 1000.0)


def test_ecg_clean_keeps_length_and_removes_offset_and_wander() -> None:
    fs = 1000.0
    ecg, _ = _toy_ecg(1.0, 10.0, fs)
    t = np.arange(ecg.size) / fs
    wandering = ecg + 2.0 + 0.5 * np.sin(2 * np.pi * 0.1 * t)
    cleaned = ecg_clean(wandering, fs)
    assert cleaned.shape == ecg.shape and cleaned.dtype == np.float64
    middle = slice(2000, 8000)  # away from the filter's edge transients
    np.testing.assert_allclose(cleaned[middle], ecg_clean(ecg, fs)[middle], atol=0.02)
    assert np.max(cleaned[middle]) > 0.5  # the QRS passes


def test_signal_rate_of_a_regular_rhythm_is_constant() -> None:
    fs = 1000.0
    peaks = np.arange(500, 20_000, 750)  # 80 bpm
    per_beat = signal_rate(peaks, fs)
    assert per_beat.shape == peaks.shape
    np.testing.assert_allclose(per_beat, 80.0)
    per_sample = signal_rate(peaks, fs, desired_length=20_000)
    assert per_sample.shape == (20_000,)
    np.testing.assert_allclose(per_sample, 80.0)


def test_signal_rate_follows_a_rate_change_and_clips_to_physiology() -> None:
    fs = 100.0
    peaks = np.concatenate([np.arange(0, 1000, 100), np.arange(1000, 2000, 50)])  # 60 then 120 bpm
    rate = signal_rate(peaks, fs, desired_length=2000)
    assert rate[500] == pytest.approx(60.0) and rate[1900] == pytest.approx(120.0)
    assert np.all(np.diff(rate[900:1100]) >= 0)  # monotone cubic: no overshoot
    glitch = np.array([0, 100, 102, 200, 300])  # a doubled beat: 3000 bpm
    assert signal_rate(glitch, fs).max() == HR_MAX_BPM
    assert signal_rate(np.array([0, 1000]), fs).min() == HR_MIN_BPM  # a 10 s gap: 6 bpm


def test_signal_rate_agrees_with_neurokit(real_ecg: np.ndarray) -> None:
    nk = pytest.importorskip("neurokit2")
    peaks = ecg_peaks(real_ecg, REAL_ECG_FS)
    expected = nk.signal_rate(peaks, sampling_rate=REAL_ECG_FS, desired_length=real_ecg.size)
    np.testing.assert_allclose(signal_rate(peaks, REAL_ECG_FS, desired_length=real_ecg.size), expected)
    np.testing.assert_allclose(signal_rate(peaks, REAL_ECG_FS), nk.signal_rate(peaks, REAL_ECG_FS))


@pytest.mark.parametrize("peaks", [np.array([5]), np.array([5, 5, 9]), np.array([[1, 2], [3, 4]])])
def test_signal_rate_rejects_bad_peaks(peaks: np.ndarray) -> None:
    with pytest.raises(ValueError):
        signal_rate(peaks, 1000.0)
    with pytest.raises(ValueError):
        signal_rate(np.array([10, 20, 30]), 1000.0, desired_length=30)  # a peak past the end


def test_heart_rate_slope_is_absolute_derivative_in_bpm_per_s() -> None:
    fs = 250.0
    t = np.arange(1000) / fs
    np.testing.assert_allclose(heart_rate_slope(70.0 + 3.0 * t, fs), 3.0)
    np.testing.assert_allclose(heart_rate_slope(70.0 - 3.0 * t, fs), 3.0)
    slope = heart_rate_slope(70.0 + 5.0 * np.sin(2 * np.pi * 0.25 * t), fs)
    assert slope.max() == pytest.approx(5.0 * 2 * np.pi * 0.25, rel=1e-3)
    assert heart_rate_slope(np.array([70.0]), fs).tolist() == [0.0]


def test_mean_heart_rate_slope_window_and_nans() -> None:
    hrs = np.array([1.0, 2.0, 3.0, np.nan, 5.0])
    assert mean_heart_rate_slope(hrs) == pytest.approx(11.0 / 4)
    assert mean_heart_rate_slope(hrs, 1, 3) == pytest.approx(2.5)
    assert mean_heart_rate_slope(hrs, start=4) == pytest.approx(5.0)
    with pytest.raises(ValueError):
        mean_heart_rate_slope(hrs, 3, 4)
    with pytest.raises(ValueError):
        mean_heart_rate_slope(np.array([]))
