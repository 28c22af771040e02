"""ECG features of one CMCL-Net window: the band-passed ECG wave around it, and heart-rate-variability
(HRV) features of the beats before it.  Small pure functions over numpy arrays, in the style of NeuroKit2.

>>> wave = ecg_wave_window(raw_ecg, 1000.0, start_sample, spec)  # (spec.ecg_steps,) # doctest: +SKIP
>>> hrv = hrv_features(r_peaks, 1000.0, at_sample, spec)        # (9,)              # doctest: +SKIP

Both read only samples and peaks up to a given instant, so the offline dataset builder and the real-time
engine compute the same numbers from the same signal.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.signal import butter, sosfilt, sosfilt_zi

from inference.features.spec import FeatureSpec
from inference.signal.ecg import HR_MAX_BPM, HR_MIN_BPM

__all__ = [
    "BANDPASS_HZ",
    "BANDPASS_ORDER",
    "DEFAULT_HRS_BPM_S",
    "DEFAULT_RMSSD_S",
    "DEFAULT_RR_S",
    "DEFAULT_RR_STD_S",
    "DEFAULT_SDSD_S",
    "FILTER_PAD_S",
    "HRS_FLOOR_BPM_S",
    "WAVE_CLIP",
    "ecg_bandpass",
    "ecg_wave_window",
    "hrv_features",
]

BANDPASS_HZ: Final = (0.5, 40.0)
"""ECG band kept for the wave branch: 0.5 Hz removes baseline wander, 40 Hz keeps the QRS and stays below
the Nyquist frequency of the resampled wave (``ecg_steps`` points over 2.62 s: about 98 Hz, Nyquist 49 Hz),
so it also serves as the anti-aliasing filter, together with the bin averaging of the resampling."""

BANDPASS_ORDER: Final = 2
"""Butterworth order per band edge (a 4th-order band-pass, 8th order once run forward and backward)."""

FILTER_PAD_S: Final = 1.0
"""Raw ECG before a window that is filtered along with it and then dropped, so that the filter's start
transient (time constant about 0.3 s at 0.5 Hz) has died out when the window begins."""

MAD_TO_SD: Final = 1.4826
"""Scales a median absolute deviation to a standard deviation for Gaussian data."""

WAVE_CLIP: Final = 50.0
"""Standardized wave values are clipped to +-this: a clean R wave is 5-30 robust SDs high, anything far
above is a motion or electrode artifact that should not dominate the network's input."""

MIN_VALID_FRACTION: Final = 0.1
"""A window with fewer valid (recorded, finite) samples than this fraction of its span is all zeros."""

MIN_SCALE: Final = 1e-12
"""Robust scale below which a window counts as flat (all zeros)."""

DEFAULT_RR_S: Final = 0.8
"""RR interval assumed with no valid interval in the HRV window: 75 bpm, a resting adult."""

DEFAULT_RR_STD_S: Final = 0.05
"""RR standard deviation (SDNN) assumed with fewer than two intervals: a typical resting short-term SDNN."""

DEFAULT_SDSD_S: Final = 0.03
"""SDSD assumed with fewer than two successive differences: a typical resting value (about RMSSD)."""

DEFAULT_RMSSD_S: Final = 0.03
"""RMSSD assumed with no successive difference: a typical resting short-term RMSSD (20-40 ms)."""

DEFAULT_HRS_BPM_S: Final = 3.0
"""Heart-rate slope assumed with too few beats; resting ECG gives a mean HRS of a few bpm/s (2.4-6.5 on the
test recordings, about 5 in the CMCL-Net paper).  With it ``hrs_ratio`` defaults to 1 (no change)."""

HRS_FLOOR_BPM_S: Final = 0.1
"""Smallest mean HRS ``hrs_ratio`` divides by, so a perfectly regular rhythm gives a finite ratio."""

RR_MIN_S: Final = 60.0 / HR_MAX_BPM
RR_MAX_S: Final = 60.0 / HR_MIN_BPM


# --- the wave ------------------------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _bandpass(sampling_rate: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Second-order sections of the band-pass at ``sampling_rate`` and their unit-step initial state."""
    low, high = BANDPASS_HZ
    high = min(high, 0.45 * sampling_rate)  # stay below Nyquist for low sampling rates
    sos = butter(BANDPASS_ORDER, [low, high], btype="bandpass", fs=sampling_rate, output="sos")
    return sos, sosfilt_zi(sos)


def _check_rate(sampling_rate: float) -> float:
    rate = float(sampling_rate)
    if not np.isfinite(rate) or rate <= 2 * BANDPASS_HZ[0]:
        raise ValueError(f"sampling_rate must be above {2 * BANDPASS_HZ[0]} Hz, got {sampling_rate!r}")
    return rate


def _fill_lost(signal: NDArray[np.float64], finite: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Lost (non-finite) samples replaced by linear interpolation between their finite neighbours."""
    if finite.all():
        return signal
    index = np.arange(signal.size)
    return np.interp(index, index[finite], signal[finite])


def _filtfilt(signal: NDArray[np.float64], sampling_rate: float) -> NDArray[np.float64]:
    """``scipy.signal.sosfiltfilt`` (odd padding, steady-state initial conditions) with the initial state
    computed once per sampling rate: twice as fast on window-sized segments."""
    sos, zi = _bandpass(sampling_rate)
    pad = min(3 * (2 * len(sos) + 1), signal.size - 1)
    if pad > 0:
        head = 2.0 * signal[0] - signal[pad:0:-1]
        tail = 2.0 * signal[-1] - signal[-2 : -pad - 2 : -1]
        signal = np.concatenate((head, signal, tail))
    forward, _ = sosfilt(sos, signal, zi=zi * signal[0])
    backward, _ = sosfilt(sos, forward[::-1], zi=zi * forward[-1])
    result = backward[::-1]
    return np.ascontiguousarray(result[pad : result.size - pad] if pad > 0 else result)


def ecg_bandpass(ecg: ArrayLike, sampling_rate: float) -> NDArray[np.float64]:
    """Zero-phase Butterworth band-pass (``BANDPASS_HZ``) of a whole ECG, float64 of the same length.

    Lost (non-finite) samples stay NaN; they are bridged linearly for the filtering.  An ECG with no finite
    sample comes back all NaN.  (For plots and analysis: :func:`ecg_wave_window` filters its own segment.)
    """
    signal = np.asarray(ecg, dtype=np.float64)
    if signal.ndim != 1:
        raise ValueError(f"ecg must be one-dimensional, got shape {signal.shape}")
    fs = _check_rate(sampling_rate)
    finite = np.isfinite(signal)
    if signal.size < 2 or not finite.any():
        return np.where(finite, 0.0, np.nan)
    filtered = _filtfilt(_fill_lost(signal, finite), fs)
    filtered[~finite] = np.nan
    return filtered


def ecg_wave_window(
    ecg: ArrayLike, sampling_rate: float, start_sample: int, spec: FeatureSpec
) -> NDArray[np.float32]:
    """The ECG wave around the window starting at ``start_sample``: ``(spec.ecg_steps,)`` float32.

    Pass the **raw** ECG (the whole recording or the live buffer, indexed from the same origin as
    ``start_sample``): only its samples from ``start - ecg_pre_ms - FILTER_PAD_S`` to
    ``start + window_ms + ecg_post_ms`` are read, band-passed (``BANDPASS_HZ``, zero phase) on their own,
    and the padding dropped, so that the result is the same offline and live, where that end is the newest
    sample.  The span ``start - ecg_pre_ms .. start + window_ms + ecg_post_ms`` is cut into ``ecg_steps``
    equal bins (point ``j`` is the mean over ``t0 + j*w .. t0 + (j+1)*w``, ``t0 = start - ecg_pre_ms``,
    ``w = span / ecg_steps`` samples), then robustly standardized (median and MAD over the valid points)
    and clipped to ``+-WAVE_CLIP``.  Points whose bin holds a sample outside the recording or a lost (NaN)
    sample are 0, and so is a window with too little valid signal or a flat one.  Costs about 0.3 ms
    at 1 kHz.
    """
    signal = np.asarray(ecg)
    if signal.ndim != 1:
        raise ValueError(f"ecg must be one-dimensional, got shape {signal.shape}")
    fs = _check_rate(sampling_rate)
    steps = int(spec.ecg_steps)
    pre = round(spec.ecg_pre_ms * fs / 1000.0)
    span = round((spec.ecg_pre_ms + spec.window_ms + spec.ecg_post_ms) * fs / 1000.0)
    if steps < 1 or span < steps:
        raise ValueError(f"the ECG span ({span} samples) must hold at least ecg_steps ({steps}) samples")
    out = np.zeros(steps, dtype=np.float32)
    t0 = int(start_sample) - pre
    first, stop = max(t0 - round(FILTER_PAD_S * fs), 0), min(t0 + span, signal.size)
    if stop - max(t0, 0) < MIN_VALID_FRACTION * span:
        return out
    segment = signal[first:stop].astype(np.float64)
    finite = np.isfinite(segment)
    if finite.sum() < max(2, MIN_VALID_FRACTION * span):
        return out
    filtered = _filtfilt(_fill_lost(segment, finite), fs)

    # Place the segment in the window's frame: window sample i is absolute sample t0 + i.
    begin = max(t0, 0)
    values = np.zeros(span)
    invalid = np.ones(span)
    values[begin - t0 : stop - t0] = filtered[begin - first :]
    invalid[begin - t0 : stop - t0] = ~finite[begin - first :]
    values[invalid > 0] = 0.0
    # Bin means (and invalid counts) by differences of the running integral at the fractional bin edges.
    edges = np.arange(steps + 1) * (span / steps)
    grid = np.arange(span + 1)
    width = span / steps
    means = np.diff(np.interp(edges, grid, np.concatenate(([0.0], np.cumsum(values))))) / width
    bad = np.diff(np.interp(edges, grid, np.concatenate(([0.0], np.cumsum(invalid))))) > 1e-9
    good = ~bad
    if good.sum() < max(2, MIN_VALID_FRACTION * steps):
        return out
    centre = float(np.median(means[good]))
    scale = MAD_TO_SD * float(np.median(np.abs(means[good] - centre)))
    if scale < MIN_SCALE:
        scale = float(np.std(means[good]))
    if scale < MIN_SCALE:
        return out
    standardized = np.clip((means - centre) / scale, -WAVE_CLIP, WAVE_CLIP)
    out[good] = standardized[good]
    return out


# --- heart-rate variability -----------------------------------------------------------------------------


def hrv_features(
    r_peaks: ArrayLike,
    sampling_rate: float,
    at_sample: int,
    spec: FeatureSpec,
    hrs_mean: float | None = None,
) -> NDArray[np.float32]:
    """HRV features at ``at_sample`` from the R-peaks in the trailing ``spec.hrv_window_s``.

    Returns ``(len(spec.hrv_features),)`` float32 in the spec's order.  Only peaks in
    ``(at_sample - hrv_window_s, at_sample]`` are used (causal), and only their RR intervals within
    ``[60 / HR_MAX_BPM, 60 / HR_MIN_BPM]`` (a missed or doubled beat or a signal gap gives others).

    * ``rr_mean_s``, ``rr_std_s`` (SDNN, ddof 1), ``hr_mean_bpm`` (60 / ``rr_mean_s``), ``hrv_sdsd_s``
      (SD of successive RR differences, ddof 1), ``hrv_rmssd_s``: as NeuroKit2's ``hrv_time``.
    * ``hr_now_bpm``: the beat-interpolated HR at ``at_sample`` from the peaks so far, i.e. the rate of the
      last (valid) RR interval (``signal_rate`` holds it after the last peak).
    * ``hrs_now_bpm_s``: |dHR/dt| over the last beat: the beat rates 60/RR are the mean HR over their
      intervals, so their difference over the distance between the interval midpoints is the slope, exact
      for a linear HR ramp.  (The HR held after the last peak has slope 0, so the latest known slope is
      used.)
    * ``hrs_mean_bpm_s``: ``hrs_mean`` when given and finite (e.g. the trial's mean HRS), else the
      duration-weighted mean of those beat-to-beat slopes over the window.
    * ``hrs_ratio``: ``hrs_now / max(hrs_mean, HRS_FLOOR_BPM_S)`` (CMCL-Net's post-filter compares it to eta).

    With too few beats the ``DEFAULT_*`` resting values stand in, each feature needing: one RR interval
    (``rr_mean_s``, ``hr_mean_bpm``, ``hr_now_bpm``), two (``rr_std_s``, ``hrv_rmssd_s``, the slopes) or
    three (``hrv_sdsd_s``) consecutive valid intervals.
    """
    fs = float(sampling_rate)
    if not np.isfinite(fs) or fs <= 0:
        raise ValueError(f"sampling_rate must be positive, got {sampling_rate!r}")
    peaks = np.asarray(r_peaks)
    if peaks.ndim != 1:
        raise ValueError(f"r_peaks must be one-dimensional, got shape {peaks.shape}")
    peaks = peaks.astype(np.int64)
    if np.any(np.diff(peaks) <= 0):
        raise ValueError("r_peaks must be strictly increasing")
    if hrs_mean is not None and np.isfinite(hrs_mean) and hrs_mean < 0:
        raise ValueError(f"hrs_mean must not be negative, got {hrs_mean}")

    window = round(spec.hrv_window_s * fs)
    lo, hi = np.searchsorted(peaks, [int(at_sample) - window, int(at_sample)], side="right")
    recent = peaks[lo:hi]
    rr = np.diff(recent) / fs
    valid = (rr >= RR_MIN_S) & (rr <= RR_MAX_S)
    good_rr = rr[valid]
    pairs = valid[:-1] & valid[1:]  # successive intervals, both valid
    successive = np.diff(rr)[pairs]

    rr_mean = float(np.mean(good_rr)) if good_rr.size >= 1 else DEFAULT_RR_S
    rr_std = float(np.std(good_rr, ddof=1)) if good_rr.size >= 2 else DEFAULT_RR_STD_S
    sdsd = float(np.std(successive, ddof=1)) if successive.size >= 2 else DEFAULT_SDSD_S
    rmssd = float(np.sqrt(np.mean(successive**2))) if successive.size >= 1 else DEFAULT_RMSSD_S
    hr_now = 60.0 / float(good_rr[-1]) if good_rr.size >= 1 else 60.0 / DEFAULT_RR_S

    # Beat-to-beat slopes: rates 60/RR sit at their interval midpoints.
    rate = 60.0 / rr
    spacing = (rr[:-1] + rr[1:]) / 2.0
    slopes = np.abs(np.diff(rate))[pairs] / spacing[pairs]
    hrs_now = float(slopes[-1]) if slopes.size else DEFAULT_HRS_BPM_S
    if hrs_mean is not None and np.isfinite(hrs_mean):
        mean_slope = float(hrs_mean)
    elif slopes.size:
        mean_slope = float(np.sum(slopes * spacing[pairs]) / np.sum(spacing[pairs]))
    else:
        mean_slope = DEFAULT_HRS_BPM_S
    values = {
        "rr_mean_s": rr_mean,
        "rr_std_s": rr_std,
        "hr_mean_bpm": 60.0 / rr_mean,
        "hrv_sdsd_s": sdsd,
        "hrv_rmssd_s": rmssd,
        "hr_now_bpm": hr_now,
        "hrs_now_bpm_s": hrs_now,
        "hrs_mean_bpm_s": mean_slope,
        "hrs_ratio": hrs_now / max(mean_slope, HRS_FLOOR_BPM_S),
    }
    unknown = [name for name in spec.hrv_features if name not in values]
    if unknown:
        raise ValueError(f"unknown HRV feature(s) in the spec: {', '.join(unknown)}")
    return np.array([values[name] for name in spec.hrv_features], dtype=np.float32)
