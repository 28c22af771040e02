"""ECG → R-peaks → heart rate → heart-rate slope (HRS), as small pure functions over numpy arrays.

CMCL-Net keeps a spotted facial-expression candidate only when the heart-rate slope at its apex,
``HRS = |dHR/dt|``, exceeds ``eta`` times the trial's mean HRS.  This module computes that chain in the
style of NeuroKit2 (and mostly by delegating to it), so that the offline pipeline and the real-time
engine measure HRS in exactly the same way:

>>> peaks = ecg_peaks(ecg, sampling_rate)          # raw ECG in, cleaned inside # doctest: +SKIP
>>> rate = signal_rate(peaks, sampling_rate, desired_length=len(ecg))   # doctest: +SKIP
>>> hrs = heart_rate_slope(rate, sampling_rate)                     # doctest: +SKIP
>>> keep = hrs[apex] > eta * mean_heart_rate_slope(hrs)             # doctest: +SKIP

All functions take and return plain ``numpy`` arrays (no pandas), never modify their input, and raise
``ValueError`` on input they cannot handle meaningfully.
"""

from __future__ import annotations

from typing import Final, Literal

import neurokit2 as nk
import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "CLEAN_METHOD",
    "EDGE_PEAK_HEIGHT_RATIO",
    "HR_MAX_BPM",
    "HR_MIN_BPM",
    "INTERPOLATION_METHOD",
    "MIN_PEAK_SEARCH_S",
    "POLARITY_WINDOW_S",
    "ecg_clean",
    "ecg_is_inverted",
    "ecg_peaks",
    "heart_rate_slope",
    "mean_heart_rate_slope",
    "signal_rate",
]

CLEAN_METHOD: Final = "neurokit"
"""NeuroKit2's default cleaning: 0.5 Hz high-pass (5th-order Butterworth) plus a 50 Hz powerline filter.
It removes baseline wander (respiration, electrode drift) without touching the QRS complex."""

INTERPOLATION_METHOD: Final = "monotone_cubic"
"""Heart rate is known once per beat; monotone cubic (PCHIP) interpolation gives a smooth curve with a
continuous derivative (needed for HRS) that never overshoots between beats."""

HR_MIN_BPM: Final = 30.0
"""Lowest heart rate accepted as physiological (deep bradycardia); slower "rates" come from missed beats."""

HR_MAX_BPM: Final = 220.0
"""Highest heart rate accepted as physiological (maximal exercise); faster "rates" come from doubled beats."""

EDGE_PEAK_HEIGHT_RATIO: Final = 0.5
"""The first or last detected peak is dropped when it is lower than this fraction of the median R-peak height
(in the cleaned, polarity-corrected ECG): it is then a P or T wave picked up where the recording cut its QRS
off.  Real R-peaks vary far less from beat to beat (respiration modulates them by 5-20 %)."""

MIN_PEAK_SEARCH_S: Final = 60.0 / HR_MIN_BPM
"""Shortest ECG searched for beats: one beat period at ``HR_MIN_BPM`` (shorter input yields no peaks; it is
also too short for the cleaning filter's padding)."""

POLARITY_WINDOW_S: Final = 2.0
"""Window for the polarity check: long enough to hold at least one beat at ``HR_MIN_BPM``."""

PolarityChoice = Literal["auto", "normal", "inverted"]


def _as_1d_float(signal: ArrayLike, name: str) -> NDArray[np.float64]:
    array = np.asarray(signal, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    return array


def _check_rate(sampling_rate: float) -> float:
    rate = float(sampling_rate)
    if not np.isfinite(rate) or rate <= 0:
        raise ValueError(f"sampling_rate must be positive, got {sampling_rate!r}")
    return rate


def ecg_clean(ecg: ArrayLike, sampling_rate: float) -> NDArray[np.float64]:
    """Clean a raw ECG (NeuroKit2's ``"neurokit"`` method: 0.5 Hz high-pass and 50 Hz notch).

    Returns a new float64 array of the same length.
    """
    signal = _as_1d_float(ecg, "ecg")
    fs = _check_rate(sampling_rate)
    if signal.size == 0:
        return signal.copy()
    cleaned = nk.ecg_clean(signal, sampling_rate=fs, method=CLEAN_METHOD)
    return np.asarray(cleaned, dtype=np.float64)


def ecg_is_inverted(cleaned: ArrayLike, sampling_rate: float) -> bool:
    """Whether a *cleaned* ECG's dominant deflection is negative (inverted or lead reversed).

    The same heuristic as ``nk.ecg_invert``, vectorised: in consecutive windows of
    ``POLARITY_WINDOW_S`` take the sample of largest magnitude (the dominant QRS deflection); the signal is
    inverted when the median of those samples is negative.  Biphasic QRS complexes whose negative lobe is the
    larger one (as in BIOPAC's ERS100C recordings) are thus flipped so that R-peak detectors lock onto the
    sharpest deflection rather than alternating between lobes.
    """
    signal = _as_1d_float(cleaned, "cleaned")
    fs = _check_rate(sampling_rate)
    if signal.size == 0:
        return False
    centred = signal - np.mean(signal)
    window = max(1, round(POLARITY_WINDOW_S * fs))
    n_windows = max(1, centred.size // window)
    blocks = centred[: n_windows * window].reshape(n_windows, -1) if centred.size >= window else centred[None]
    dominant = np.take_along_axis(blocks, np.argmax(np.abs(blocks), axis=1)[:, None], axis=1)
    return bool(np.median(dominant) < 0)


def ecg_peaks(
    ecg: ArrayLike,
    sampling_rate: float,
    method: str = "neurokit",
    *,
    polarity: PolarityChoice = "auto",
) -> NDArray[np.int64]:
    """R-peak sample indices of a raw ECG.

    The ECG is cleaned with :func:`ecg_clean`, flipped if :func:`ecg_is_inverted` says so
    (``polarity="auto"``; pass ``"normal"`` or ``"inverted"`` to fix it, e.g. once per session in the
    real-time engine), and handed to ``nk.ecg_peaks`` with ``method``.  A first or last peak lower than
    ``EDGE_PEAK_HEIGHT_RATIO`` x the median peak height (a P or T wave whose QRS was cut off at the
    recording's edge) is dropped, and so is the lower of two peaks that would imply a rate above
    ``HR_MAX_BPM``.
    ECGs shorter than ``MIN_PEAK_SEARCH_S``, constant or with non-finite samples give no peaks.

    Returns sorted, unique int64 indices into ``ecg`` (empty when no beat is found).
    """
    if polarity not in ("auto", "normal", "inverted"):
        raise ValueError(f"polarity must be 'auto', 'normal' or 'inverted', got {polarity!r}")
    fs = _check_rate(sampling_rate)
    signal = _as_1d_float(ecg, "ecg")
    empty = np.empty(0, dtype=np.int64)
    if signal.size < MIN_PEAK_SEARCH_S * fs or not np.all(np.isfinite(signal)) or np.ptp(signal) == 0:
        return empty
    cleaned = ecg_clean(signal, fs)
    inverted = polarity == "inverted" or (polarity == "auto" and ecg_is_inverted(cleaned, fs))
    if inverted:
        cleaned = -cleaned
    _, info = nk.ecg_peaks(cleaned, sampling_rate=fs, method=method)
    peaks = np.unique(np.asarray(info["ECG_R_Peaks"], dtype=np.int64))
    peaks = peaks[(peaks >= 0) & (peaks < cleaned.size)]
    return _drop_too_close(_drop_low_edge_peaks(peaks, cleaned), cleaned, fs)


def _drop_low_edge_peaks(peaks: NDArray[np.int64], cleaned: NDArray[np.float64]) -> NDArray[np.int64]:
    """Drop the first and/or last peak when lower than ``EDGE_PEAK_HEIGHT_RATIO`` x the median peak height."""
    if peaks.size < 3:
        return peaks
    heights = cleaned[peaks] - np.median(cleaned)
    low = heights < EDGE_PEAK_HEIGHT_RATIO * np.median(heights)
    keep = np.ones(peaks.size, dtype=bool)
    keep[[0, -1]] = ~low[[0, -1]]
    return peaks[keep]


def _drop_too_close(peaks: NDArray[np.int64], cleaned: NDArray[np.float64], fs: float) -> NDArray[np.int64]:
    """Drop the smaller of any two peaks closer than the shortest physiological RR interval."""
    min_gap = 60.0 / HR_MAX_BPM * fs
    kept: list[int] = []
    for peak in peaks.tolist():
        if kept and peak - kept[-1] < min_gap:
            if cleaned[peak] > cleaned[kept[-1]]:
                kept[-1] = peak
            continue
        kept.append(peak)
    return np.asarray(kept, dtype=np.int64)


def signal_rate(
    peaks: ArrayLike,
    sampling_rate: float,
    desired_length: int | None = None,
    interpolation: str = INTERPOLATION_METHOD,
) -> NDArray[np.float64]:
    """Instantaneous heart rate in bpm from R-peak indices, as ``nk.signal_rate`` computes it.

    Each beat's period is its RR interval to the previous beat (the first beat gets the mean RR).  Without
    ``desired_length`` one rate per peak is returned.  With it, the periods are interpolated
    (``nk.signal_interpolate`` with ``interpolation``, monotone cubic by default) to one value per sample and
    held constant before the first and after the last beat, and the rate is ``60 / period``.  Unlike
    ``nk.signal_rate``, two peaks are enough (NeuroKit returns NaNs below four).  Rates are clipped to
    ``[HR_MIN_BPM, HR_MAX_BPM]`` so that one missed or doubled beat cannot produce an absurd rate (and slope).
    """
    fs = _check_rate(sampling_rate)
    beats = np.asarray(peaks)
    if beats.ndim != 1:
        raise ValueError(f"peaks must be one-dimensional, got shape {beats.shape}")
    if beats.size < 2:
        raise ValueError(f"at least two peaks are needed for a rate, got {beats.size}")
    beats = beats.astype(np.int64)
    if np.any(np.diff(beats) <= 0):
        raise ValueError("peaks must be strictly increasing")
    period = np.diff(beats, prepend=beats[0]) / fs
    period[0] = np.mean(period[1:])
    if desired_length is not None:
        if desired_length <= beats[-1]:
            raise ValueError(f"desired_length ({desired_length}) must exceed the last peak ({beats[-1]})")
        period = nk.signal_interpolate(
            beats, period, x_new=np.arange(int(desired_length)), method=interpolation
        )
    return np.clip(60.0 / np.asarray(period, dtype=np.float64), HR_MIN_BPM, HR_MAX_BPM)


def heart_rate_slope(rate_bpm: ArrayLike, sampling_rate: float) -> NDArray[np.float64]:
    """Heart-rate slope ``HRS = |dHR/dt|`` in bpm/s, by central differences (``np.gradient``).

    ``rate_bpm`` is a heart rate sampled at ``sampling_rate`` (e.g. :func:`signal_rate` with
    ``desired_length``).
    """
    rate = _as_1d_float(rate_bpm, "rate_bpm")
    fs = _check_rate(sampling_rate)
    if rate.size < 2:
        return np.zeros_like(rate)
    return np.abs(np.gradient(rate, 1.0 / fs))


def mean_heart_rate_slope(hrs: ArrayLike, start: int | None = None, stop: int | None = None) -> float:
    """Mean HRS over the samples ``hrs[start:stop]`` (the whole trial by default), ignoring NaNs.

    This is the trial baseline CMCL-Net compares each apex HRS against (``eta`` x this mean).
    """
    values = _as_1d_float(hrs, "hrs")[start:stop]
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise ValueError("no finite HRS values in the requested range")
    return float(np.mean(finite))
