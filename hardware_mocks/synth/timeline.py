"""What happens in a synthetic trial, in seconds: expressions, blinks, head moves, heart-rate responses.

Expressions follow the real MECG coding file (see ../shared/data/SOURCES.md): AU combinations are drawn
with the frequencies seen there, and durations from a distribution fitted to its figures (onset-offset
median 0.54 s, quartiles 0.38-0.92 s; onset-apex median 0.37 s). Each expression is then labelled by the
MEGC rule (:func:`acquisition.readers.annotations.classify_expression`: ME when onset-offset <= 0.5 s or
onset-apex <= 0.25 s), so that about half are MEs, as in MECG. Longer, larger macro-expressions (1-4 s) are
added at a lower rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache

import numpy as np
from numpy.typing import NDArray
from scipy.stats import norm

from acquisition.readers.annotations import classify_expression
from hardware_mocks.synth.ecg import HeartRateResponse

# AU combination -> count in the MECG coding file (944 rows). AUs the file lists too rarely to be counted
# in SOURCES.md (AU9, AU15, AU17) get a small weight so that every modelled region moves now and then.
AU_COMBINATION_COUNTS: dict[tuple[str, ...], int] = {
    ("AU4",): 330,
    ("AU12",): 100,
    ("AU1",): 52,
    ("AU4", "AU7"): 50,
    ("AU1", "AU2"): 29,
    ("AU14",): 24,
    ("AU7",): 24,
    ("AU2",): 19,
    ("AU10",): 18,
    ("AU9",): 10,
    ("AU15",): 10,
    ("AU17",): 10,
}

# The long macro-expressions are full prototypic expressions (weights chosen here, not from MECG).
LONG_MACRO_COMBINATION_WEIGHTS: dict[tuple[str, ...], int] = {
    ("AU6", "AU12"): 4,  # Duchenne smile
    ("AU12",): 2,
    ("AU1", "AU2"): 2,  # surprise
    ("AU4", "AU7"): 2,  # anger
    ("AU9", "AU10"): 1,  # disgust
    ("AU1", "AU4", "AU15"): 1,  # sadness
    ("AU15", "AU17"): 1,
}

# Most likely emotion a coder would write for each AU combination (the file's "Estimated Emotion").
AU_EMOTION: dict[tuple[str, ...], str] = {
    ("AU4",): "angry",
    ("AU12",): "happy",
    ("AU1",): "sad",
    ("AU4", "AU7"): "disgust",
    ("AU1", "AU2"): "surprise",
    ("AU14",): "tense",
    ("AU7",): "fear",
    ("AU2",): "surprise",
    ("AU10",): "disgust",
    ("AU9",): "disgust",
    ("AU15",): "sad",
    ("AU17",): "sad",
    ("AU6", "AU12"): "happy",
    ("AU9", "AU10"): "disgust",
    ("AU1", "AU4", "AU15"): "sad",
    ("AU15", "AU17"): "sad",
}

MECG_ONSET_OFFSET_QUARTILES_S = (0.38, 0.54, 0.92)
MECG_ONSET_APEX_MEDIAN_S = 0.37
REFERENCE_FACE_PX = 280.0  # amplitudes are given for a face this wide and scale with the face


@dataclass(frozen=True)
class TimelineProfile:
    """Rates (per minute), durations (s), amplitudes (px at a 280 px face) and heart-rate responses."""

    me_per_minute: float = 8.0  # expected MEs; the macro-expressions of the same distribution come along
    onset_offset_quartiles_s: tuple[float, float, float] = MECG_ONSET_OFFSET_QUARTILES_S
    max_duration_s: float = 4.0  # longer draws are drawn again
    apex_fraction_mean: float = 0.70  # onset-apex / onset-offset, Beta distributed: onset-apex median 0.37 s
    apex_fraction_concentration: float = 4.0  # Beta a + b: the spread of that fraction
    apex_fraction_limits: tuple[float, float] = (0.08, 0.92)
    me_amplitude_px: tuple[float, float] = (0.3, 3.0)  # log-uniform; apex motion of the most-moved point
    macro_amplitude_px: tuple[float, float] = (3.0, 15.0)
    au_weight: tuple[float, float] = (0.5, 1.0)  # the other AUs of a combination, relative to the first

    long_macro_per_minute: float = 1.0
    long_macro_duration_s: tuple[float, float] = (1.0, 4.0)
    long_macro_apex_fraction: tuple[float, float] = (0.3, 0.6)  # onset-apex > 0.25 s: macro

    hold_probability: float = 0.4  # expressions that hold still a moment at the apex
    hold_fraction: tuple[float, float] = (0.05, 0.3)  # of apex -> offset
    rise_shape: tuple[float, float] = (0.7, 1.4)  # exponents of the rise and return time warps
    residual_probability: float = 0.3  # expressions not fully back to neutral at their offset
    residual: tuple[float, float] = (0.1, 0.3)  # share of the apex left at the offset...
    residual_release_s: tuple[float, float] = (2.0, 5.0)  # ...and released this slowly afterwards

    blinks_per_minute: float = 15.0
    blink_close_s: tuple[float, float] = (0.07, 0.13)  # the lid comes down fast...
    blink_closed_s: tuple[float, float] = (0.0, 0.04)
    blink_open_s: tuple[float, float] = (0.15, 0.30)  # ...and goes back up more slowly
    blink_closure: tuple[float, float] = (0.9, 1.0)
    incomplete_blink_fraction: float = 0.2
    incomplete_blink_closure: tuple[float, float] = (0.4, 0.8)

    hr_response_fraction: float = 0.8  # of MEs followed by a heart-rate response
    macro_hr_response_fraction: float = 0.0  # of macro-expressions followed by one
    spurious_hr_per_minute: float = 1.0  # responses with no expression
    hr_response_bpm: tuple[float, float] = (3.0, 10.0)  # peak acceleration
    hr_latency_s: tuple[float, float] = (0.5, 1.5)  # acceleration start after the expression onset
    hr_peak_s: tuple[float, float] = (2.0, 4.0)  # acceleration peak after the expression onset
    hr_recovery_s: tuple[float, float] = (3.0, 8.0)  # peak back to baseline
    orienting_fraction: float = 0.3  # responses that start with a small deceleration
    orienting_bpm: tuple[float, float] = (1.0, 4.0)
    orienting_latency_s: tuple[float, float] = (0.1, 0.5)
    orienting_duration_s: tuple[float, float] = (1.0, 2.0)

    min_gap_s: float = 0.4  # between two expressions (ground truth intervals never overlap)
    margin_s: float = 1.0  # nothing starts in the first/last second of the trial


@dataclass(frozen=True)
class Expression:
    kind: str  # "ME" or "macro", by the MEGC rule
    onset_s: float
    apex_s: float  # the envelope reaches its peak (the start of any hold)
    offset_s: float  # the motion ends (at ``residual`` of the peak when not fully back)
    action_units: tuple[str, ...]
    emotion: str
    amplitude: float  # apex displacement of the most-moved landmark, px in this session's frame
    hr_response: bool
    hold_s: float = 0.0
    rise_shape: float = 1.0
    fall_shape: float = 1.0
    residual: float = 0.0
    release_s: float = 0.0
    response: HeartRateResponse | None = None
    au_weights: tuple[float, ...] = ()  # relative strength of each AU of the combination (1 for the first)


@dataclass(frozen=True)
class Blink:
    onset_s: float
    offset_s: float
    amplitude: float  # lid closure at the apex: 1 = the upper lid on the lower lid
    apex_s: float = 0.0  # the eye is closed from here...
    closed_s: float = 0.0  # ...for this long


@dataclass(frozen=True)
class HeadMove:
    onset_s: float
    offset_s: float
    translation: tuple[float, float]  # (dx, dy), fraction of the face width
    rotation_deg: float  # roll
    yaw_deg: float = 0.0
    pitch_deg: float = 0.0


@dataclass(frozen=True)
class Timeline:
    duration_s: float
    expressions: tuple[Expression, ...]
    blinks: tuple[Blink, ...]
    head_moves: tuple[HeadMove, ...]
    spurious_hr_s: tuple[float, ...]  # onsets of heart-rate responses without an expression
    spurious_responses: tuple[HeartRateResponse, ...] = ()

    @property
    def micro_expressions(self) -> list[Expression]:
        return [e for e in self.expressions if e.kind == "ME"]

    @property
    def hr_responses(self) -> list[HeartRateResponse]:
        linked = [e.response for e in self.expressions if e.response is not None]
        return sorted([*linked, *self.spurious_responses], key=lambda r: r.onset_s)


# ----------------------------------------------------------------------------------------------------------
# Distributions


@dataclass(frozen=True)
class ShiftedLognormal:
    """``shift + exp(N(log(scale), sigma))``: three parameters, fitted exactly to three quartiles."""

    shift: float
    scale: float
    sigma: float

    @classmethod
    def from_quartiles(cls, q1: float, median: float, q3: float) -> ShiftedLognormal:
        ratio = (q3 - median) / (median - q1)  # = exp(z75 * sigma), the right skew
        if ratio <= 1.0:
            raise ValueError("quartiles must be right-skewed (q3 - median > median - q1)")
        scale = (median - q1) / (1.0 - 1.0 / ratio)
        return cls(median - scale, scale, float(np.log(ratio) / norm.ppf(0.75)))

    def draw(self, rng: np.random.Generator, upper: float) -> float:
        while True:
            value = self.shift + self.scale * float(np.exp(self.sigma * rng.standard_normal()))
            if value <= upper:
                return value


@cache
def _duration_law(quartiles: tuple[float, float, float]) -> ShiftedLognormal:
    return ShiftedLognormal.from_quartiles(*quartiles)


def _log_uniform(rng: np.random.Generator, span: tuple[float, float]) -> float:
    return float(np.exp(rng.uniform(np.log(span[0]), np.log(span[1]))))


def _uniform(rng: np.random.Generator, span: tuple[float, float]) -> float:
    return float(rng.uniform(span[0], span[1]))


def _combination(rng: np.random.Generator, table: dict[tuple[str, ...], int]) -> tuple[str, ...]:
    combos = list(table)
    weights = np.array([table[c] for c in combos], dtype=float)
    return combos[rng.choice(len(combos), p=weights / weights.sum())]


def draw_timing(rng: np.random.Generator, profile: TimelineProfile) -> tuple[float, float]:
    """(onset-apex, onset-offset) of one expression from the MECG-fitted distribution."""
    total = _duration_law(profile.onset_offset_quartiles_s).draw(rng, profile.max_duration_s)
    a = profile.apex_fraction_mean * profile.apex_fraction_concentration
    b = (1.0 - profile.apex_fraction_mean) * profile.apex_fraction_concentration
    fraction = float(np.clip(rng.beta(a, b), *profile.apex_fraction_limits))
    return fraction * total, total


def draw_response(rng: np.random.Generator, onset_s: float, profile: TimelineProfile) -> HeartRateResponse:
    """A phasic heart-rate response to an emotional event at ``onset_s`` (see :mod:`.ecg`)."""
    latency = _uniform(rng, profile.hr_latency_s)
    peak = max(_uniform(rng, profile.hr_peak_s), latency + 0.5)
    orienting = rng.random() < profile.orienting_fraction
    return HeartRateResponse(
        onset_s=onset_s,
        amplitude_bpm=_uniform(rng, profile.hr_response_bpm),
        latency_s=latency,
        peak_s=peak,
        recovery_s=_uniform(rng, profile.hr_recovery_s),
        deceleration_bpm=_uniform(rng, profile.orienting_bpm) if orienting else 0.0,
        deceleration_latency_s=_uniform(rng, profile.orienting_latency_s),
        deceleration_s=_uniform(rng, profile.orienting_duration_s),
    )


def _envelope_shape(rng: np.random.Generator, profile: TimelineProfile, fall_s: float) -> dict[str, float]:
    hold = _uniform(rng, profile.hold_fraction) * fall_s if rng.random() < profile.hold_probability else 0.0
    residual = _uniform(rng, profile.residual) if rng.random() < profile.residual_probability else 0.0
    return {
        "hold_s": hold,
        "rise_shape": _uniform(rng, profile.rise_shape),
        "fall_shape": _uniform(rng, profile.rise_shape),
        "residual": residual,
        "release_s": _uniform(rng, profile.residual_release_s) if residual else 0.0,
    }


def draw_expression(rng: np.random.Generator, profile: TimelineProfile, start: float = 0.0,
                    face_px: float = REFERENCE_FACE_PX, long_macro: bool = False) -> Expression:
    """One expression starting at ``start``; its class by the MEGC rule, its amplitude by the class."""
    if long_macro:
        total = _uniform(rng, profile.long_macro_duration_s)
        rise = _uniform(rng, profile.long_macro_apex_fraction) * total
        combo = _combination(rng, LONG_MACRO_COMBINATION_WEIGHTS)
    else:
        rise, total = draw_timing(rng, profile)
        combo = _combination(rng, AU_COMBINATION_COUNTS)
    kind = classify_expression(0.0, rise, total)
    span = profile.me_amplitude_px if kind == "ME" else profile.macro_amplitude_px
    amplitude = _log_uniform(rng, span) * face_px / REFERENCE_FACE_PX
    fraction = profile.hr_response_fraction if kind == "ME" else profile.macro_hr_response_fraction
    responds = bool(rng.random() < fraction)
    response = draw_response(rng, start, profile)  # drawn either way: the fraction changes no other event
    weights = tuple([1.0] + [_uniform(rng, profile.au_weight) for _ in combo[1:]])
    shape = _envelope_shape(rng, profile, total - rise)
    return Expression(
        kind=kind,
        onset_s=start,
        apex_s=start + rise,
        offset_s=start + total,
        action_units=combo,
        emotion=AU_EMOTION[combo],
        amplitude=amplitude,
        hr_response=responds,
        response=response if responds else None,
        au_weights=weights,
        **shape,
    )


def _count(rng: np.random.Generator, per_minute: float, duration_s: float) -> int:
    return int(rng.poisson(max(per_minute, 0.0) * duration_s / 60.0))


def _overlaps(onset: float, offset: float, taken: Sequence[tuple[float, float]], gap: float) -> bool:
    return any(onset < b + gap and offset > a - gap for a, b in taken)


def _placed(expression: Expression, start: float, frame_period_s: float | None) -> Expression:
    """The expression moved to ``start``, its times snapped onto frames, its class by the rule again."""
    delta = start - expression.onset_s
    apex = _snap(expression.apex_s + delta, frame_period_s)
    offset = _snap(expression.offset_s + delta, frame_period_s)
    response = expression.response
    if response is not None:
        response = replace(response, onset_s=start)
    return replace(expression, kind=classify_expression(start, apex, offset), onset_s=start, apex_s=apex,
                   offset_s=offset, response=response)


MAX_DRAWS_PER_ME = 20  # safety bound on drawing expressions until the MEs wanted have come
PLACEMENT_TRIES = 100


def _snap(t: float, period: float | None) -> float:
    return t if not period else round(t / period) * period


def draw_blink(rng: np.random.Generator, profile: TimelineProfile, onset: float) -> Blink:
    close, closed, opening = (_uniform(rng, profile.blink_close_s), _uniform(rng, profile.blink_closed_s),
                              _uniform(rng, profile.blink_open_s))
    incomplete = rng.random() < profile.incomplete_blink_fraction
    closure = _uniform(rng, profile.incomplete_blink_closure if incomplete else profile.blink_closure)
    return Blink(onset, onset + close + closed + opening, closure, onset + close, closed)


def make_timeline(duration_s: float, rng: np.random.Generator, profile: TimelineProfile,
                  face_px: float = REFERENCE_FACE_PX, frame_period_s: float | None = None) -> Timeline:
    """Draw a trial's events; expressions never overlap each other (nor the trial's first/last second).

    ``face_px`` scales the amplitudes; ``frame_period_s`` snaps onsets, apexes and offsets onto frames."""
    margin = min(profile.margin_s, duration_s / 4)  # very short trials still get a few events
    lo, hi = margin, duration_s - margin
    wanted_me = _count(rng, profile.me_per_minute, duration_s)
    drawn: list[Expression] = [draw_expression(rng, profile, face_px=face_px, long_macro=True)
                               for _ in range(_count(rng, profile.long_macro_per_minute, duration_s))]
    me_count = 0
    for _ in range(MAX_DRAWS_PER_ME * wanted_me):
        if me_count >= wanted_me:
            break
        expression = draw_expression(rng, profile, face_px=face_px)
        me_count += expression.kind == "ME"
        drawn.append(expression)
    expressions: list[Expression] = []
    taken: list[tuple[float, float]] = []
    # MEs first (a full timeline must not lose the MEs asked for), then the longest: hardest to place
    for candidate in sorted(drawn, key=lambda e: (e.kind != "ME", e.onset_s - e.offset_s)):
        length = candidate.offset_s - candidate.onset_s
        for _ in range(PLACEMENT_TRIES):
            start = _snap(rng.uniform(lo, hi), frame_period_s)
            if start + length < hi and not _overlaps(start, start + length, taken, profile.min_gap_s):
                placed = _placed(candidate, start, frame_period_s)
                expressions.append(placed)
                taken.append((placed.onset_s, placed.offset_s))
                break
    expressions.sort(key=lambda e: e.onset_s)

    blinks = [draw_blink(rng, profile, rng.uniform(lo, hi))
              for _ in range(_count(rng, profile.blinks_per_minute, duration_s))]
    spurious_onsets = sorted(rng.uniform(lo, hi) for _ in range(_count(rng, profile.spurious_hr_per_minute,
                                                                         duration_s)))
    spurious = tuple(draw_response(rng, float(t), profile) for t in spurious_onsets)
    return Timeline(
        duration_s=duration_s,
        expressions=tuple(expressions),
        blinks=tuple(sorted(blinks, key=lambda b: b.onset_s)),
        head_moves=(),
        spurious_hr_s=tuple(float(t) for t in spurious_onsets),
        spurious_responses=spurious,
    )


# ----------------------------------------------------------------------------------------------------------
# Envelopes (0 at rest, 1 at the apex)


def _warp(x: NDArray[np.float64], exponent: float) -> NDArray[np.float64]:
    """Raised cosine of a time-warped ``x`` in 0..1: 0 -> 1, smooth at both ends, skewed by ``exponent``."""
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(x, 0.0, 1.0) ** exponent)


def expression_envelope(t: NDArray[np.floating], onset: float, apex: float, offset: float,
                        hold_s: float = 0.0, rise_shape: float = 1.0, fall_shape: float = 1.0,
                        residual: float = 0.0, release_s: float = 0.0) -> NDArray[np.float64]:
    """Rises onset -> apex, holds ``hold_s``, returns to ``residual`` at the offset, then releases that over
    ``release_s`` (slowly: after the annotated offset the face only drifts back)."""
    t = np.asarray(t, dtype=float)
    out = np.zeros_like(t)
    rising = (t > onset) & (t < apex)
    out[rising] = _warp((t[rising] - onset) / (apex - onset), rise_shape)
    fall_start = min(apex + hold_s, offset)
    out[(t >= apex) & (t <= fall_start)] = 1.0
    falling = (t > fall_start) & (t <= offset)
    if offset > fall_start:
        out[falling] = 1.0 - (1.0 - residual) * _warp((t[falling] - fall_start) / (offset - fall_start),
                                                      fall_shape)
    if residual and release_s > 0:
        after = t > offset
        out[after] = residual * (1.0 - _warp((t[after] - offset) / release_s, 1.0))
    return out


def blink_envelope(t: NDArray[np.floating], blink: Blink) -> NDArray[np.float64]:
    """Lid closure: fast down, an optional moment closed, slower back up."""
    t = np.asarray(t, dtype=float)
    out = np.zeros_like(t)
    closing = (t > blink.onset_s) & (t < blink.apex_s)
    out[closing] = _warp((t[closing] - blink.onset_s) / (blink.apex_s - blink.onset_s), 1.0)
    reopen = blink.apex_s + blink.closed_s
    out[(t >= blink.apex_s) & (t <= reopen)] = 1.0
    opening = (t > reopen) & (t < blink.offset_s)
    out[opening] = 1.0 - _warp((t[opening] - reopen) / (blink.offset_s - reopen), 1.0)
    return blink.amplitude * out


def step_envelope(t: NDArray[np.floating], onset: float, offset: float) -> NDArray[np.float64]:
    """0 -> 1 smooth step (a head move that stays where it went)."""
    return _warp((np.asarray(t, dtype=float) - onset) / (offset - onset), 1.0)
