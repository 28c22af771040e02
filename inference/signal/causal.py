"""Causal R-peak detection and heart rate for the live ECG.

The real-time engine feeds :class:`CausalHeartRate` blocks of raw ECG samples as they arrive; it answers
with the R-peaks it has just confirmed and, at any time, the heart rate (HR) and heart-rate slope
(``HRS = |dHR/dt|``) from the peaks confirmed so far, measured exactly as :mod:`inference.signal.ecg` does
offline:

>>> live = CausalHeartRate(1000.0)                          # doctest: +SKIP
>>> new_peaks = live.push(block)                             # doctest: +SKIP
>>> keep = live.hrs_at(apex) > eta * live.mean_hrs(0, live.samples_seen)   # doctest: +SKIP

How it works: the last ``lookback_s`` of raw ECG are kept in a buffer, and every ``detect_every_s`` of
signal (counted in samples, so the result does not depend on how the samples are blocked) the offline
detector (:func:`inference.signal.ecg.ecg_peaks`, NeuroKit2) runs on the whole buffer.  A peak it finds is
*confirmed* once it is at least ``confirm_delay_s`` old (its QRS and the detector's smoothing windows have
fully arrived, so the filter and threshold edge effects at the buffer's end no longer move it) and more
than ``refractory_s`` after the last confirmed peak (the same beat found again by a later run is ignored).
Confirmed peaks are never revised.  The ECG's polarity is decided once, from the first
``polarity_s`` seconds, with :func:`inference.signal.ecg.ecg_is_inverted`; until then nothing is detected,
and the first run then searches the whole warm-up, so no beat of the first seconds is lost.  Non-finite
samples (lost samples) empty the buffer; detection resumes once ``MIN_PEAK_SEARCH_S`` of clean signal
have arrived again, and an RR interval spanning such a gap is not used as a heart period.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.interpolate import PchipInterpolator

from inference.signal.ecg import (
    HR_MAX_BPM,
    HR_MIN_BPM,
    MIN_PEAK_SEARCH_S,
    PolarityChoice,
    ecg_clean,
    ecg_is_inverted,
    ecg_peaks,
)

__all__ = [
    "CONFIRM_DELAY_S",
    "DETECT_EVERY_S",
    "LOOKBACK_S",
    "POLARITY_DECISION_S",
    "REFRACTORY_S",
    "CausalHeartRate",
]

LOOKBACK_S: Final = 4.0
"""Raw ECG searched on each run: several beats, and well over NeuroKit's 0.75 s gradient-averaging window."""

DETECT_EVERY_S: Final = 0.2
"""Signal time between two detector runs (1.5-2.5 ms of CPU each on a 4 s buffer at 1 kHz)."""

CONFIRM_DELAY_S: Final = 0.25
"""A peak is confirmed only when this much signal has followed it: its QRS (about 100 ms) and NeuroKit's
100 ms gradient smoothing have fully arrived.  With ``DETECT_EVERY_S`` a beat is known 0.25-0.45 s late."""

REFRACTORY_S: Final = 0.25
"""Peaks closer than this to the last confirmed one are the same beat found again (it is below the
shortest RR interval, 60 / ``HR_MAX_BPM`` = 0.27 s)."""

INTERPOLATOR_CACHE: Final = 4
"""Heart-rate interpolators kept (by peak count): the newest, and a few "as known at" views of decisions."""

POLARITY_DECISION_S: Final = 5.0
"""Signal used to decide the ECG's polarity once per session.  On the biphasic BIOPAC ERS100C recording
(tests/data/acq/physio-5.0.1.acq) every 5 s window gives the offline answer; 3-4 s windows sometimes not."""


class CausalHeartRate:
    """Causal R-peaks, heart rate and heart-rate slope of a live ECG fed block by block.

    ``method`` is the NeuroKit2 R-peak detector; ``polarity`` is ``"auto"`` (decided once from the first
    ``polarity_s``), ``"normal"`` or ``"inverted"``.  Sample indices are absolute, counted from the first
    sample pushed.  Feeding the same samples in blocks of any size gives the same peaks.
    """

    def __init__(
        self,
        sampling_rate: float,
        method: str = "neurokit",
        lookback_s: float = LOOKBACK_S,
        *,
        detect_every_s: float = DETECT_EVERY_S,
        confirm_delay_s: float = CONFIRM_DELAY_S,
        refractory_s: float = REFRACTORY_S,
        polarity: PolarityChoice = "auto",
        polarity_s: float = POLARITY_DECISION_S,
    ) -> None:
        fs = float(sampling_rate)
        if not np.isfinite(fs) or fs <= 0:
            raise ValueError(f"sampling_rate must be positive, got {sampling_rate!r}")
        if polarity not in ("auto", "normal", "inverted"):
            raise ValueError(f"polarity must be 'auto', 'normal' or 'inverted', got {polarity!r}")
        if lookback_s < MIN_PEAK_SEARCH_S:
            raise ValueError(f"lookback_s must be at least {MIN_PEAK_SEARCH_S} s, got {lookback_s}")
        if detect_every_s <= 0 or confirm_delay_s < 0 or refractory_s <= 0:
            raise ValueError("detect_every_s and refractory_s must be positive, confirm_delay_s >= 0")
        if confirm_delay_s + detect_every_s >= lookback_s:
            raise ValueError("confirm_delay_s + detect_every_s must be shorter than lookback_s")
        self.sampling_rate = fs
        self.method = method
        self._hop = max(1, round(detect_every_s * fs))
        self._delay = round(confirm_delay_s * fs)
        self._refractory = max(1, round(refractory_s * fs))
        self._lookback = round(lookback_s * fs)
        self._min_run = int(np.ceil(MIN_PEAK_SEARCH_S * fs))
        self._polarity_n = max(self._min_run, round(polarity_s * fs))
        self._polarity: PolarityChoice = polarity
        # Raw samples since the last gap; the last `_capacity()` of them are searched.
        self._store = np.empty(2 * max(self._lookback, self._polarity_n) + 2 * self._hop, dtype=np.float64)
        self._fill = 0  # samples held in _store (all finite, contiguous, ending at the newest sample)
        self._n = 0  # samples pushed so far
        self._next_run = self._hop
        self._peaks: list[int] = []
        self._confirmed_at: list[int] = []
        self._gaps: list[int] = []  # absolute index of the first sample of each run of lost samples
        self._last_lost = False  # whether the newest sample was lost
        self._peaks_array = np.empty(0, dtype=np.int64)
        # interpolators by the number of peaks they use (the newest and one "as known at" prefix)
        self._interp: dict[int, tuple[PchipInterpolator | None, int, int]] = {}

    # --- input -----------------------------------------------------------------------------------------

    def push(self, samples: ArrayLike) -> NDArray[np.int64]:
        """Append raw ECG samples; return the R-peaks (absolute sample indices) confirmed by this block."""
        block = np.asarray(samples, dtype=np.float64)
        if block.ndim != 1:
            raise ValueError(f"samples must be one-dimensional, got shape {block.shape}")
        new: list[int] = []
        pos = 0
        while pos < block.size:
            take = min(block.size - pos, self._next_run - self._n)
            piece = block[pos : pos + take]
            lost = np.flatnonzero(~np.isfinite(piece))
            if lost.size:
                starts = lost[np.diff(lost, prepend=-2) > 1]  # first sample of each run of lost samples
                if self._last_lost and starts[0] == 0:
                    starts = starts[1:]  # the run began in an earlier block
                self._gaps.extend((self._n + starts).tolist())
                self._fill = 0
                piece = piece[lost[-1] + 1 :]
            self._last_lost = piece.size == 0
            self._append(piece)
            self._n += take
            pos += take
            if self._n == self._next_run:
                new.extend(self._run())
                self._next_run += self._hop
        return np.asarray(new, dtype=np.int64)

    def _capacity(self) -> int:
        # During the polarity warm-up keep everything since the last gap, so the first run sees it all.
        return self._lookback if self._polarity != "auto" else self._polarity_n + self._hop

    def _append(self, piece: NDArray[np.float64]) -> None:
        if self._fill + piece.size > self._store.size:
            keep = min(self._fill, self._capacity())
            self._store[:keep] = self._store[self._fill - keep : self._fill]
            self._fill = keep
        self._store[self._fill : self._fill + piece.size] = piece
        self._fill += piece.size

    def _run(self) -> list[int]:
        """Run the detector on the buffer that ends at sample ``self._n``; confirm the peaks old enough."""
        if self._polarity == "auto":
            if self._fill < self._polarity_n:
                return []
            warm_up = self._store[: self._fill]
            inverted = ecg_is_inverted(ecg_clean(warm_up, self.sampling_rate), self.sampling_rate)
            self._polarity = "inverted" if inverted else "normal"
            buffer = warm_up
        else:
            if self._fill < self._min_run:
                return []
            buffer = self._store[max(0, self._fill - self._lookback) : self._fill]
        found = ecg_peaks(buffer, self.sampling_rate, self.method, polarity=self._polarity)
        found = found + (self._n - buffer.size)
        new: list[int] = []
        for peak in found[found < self._n - self._delay].tolist():
            if self._peaks and peak - self._peaks[-1] < self._refractory:
                continue
            self._peaks.append(peak)
            self._confirmed_at.append(self._n)
            new.append(peak)
        return new

    # --- state -----------------------------------------------------------------------------------------

    @property
    def samples_seen(self) -> int:
        """Samples pushed so far (the absolute index of the next sample)."""
        return self._n

    @property
    def polarity(self) -> PolarityChoice:
        """``"normal"`` or ``"inverted"`` once decided, ``"auto"`` during the warm-up."""
        return self._polarity

    @property
    def peaks(self) -> NDArray[np.int64]:
        """All confirmed R-peaks so far (absolute sample indices, increasing)."""
        if self._peaks_array.size != len(self._peaks):
            self._peaks_array = np.asarray(self._peaks, dtype=np.int64)
            self._peaks_array.flags.writeable = False  # shared with callers and the HR interpolation
        return self._peaks_array

    @property
    def confirmed_at(self) -> NDArray[np.int64]:
        """For each peak, the number of samples pushed when it was confirmed (minus the peak: its latency)."""
        return np.asarray(self._confirmed_at, dtype=np.int64)

    def peaks_confirmed_by(self, sample: int) -> NDArray[np.int64]:
        """The R-peaks that had been confirmed when ``sample`` arrived.  Safe to call while another thread
        pushes: a peak is appended before its confirmation time, so both are cut to the shorter."""
        confirmed_at = np.asarray(self._confirmed_at, dtype=np.int64)
        peaks = np.asarray(self._peaks[: len(confirmed_at)], dtype=np.int64)
        return peaks[confirmed_at <= sample]

    @property
    def gaps(self) -> NDArray[np.int64]:
        """Absolute index of the first sample of each run of lost (non-finite) samples; each reset the
        detector."""
        return np.asarray(self._gaps, dtype=np.int64)

    def known_peaks(self, upto: int | None = None) -> int:
        """How many of the peaks had been confirmed when sample ``upto`` arrived (all of them for None).
        Peaks are confirmed in order, so those are the first ones."""
        if upto is None:
            return len(self._peaks)
        return int(np.searchsorted(np.asarray(self._confirmed_at[: len(self._peaks)]), upto, side="right"))

    def covers(self, sample: int, upto: int | None = None) -> bool:
        """Whether a confirmed peak (confirmed by ``upto``) follows ``sample``: only then is the HR there
        interpolated between beats rather than held at the last beat's rate (so its HRS is final)."""
        count = self.known_peaks(upto)
        return count > 0 and self._peaks[count - 1] > sample

    def covered_at(self, sample: int) -> int | None:
        """The sample at which the first peak after ``sample`` was confirmed (None while there is none)."""
        peaks = self.peaks
        first = int(np.searchsorted(peaks, sample, side="right"))
        return int(self._confirmed_at[first]) if first < len(peaks) else None

    # --- heart rate ------------------------------------------------------------------------------------

    def _interpolator(self, upto: int | None = None) -> tuple[PchipInterpolator, int, int] | None:
        """PCHIP of the heart period (s) over the peaks confirmed by ``upto``, cached per peak count."""
        count = self.known_peaks(upto)
        if count < 2:
            return None
        if count not in self._interp:
            peaks = self.peaks[:count]
            gaps = self.gaps
            if upto is not None:
                gaps = gaps[gaps < upto]
            periods = _beat_periods(peaks, self.sampling_rate, gaps)
            interp = PchipInterpolator(peaks, periods) if np.all(np.isfinite(periods)) else None
            if len(self._interp) >= INTERPOLATOR_CACHE:
                self._interp.pop(min(self._interp))
            self._interp[count] = (interp, int(peaks[0]), int(peaks[-1]))
        interp, first, last = self._interp[count]
        return None if interp is None else (interp, first, last)

    def rate_curve(self, start: int, stop: int, upto: int | None = None) -> NDArray[np.float64]:
        """HR (bpm) at samples ``start..stop-1`` from the peaks confirmed so far (or by sample ``upto``).

        Beat-interpolated exactly like :func:`inference.signal.ecg.signal_rate` (monotone cubic over the
        RR periods, held constant before the first and after the last peak, clipped to
        ``[HR_MIN_BPM, HR_MAX_BPM]``); equal to it when no gap interrupted the ECG.  All NaN before two
        peaks are confirmed (or while no RR interval without a gap is known).
        """
        if stop < start:
            raise ValueError(f"stop ({stop}) must not precede start ({start})")
        found = self._interpolator(upto)
        if found is None:
            return np.full(stop - start, np.nan)
        interp, first, last = found
        x = np.clip(np.arange(start, stop, dtype=np.float64), first, last)
        return np.clip(60.0 / interp(x), HR_MIN_BPM, HR_MAX_BPM)

    def rate_at(self, sample: int, upto: int | None = None) -> float:
        """HR (bpm) at ``sample`` from the peaks confirmed so far (NaN before two peaks)."""
        return float(self.rate_curve(sample, sample + 1, upto)[0])

    def hrs_curve(self, start: int, stop: int, upto: int | None = None) -> NDArray[np.float64]:
        """HRS = |dHR/dt| (bpm/s) at samples ``start..stop-1`` by central differences, as
        :func:`inference.signal.ecg.heart_rate_slope` computes it inside a curve."""
        rate = self.rate_curve(start - 1, stop + 1, upto)
        return np.abs(rate[2:] - rate[:-2]) * (self.sampling_rate / 2.0)

    def hrs_at(self, sample: int, upto: int | None = None) -> float:
        """HRS (bpm/s) at ``sample`` from the peaks confirmed so far (NaN before two peaks).

        After the last confirmed peak the HR is held, so the HRS there is 0 until the next beat is
        confirmed: check :meth:`covers` before trusting it.
        """
        return float(self.hrs_curve(sample, sample + 1, upto)[0])

    def mean_hrs(self, start: int, stop: int, upto: int | None = None) -> float:
        """Mean HRS (bpm/s) over samples ``start..stop-1`` (e.g. the trial so far); NaN before two peaks."""
        if stop <= start:
            raise ValueError(f"empty range {start}..{stop}")
        hrs = self.hrs_curve(start, stop, upto)
        return float(np.mean(hrs)) if np.all(np.isfinite(hrs)) else float("nan")


def _beat_periods(peaks: NDArray[np.int64], fs: float, gaps: NDArray[np.int64]) -> NDArray[np.float64]:
    """Heart period (s) at each peak: its RR interval, as ``signal_rate`` assigns it (the first peak gets the
    mean of the others).  After a gap, an interval spanning it is unknown: such a peak takes the next beat's
    period (the previous one's when none follows), and the periods are all NaN when no interval is known."""
    period = np.diff(peaks, prepend=peaks[0]).astype(np.float64) / fs
    if not gaps.size:
        period[0] = np.mean(period[1:])
        return period
    valid = np.ones(peaks.size, dtype=bool)
    valid[0] = False
    # Peak k's interval spans a gap when a gap index lies between peaks k-1 and k.
    valid[1:] = np.searchsorted(gaps, peaks[1:]) == np.searchsorted(gaps, peaks[:-1])
    good = np.flatnonzero(valid)
    if good.size == 0:
        return np.full(peaks.size, np.nan)
    nearest = good[np.minimum(np.searchsorted(good, np.arange(peaks.size)), good.size - 1)]
    return np.where(valid, period, period[nearest])
