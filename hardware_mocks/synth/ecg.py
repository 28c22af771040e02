"""Synthetic ECG whose heart rate answers facial expressions the way a heart answers emotional events.

Two steps, pure functions of their arguments and a ``numpy.random.Generator``:

1. :func:`simulate_heart_rate` builds the instantaneous heart-rate curve (bpm, one value per sample):
   a base rate, slow drift, a small low-frequency (Mayer-wave) component, respiratory sinus arrhythmia at a
   slowly varying breathing rate, plus one phasic response per :class:`HeartRateResponse`.
2. :func:`simulate_ecg` places a beat each time the phase integral of ``HR/60`` crosses an integer and draws
   each beat as a sum of Gaussian P, Q, R, S and T waves (McSharry et al.'s ECGSYN morphology, with P and T
   timing scaled by ``sqrt(RR)`` as in Bazett's QT law), then adds beat-to-beat amplitude variation, baseline
   wander, 50 Hz line noise and white noise.

The response to an event follows the psychophysiology of cardiac responses to emotional stimuli, not any
detector of this project: an optional brief *deceleration* first (the orienting response: Graham & Clifton,
1966, Psychol. Bull. 65:305-320; in picture viewing the initial deceleration of a few bpm over the first
1-2 s, Bradley & Lang, 2000, in Lane & Nadel (eds.), *Cognitive Neuroscience of Emotion*, pp. 242-276;
Bradley, Codispoti, Cuthbert & Lang, 2001, Emotion 1:276-298), then an *acceleration* of a few bpm that
starts about a second after the event, peaks 2-4 s after it and recovers over several seconds (the
accelerative component of the same triphasic response; accelerations of a few bpm with posed and felt
emotional expressions: Levenson, Ekman & Friesen, 1990, Psychophysiology 27:363-384). Latency, amplitude and
shape are drawn per event (:func:`hardware_mocks.synth.timeline.draw_response`), with spread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DEFAULT_ECG_MORPHOLOGY",
    "DEFAULT_HEART_RATE_PROFILE",
    "EcgWave",
    "HeartRateProfile",
    "HeartRateResponse",
    "simulate_ecg",
    "simulate_heart_rate",
]

FloatArray = NDArray[np.float64]

# ----------------------------------------------------------------------------------------------------------
# Heart-rate responses to emotional events


@dataclass(frozen=True)
class HeartRateResponse:
    """A phasic heart-rate response to an event at ``onset_s`` (a facial expression's onset, or nothing).

    Times are measured from the event. Acceleration: a raised-cosine rise from ``latency_s`` to ``peak_s``
    by ``amplitude_bpm``, then a raised-cosine recovery over ``recovery_s``. Optional orienting deceleration
    before it: a ``sin^2`` dip of ``deceleration_bpm`` from ``deceleration_latency_s`` lasting
    ``deceleration_s`` (it overlaps the start of the acceleration, as in the triphasic response).
    Defaults are mid-range values of the literature (see the module docstring).
    """

    onset_s: float
    amplitude_bpm: float = 6.0
    latency_s: float = 1.0
    peak_s: float = 3.0
    recovery_s: float = 5.0
    deceleration_bpm: float = 0.0
    deceleration_latency_s: float = 0.3
    deceleration_s: float = 1.5

    def __post_init__(self) -> None:
        if self.latency_s < 0 or self.peak_s <= self.latency_s or self.recovery_s <= 0:
            raise ValueError("need 0 <= latency_s < peak_s and recovery_s > 0")
        if self.deceleration_bpm and self.deceleration_s <= 0:
            raise ValueError("deceleration_s must be positive")

    @property
    def peak_time_s(self) -> float:
        return self.onset_s + self.peak_s

    @property
    def end_s(self) -> float:
        return self.peak_time_s + self.recovery_s

    def curve(self, t: FloatArray) -> FloatArray:
        """HR change (bpm) at times ``t`` (s)."""
        start, top = self.onset_s + self.latency_s, self.peak_time_s
        out = np.zeros_like(t)
        rising = (t > start) & (t < top)
        out[rising] = 0.5 * (1.0 - np.cos(np.pi * (t[rising] - start) / (top - start)))
        falling = (t >= top) & (t < self.end_s)
        out[falling] = 0.5 * (1.0 + np.cos(np.pi * (t[falling] - top) / self.recovery_s))
        out *= self.amplitude_bpm
        if self.deceleration_bpm:
            d0 = self.onset_s + self.deceleration_latency_s
            dip = (t > d0) & (t < d0 + self.deceleration_s)
            out[dip] -= self.deceleration_bpm * np.sin(np.pi * (t[dip] - d0) / self.deceleration_s) ** 2
        return out


# ----------------------------------------------------------------------------------------------------------
# Heart-rate variability


@dataclass(frozen=True)
class HeartRateProfile:
    """Defaults of the resting heart rate and its variability (a seated adult watching video clips).

    Respiratory sinus arrhythmia dominates the beat-to-beat variability at rest; the LF component and the
    drift are slower. A session draws its own base rate and RSA around these (see ``VariationProfile``).
    """

    base_bpm: float = 70.0
    """Mean resting heart rate (adults at rest: 60-80 bpm)."""
    rsa_amplitude_bpm: float = 2.0
    """Respiratory sinus arrhythmia, peak deviation (4 bpm peak to trough; seated adults range from a few
    to about ten)."""
    respiration_hz: float = 0.25
    """Mean breathing rate (15 breaths/min; rest: 12-18)."""
    respiration_variation_hz: float = 0.03
    """Peak deviation of the breathing rate, which wanders slowly (``respiration_wander_hz``)."""
    respiration_wander_hz: tuple[float, float] = (0.01, 0.04)
    """Frequency band of the breathing-rate wander (a change every 25-100 s)."""
    lf_amplitude_bpm: float = 1.0
    """Standard deviation of the low-frequency (Mayer-wave, baroreflex) component."""
    lf_band_hz: tuple[float, float] = (0.04, 0.15)
    """The standard LF band of heart-rate variability."""
    drift_bpm: float = 2.0
    """Standard deviation of the slow drift (arousal, posture) over a trial."""
    drift_band_hz: tuple[float, float] = (0.003, 0.02)
    """Frequency band of the drift: periods of 50-300 s, i.e. slower than a one-minute trial's events."""
    n_components: int = 6
    """Sinusoids summed per random component: enough to look irregular, cheap to evaluate."""


DEFAULT_HEART_RATE_PROFILE: Final = HeartRateProfile()

HR_FLOOR_BPM: Final = 40.0
"""The simulated HR is clipped here, so that extreme parameters cannot stop the heart."""

HR_CEILING_BPM: Final = 180.0
"""...and here, so that stacked responses cannot drive it past a resting subject's plausible maximum."""


def _band_noise(
    t: FloatArray, rng: np.random.Generator, band_hz: tuple[float, float], n_components: int
) -> FloatArray:
    """Smooth random process of unit variance: sinusoids with random frequencies in ``band_hz`` and phases."""
    freqs = rng.uniform(band_hz[0], band_hz[1], n_components)
    phases = rng.uniform(0.0, 2.0 * np.pi, n_components)
    weights = rng.uniform(0.5, 1.0, n_components)
    weights *= np.sqrt(2.0 / np.sum(weights**2))  # unit variance of the sum
    return np.sin(2.0 * np.pi * t[:, None] * freqs + phases) @ weights


def simulate_heart_rate(
    duration_s: float,
    sampling_rate: float,
    rng: np.random.Generator,
    *,
    base_bpm: float | None = None,
    rsa_amplitude_bpm: float | None = None,
    respiration_hz: float | None = None,
    drift_bpm: float | None = None,
    lf_amplitude_bpm: float | None = None,
    responses: Sequence[HeartRateResponse] = (),
    profile: HeartRateProfile = DEFAULT_HEART_RATE_PROFILE,
) -> FloatArray:
    """Instantaneous heart rate (bpm) at ``sampling_rate`` over ``duration_s``.

    ``base_bpm`` + slow drift (std ``drift_bpm``) + LF component (std ``lf_amplitude_bpm``) + respiratory
    sinus arrhythmia (``rsa_amplitude_bpm``, breathing at ``respiration_hz``, wandering slowly) + one
    :class:`HeartRateResponse` curve each.  Keywords left at ``None``, and the remaining shape parameters
    (bands, breathing-rate wander), come from ``profile`` (see :class:`HeartRateProfile` for the defaults).
    Deterministic for a given ``rng`` state; the random draws do not depend on ``responses``, so the same seed
    gives the same background with or without them.
    """
    fs = float(sampling_rate)
    if fs <= 0 or duration_s <= 0:
        raise ValueError("duration_s and sampling_rate must be positive")
    base_bpm = profile.base_bpm if base_bpm is None else base_bpm
    rsa_amplitude_bpm = profile.rsa_amplitude_bpm if rsa_amplitude_bpm is None else rsa_amplitude_bpm
    respiration_hz = profile.respiration_hz if respiration_hz is None else respiration_hz
    drift_bpm = profile.drift_bpm if drift_bpm is None else drift_bpm
    lf_amplitude_bpm = profile.lf_amplitude_bpm if lf_amplitude_bpm is None else lf_amplitude_bpm
    n = round(duration_s * fs)
    t = np.arange(n) / fs
    drift = drift_bpm * _band_noise(t, rng, profile.drift_band_hz, profile.n_components)
    lf = lf_amplitude_bpm * _band_noise(t, rng, profile.lf_band_hz, profile.n_components)
    breathing_hz = respiration_hz + profile.respiration_variation_hz * _band_noise(
        t, rng, profile.respiration_wander_hz, profile.n_components
    ) / np.sqrt(2.0)
    breathing_phase = 2.0 * np.pi * np.cumsum(breathing_hz) / fs + rng.uniform(0.0, 2.0 * np.pi)
    rsa = rsa_amplitude_bpm * np.sin(breathing_phase)
    heart_rate = base_bpm + drift + lf + rsa
    for response in responses:
        heart_rate += response.curve(t)
    return np.clip(heart_rate, HR_FLOOR_BPM, HR_CEILING_BPM)


# ----------------------------------------------------------------------------------------------------------
# ECG morphology


@dataclass(frozen=True)
class EcgWave:
    """One Gaussian wave of a beat, in McSharry et al.'s ECGSYN terms (IEEE TBME 2003, table 1).

    ``angle_deg`` and ``width_rad`` are the wave's position and Gaussian width on the beat's phase circle at
    60 bpm (one turn = 1 s, so ``angle / 360`` s from the R peak); ``ecgsyn_a`` is ECGSYN's ODE gain, the
    drawn height being proportional to ``a * b**2`` (the ODE integrates the Gaussian's derivative).  With
    ``rr_scaled`` the position and width scale with ``sqrt(RR)`` (P and T: PR and QT shorten at faster rates,
    Bazett); the QRS complex keeps its duration.
    """

    name: str
    angle_deg: float
    width_rad: float
    ecgsyn_a: float
    rr_scaled: bool

    @property
    def height(self) -> float:
        return self.ecgsyn_a * self.width_rad**2


DEFAULT_ECG_MORPHOLOGY: Final = (
    EcgWave("P", -70.0, 0.25, 1.2, True),
    EcgWave("Q", -15.0, 0.1, -5.0, False),
    EcgWave("R", 0.0, 0.1, 30.0, False),
    EcgWave("S", 15.0, 0.1, -7.5, False),
    EcgWave("T", 100.0, 0.4, 0.75, True),
)
"""ECGSYN's P, Q, R, S, T: heights relative to R of 0.25, -0.17, 1, -0.25, 0.4."""

RR_SCALING_LIMITS_S: Final = (0.3, 2.0)
"""RR range over which P/T timing is scaled (200-30 bpm); outside it the shape is held."""

WAVE_EXTENT_SIGMAS: Final = 5.0
"""Each Gaussian is drawn out to this many widths (its tail beyond is < 4e-6 of its height)."""

DEFAULT_AMPLITUDE_MV: Final = 1.0
"""R-wave height: about 1 mV in a limb lead."""
DEFAULT_NOISE_MV: Final = 0.01
"""White (amplifier, EMG) noise, standard deviation: a clean seated recording."""
DEFAULT_BASELINE_WANDER_MV: Final = 0.1
"""Baseline wander amplitude from breathing and electrode movement (removed by the 0.5 Hz high-pass)."""
DEFAULT_POWERLINE_HZ: Final = 50.0
DEFAULT_POWERLINE_MV: Final = 0.01
"""Residual mains interference after the amplifier's common-mode rejection."""
BEAT_AMPLITUDE_JITTER: Final = 0.03
"""Beat-to-beat relative amplitude variation (standard deviation)."""
RESPIRATORY_AMPLITUDE_MODULATION: Final = 0.05
"""Relative QRS amplitude modulation by breathing (the heart's electrical axis moves with the diaphragm)."""
WANDER_RESPIRATION_HZ: Final = DEFAULT_HEART_RATE_PROFILE.respiration_hz
"""Breathing rate of the baseline wander and QRS amplitude modulation (``simulate_ecg`` only sees the heart
rate, so this breathing is not phase-locked to the RSA in it; the 0.5 Hz high-pass removes it anyway)."""
WANDER_SLOW_BAND_HZ: Final = (0.02, 0.1)
"""Band of the slower, electrode-movement part of the baseline wander."""


def _beat_times(heart_rate_bpm: FloatArray, fs: float, phase0: float) -> FloatArray:
    """Times (s) where the integral of ``HR/60`` from ``phase0`` crosses an integer, plus one beat before the
    start and one after the end (extrapolated with the first/last HR) so edge beats are drawn whole."""
    phase = phase0 + np.cumsum(heart_rate_bpm / 60.0) / fs
    previous = np.concatenate(([phase0], phase[:-1]))
    crossing = np.flatnonzero(np.floor(phase) > np.floor(previous))
    target = np.floor(phase[crossing])
    fraction = (target - previous[crossing]) / (phase[crossing] - previous[crossing])
    inside = (crossing + fraction) / fs
    before = -(phase0 % 1.0) * 60.0 / heart_rate_bpm[0]
    after = (np.floor(phase[-1]) + 1.0 - phase[-1]) * 60.0 / heart_rate_bpm[-1] + heart_rate_bpm.size / fs
    return np.concatenate(([before], inside, [after]))


def simulate_ecg(
    heart_rate_bpm: NDArray[np.floating],
    sampling_rate: float,
    rng: np.random.Generator,
    *,
    amplitude_mv: float = DEFAULT_AMPLITUDE_MV,
    noise_mv: float = DEFAULT_NOISE_MV,
    baseline_wander_mv: float = DEFAULT_BASELINE_WANDER_MV,
    powerline_hz: float = DEFAULT_POWERLINE_HZ,
    powerline_mv: float = DEFAULT_POWERLINE_MV,
    morphology: Sequence[EcgWave] = DEFAULT_ECG_MORPHOLOGY,
) -> tuple[FloatArray, NDArray[np.int64]]:
    """An ECG (mV, float64, same length as ``heart_rate_bpm``) beating at ``heart_rate_bpm``.

    Returns ``(ecg, r_peaks)``: the signal and the true R-peak sample indices (int64, inside the signal).
    Vectorised: one matrix of (beats x samples-per-beat) per wave, summed with ``np.bincount``.
    """
    hr = np.asarray(heart_rate_bpm, dtype=np.float64)
    fs = float(sampling_rate)
    if hr.ndim != 1 or hr.size == 0:
        raise ValueError("heart_rate_bpm must be a non-empty one-dimensional array")
    if fs <= 0 or not np.all(np.isfinite(hr)) or np.any(hr <= 0):
        raise ValueError("sampling_rate and heart_rate_bpm must be positive and finite")
    n = hr.size
    t = np.arange(n) / fs

    beats = _beat_times(hr, fs, rng.uniform(0.0, 1.0))
    rr = np.diff(beats, prepend=beats[0] - 60.0 / hr[0])
    rr_scale = np.sqrt(np.clip(rr, *RR_SCALING_LIMITS_S))
    gain = amplitude_mv / max(wave.height for wave in morphology)
    beat_gain = gain * (1.0 + BEAT_AMPLITUDE_JITTER * rng.standard_normal(beats.size))
    breathing_phase = rng.uniform(0.0, 2.0 * np.pi)
    breathing = np.sin(2.0 * np.pi * WANDER_RESPIRATION_HZ * beats + breathing_phase)
    beat_gain *= 1.0 + RESPIRATORY_AMPLITUDE_MODULATION * breathing

    ecg = np.zeros(n)
    for wave in morphology:
        scale = rr_scale if wave.rr_scaled else np.ones_like(rr_scale)
        centre = beats + wave.angle_deg / 360.0 * scale
        sigma = wave.width_rad / (2.0 * np.pi) * scale
        first = np.floor((centre - WAVE_EXTENT_SIGMAS * sigma) * fs).astype(np.int64)
        length = int(np.ceil(2.0 * WAVE_EXTENT_SIGMAS * np.max(sigma) * fs)) + 2
        index = first[:, None] + np.arange(length)
        values = (beat_gain * wave.height)[:, None] * np.exp(
            -0.5 * ((index / fs - centre[:, None]) / sigma[:, None]) ** 2
        )
        inside = (index >= 0) & (index < n)
        ecg += np.bincount(index[inside], weights=values[inside], minlength=n)

    wander = np.sin(2.0 * np.pi * WANDER_RESPIRATION_HZ * t + breathing_phase)
    wander += _band_noise(t, rng, WANDER_SLOW_BAND_HZ, DEFAULT_HEART_RATE_PROFILE.n_components)
    ecg += baseline_wander_mv / np.sqrt(2.0) * wander
    ecg += powerline_mv * np.sin(2.0 * np.pi * powerline_hz * t + rng.uniform(0.0, 2.0 * np.pi))
    ecg += noise_mv * rng.standard_normal(n)

    r_peaks = np.round(beats * fs).astype(np.int64)
    return ecg, r_peaks[(r_peaks >= 0) & (r_peaks < n)]
