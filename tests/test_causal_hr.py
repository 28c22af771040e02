"""Causal R-peaks and heart rate (inference.signal.causal) on real ECG, against NeuroKit2 offline."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from inference.signal.causal import CONFIRM_DELAY_S, DETECT_EVERY_S, POLARITY_DECISION_S, CausalHeartRate
from inference.signal.ecg import ecg_peaks, heart_rate_slope, mean_heart_rate_slope, signal_rate

ROOT = Path(__file__).resolve().parent.parent
BENCHMARK = ROOT / "benchmarks" / "causal_hr.py"

pytestmark = pytest.mark.filterwarnings("ignore::Warning")  # neurokit2 / pandas deprecation chatter


def _load_benchmark() -> ModuleType:
    """benchmarks/ is not a package: load the comparison the benchmark prints, so the test checks the same."""
    spec = importlib.util.spec_from_file_location("causal_hr_benchmark", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


bench = _load_benchmark()
FILE_IDS = [path.name for path, _, _ in bench.FILES]


def _recording(index: int) -> tuple[np.ndarray, float]:
    path, rate, channel = bench.FILES[index]
    if path.suffix == ".acq":
        pytest.importorskip("bioread")
    recording = bench.read_ecg(path, rate, channel)
    return recording.signal, recording.sampling_rate


def _feed(ecg: np.ndarray, fs: float, block: int, **kwargs: object) -> CausalHeartRate:
    live = CausalHeartRate(fs, **kwargs)  # type: ignore[arg-type]
    returned: list[np.ndarray] = []
    for begin in range(0, ecg.size, block):
        returned.append(live.push(ecg[begin : begin + block]))
    np.testing.assert_array_equal(np.concatenate(returned), live.peaks)  # push returns each peak once
    return live


@pytest.mark.parametrize("index", range(len(bench.FILES)), ids=FILE_IDS)
def test_causal_heart_rate_matches_neurokit_offline(index: int) -> None:
    path, rate, channel = bench.FILES[index]
    if path.suffix == ".acq":
        pytest.importorskip("bioread")
    result = bench.evaluate(path, rate, channel, bench.FRAME_BLOCK)
    assert result.rmse_bpm < bench.GOAL_RMSE_BPM  # against nk.ecg_process
    assert result.rmse_peaks_bpm < bench.GOAL_RMSE_BPM  # against nk.ecg_peaks + nk.signal_rate
    # Every offline beat is found except at most one moved by ecg_process's artifact correction and the
    # last one, which the recording ends before it is confirmed.
    assert result.matched >= result.offline_peaks - 1
    assert result.causal_peaks <= result.offline_peaks
    assert result.cpu_ms_per_s < 100.0  # under 10 % of one core (measured: about 7 ms per s)


def test_peaks_do_not_depend_on_the_block_size() -> None:
    ecg, fs = _recording(0)
    ecg = ecg.copy()
    ecg[20_000:21_500] = np.nan  # a gap, to exercise the reset too
    reference = _feed(ecg, fs, 1000)
    assert reference.peaks.size > 40
    for block in (1, 37):
        live = _feed(ecg, fs, block)
        np.testing.assert_array_equal(live.peaks, reference.peaks)
        np.testing.assert_array_equal(live.confirmed_at, reference.confirmed_at)
        np.testing.assert_array_equal(live.gaps, [20_000])


def test_peaks_are_confirmed_causally_and_promptly() -> None:
    ecg, fs = _recording(0)
    live = _feed(ecg, fs, 7)
    latency = (live.confirmed_at - live.peaks) / fs
    assert np.all(latency >= CONFIRM_DELAY_S)
    after_warm_up = live.peaks >= POLARITY_DECISION_S * fs
    assert np.all(latency[after_warm_up] < CONFIRM_DELAY_S + DETECT_EVERY_S + 0.002)
    assert live.samples_seen == ecg.size


def test_peaks_confirmed_by_a_sample_even_mid_push() -> None:
    ecg, fs = _recording(0)
    live = _feed(ecg, fs, 7)
    for sample in (int(6 * fs), int(20 * fs), ecg.size):
        want = live.peaks[live.confirmed_at <= sample]
        np.testing.assert_array_equal(live.peaks_confirmed_by(sample), want)
    live._peaks.append(ecg.size + 10)  # another thread's push, caught between its two appends
    np.testing.assert_array_equal(live.peaks_confirmed_by(ecg.size), live.peaks[:-1])


def test_rate_and_slope_are_those_of_signal_rate() -> None:
    ecg, fs = _recording(0)
    live = _feed(ecg, fs, 500)
    peaks = live.peaks
    expected = signal_rate(peaks, fs, desired_length=ecg.size)
    np.testing.assert_allclose(live.rate_curve(0, ecg.size), expected, rtol=1e-12)
    hrs = heart_rate_slope(expected, fs)
    np.testing.assert_allclose(live.hrs_curve(1000, 40_000), hrs[1000:40_000], rtol=1e-9, atol=1e-9)
    assert live.rate_at(12_345) == pytest.approx(expected[12_345])
    assert live.hrs_at(12_345) == pytest.approx(hrs[12_345])
    assert live.mean_hrs(5_000, 45_000) == pytest.approx(mean_heart_rate_slope(hrs, 5_000, 45_000))
    assert live.covers(int(peaks[-1]) - 1) and not live.covers(int(peaks[-1]))
    # The peaks are those of the offline detector on the whole signal.
    np.testing.assert_array_equal(peaks, ecg_peaks(ecg, fs)[: peaks.size])


@pytest.mark.parametrize(("index", "polarity"), [(0, "normal"), (1, "inverted"), (2, "normal")], ids=FILE_IDS)
def test_polarity_is_decided_once_like_ecg_peaks(index: int, polarity: str) -> None:
    ecg, fs = _recording(index)
    live = CausalHeartRate(fs)
    live.push(ecg[: round((POLARITY_DECISION_S - DETECT_EVERY_S) * fs)])
    assert live.polarity == "auto" and live.peaks.size == 0
    live.push(ecg[live.samples_seen : round(POLARITY_DECISION_S * fs)])
    assert live.polarity == polarity and live.peaks.size >= 3
    assert live.peaks[0] < 1.5 * fs  # the warm-up's beats are searched too


def test_a_gap_resets_the_detector_without_a_false_rate() -> None:
    ecg, fs = _recording(1)
    ecg = ecg.copy()
    gap = slice(30_000, 33_000)
    ecg[gap] = np.nan
    live = _feed(ecg, fs, 7)
    peaks = live.peaks
    assert not np.any((peaks >= gap.start) & (peaks < gap.stop))
    assert live.gaps.tolist() == [gap.start]
    after = peaks[peaks >= gap.stop]
    assert after[0] < gap.stop + 1.5 * fs and after.size >= 30  # detection resumes
    rate = live.rate_curve(0, ecg.size)
    assert rate.min() > 50.0  # the interval spanning the gap is not taken for a 20 bpm beat
    before = peaks[peaks < gap.start]
    offline = ecg_peaks(ecg[: gap.start], fs)
    assert before.size == offline.size and np.max(np.abs(before - offline)) <= 2  # 1-2 ms on flat R tops


def test_before_two_peaks_the_rate_is_unknown() -> None:
    live = CausalHeartRate(1000.0, polarity="normal")
    assert live.push(np.array([])).size == 0
    assert np.isnan(live.rate_at(0)) and np.isnan(live.hrs_at(0))
    assert np.isnan(live.mean_hrs(0, 100)) and not live.covers(0)
    live.push(np.zeros(5000))  # flat: no beat
    assert live.peaks.size == 0 and live.peaks.dtype == np.int64


def test_toy_ecg_peaks_are_exact() -> None:
    fs, rr_s = 500.0, 0.8
    t = np.arange(round(30.0 * fs)) / fs
    beats = np.arange(0.5, 29.5, rr_s)
    ecg = sum(np.exp(-0.5 * ((t - b) / 0.010) ** 2) + 0.25 * np.exp(-0.5 * ((t - b - 0.25) / 0.05) ** 2)
              for b in beats)
    ecg = -(ecg + 0.01 * np.random.default_rng(0).standard_normal(t.size))  # inverted lead
    live = _feed(np.asarray(ecg), fs, 13)
    truth = np.round(beats * fs).astype(np.int64)
    assert live.polarity == "inverted"
    assert live.peaks.size == truth.size
    assert np.max(np.abs(live.peaks - truth)) <= 0.010 * fs
    np.testing.assert_allclose(live.rate_curve(0, t.size), 60.0 / rr_s, rtol=0.01)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        CausalHeartRate(0.0)
    with pytest.raises(ValueError):
        CausalHeartRate(1000.0, lookback_s=1.0)
    with pytest.raises(ValueError):
        CausalHeartRate(1000.0, polarity="sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        CausalHeartRate(1000.0, confirm_delay_s=3.0, detect_every_s=1.5)
    with pytest.raises(ValueError):
        CausalHeartRate(1000.0).push(np.zeros((2, 3)))
