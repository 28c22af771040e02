"""How much one synthetic session differs from the next: ranges (a profile) and the values drawn from them.

Every range is ``(low, high)``, drawn uniformly per session from the session's seed. A caller widens or
narrows them all at once with :meth:`VariationProfile.scaled` (held-out test sessions: wider than training).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Range = tuple[float, float]


@dataclass(frozen=True)
class ShapeRanges:
    """Face shape, as scale factors of the photo's own proportions (1 = unchanged)."""

    face_width: Range = (0.92, 1.08)
    face_height: Range = (0.93, 1.07)
    eye_spacing: Range = (0.92, 1.08)  # distance between the eyes (brows follow part of the way)
    nose_length: Range = (0.88, 1.12)  # root to tip; the nostrils move with the tip
    mouth_width: Range = (0.90, 1.10)
    jaw_width: Range = (0.90, 1.10)  # lower jaw, most at the jaw angles, none at the chin


@dataclass(frozen=True)
class PoseRanges:
    """Head pose: slow drift plus quick jerks, kept inside ``max_*``."""

    yaw_drift_deg: Range = (2.0, 8.0)  # peak of the session's slow drift
    pitch_drift_deg: Range = (1.5, 6.0)
    roll_drift_deg: Range = (1.0, 5.0)
    drift_band_hz: Range = (0.005, 0.05)  # the drift's frequencies (periods of 20-200 s)
    jerks_per_minute: Range = (2.0, 6.0)  # quick head moves (the truth's head_move events)
    jerk_duration_s: Range = (0.10, 0.30)
    jerk_deg: Range = (1.0, 6.0)  # rotation of one jerk, split over yaw, pitch and roll
    jerk_translation: Range = (0.01, 0.05)  # fraction of the face width
    translation_drift: Range = (0.01, 0.05)  # peak slow drift, fraction of the face width
    sway: Range = (0.001, 0.004)  # breathing-paced postural sway, fraction of the face width
    sway_hz: Range = (0.2, 0.33)
    max_yaw_deg: float = 15.0
    max_pitch_deg: float = 12.0
    max_roll_deg: float = 12.0
    max_translation: float = 0.15  # fraction of the face width


@dataclass(frozen=True)
class LightingRanges:
    """Light and camera: everything multiplies the photo's grey levels, then sensor noise is added."""

    gradient: Range = (0.0, 0.35)  # brightness change across one face width (light from one side)
    gain: Range = (0.80, 1.15)
    gamma: Range = (0.80, 1.25)
    drift: Range = (0.0, 0.04)  # slow gain drift, peak fraction
    drift_period_s: Range = (20.0, 80.0)
    flicker: Range = (0.0, 0.008)  # mains flicker of the lamps, fraction
    noise_sd: Range = (0.8, 2.5)  # sensor noise, grey levels


@dataclass(frozen=True)
class VariationProfile:
    """All the ranges a session is drawn from (see :func:`draw_variation`)."""

    shape: ShapeRanges = field(default_factory=ShapeRanges)
    pose: PoseRanges = field(default_factory=PoseRanges)
    lighting: LightingRanges = field(default_factory=LightingRanges)
    face_px_scale: Range = (0.85, 1.15)  # session face width / SynthConfig.face_px (distance to camera)
    distance_drift: Range = (0.0, 0.03)  # slow change of that width within the session, peak fraction
    distance_band_hz: Range = (0.005, 0.03)
    heart_rate_bpm: Range = (60.0, 80.0)  # resting heart rate (seated adults)
    rsa_bpm: Range = (1.5, 4.0)  # respiratory sinus arrhythmia, peak deviation

    def scaled(self, factor: float) -> VariationProfile:
        """Every range widened (``factor`` > 1) or narrowed about its middle, limits scaled alike.

        Ranges never go below zero; frequency bands, periods and durations keep their values (only the
        amounts vary more or less)."""
        return _scaled(self, factor)

    @classmethod
    def still(cls) -> VariationProfile:
        """No variation at all: the photo's own shape, a still head, even light, no noise (for tests)."""
        return _scaled(cls(), 0.0)


_KEEP = {"drift_band_hz", "drift_period_s", "jerk_duration_s", "sway_hz", "distance_band_hz"}
_NEUTRAL = {"face_width", "face_height", "eye_spacing", "nose_length", "mouth_width", "jaw_width",
            "face_px_scale", "gain", "gamma"}  # factors: narrowed toward 1, not toward their middle
_TYPICAL = {"heart_rate_bpm", "rsa_bpm"}  # narrowed toward their middle, even when "still"


def _scaled(obj: Any, factor: float) -> Any:
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            changes[f.name] = _scaled(value, factor)
        elif f.name in _KEEP:
            continue
        elif isinstance(value, tuple):
            low, high = value
            if f.name in _NEUTRAL:
                middle = 1.0
            elif f.name in _TYPICAL or factor > 0.0:
                middle = (low + high) / 2
            else:
                middle = 0.0  # "still": no amount at all
            changes[f.name] = (max(0.0, middle + factor * (low - middle)),
                               max(0.0, middle + factor * (high - middle)))
        elif isinstance(value, float):
            changes[f.name] = value * factor if factor > 0 else value
    return dataclasses.replace(obj, **changes)


@dataclass(frozen=True)
class LightingDraw:
    gradient: float
    gradient_angle_deg: float  # direction the light comes from, in the image (0 = from the right)
    gain: float
    gamma: float
    drift: float
    drift_period_s: float
    flicker: float
    noise_sd: float


@dataclass(frozen=True)
class PoseDraw:
    yaw_drift_deg: float
    pitch_drift_deg: float
    roll_drift_deg: float
    drift_band_hz: Range
    jerks_per_minute: float
    translation_drift: float
    sway: float
    sway_hz: float


@dataclass(frozen=True)
class SessionVariation:
    """What one session drew: recorded in ``truth/variation.json``."""

    face: str
    face_px: float  # the session's face width in the frame at rest
    distance_drift: float
    distance_band_hz: Range
    shape: dict[str, float]
    pose: PoseDraw
    lighting: LightingDraw
    heart_rate_bpm: float
    rsa_bpm: float

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _uniform(rng: np.random.Generator, span: Range) -> float:
    return float(rng.uniform(span[0], span[1])) if span[1] > span[0] else float(span[0])


def draw_variation(rng: np.random.Generator, profile: VariationProfile, face: str,
                   face_px: float) -> SessionVariation:
    shape = {f.name: _uniform(rng, getattr(profile.shape, f.name)) for f in dataclasses.fields(ShapeRanges)}
    p = profile.pose
    pose = PoseDraw(
        yaw_drift_deg=min(_uniform(rng, p.yaw_drift_deg), p.max_yaw_deg),
        pitch_drift_deg=min(_uniform(rng, p.pitch_drift_deg), p.max_pitch_deg),
        roll_drift_deg=min(_uniform(rng, p.roll_drift_deg), p.max_roll_deg),
        drift_band_hz=p.drift_band_hz,
        jerks_per_minute=_uniform(rng, p.jerks_per_minute),
        translation_drift=min(_uniform(rng, p.translation_drift), p.max_translation),
        sway=_uniform(rng, p.sway),
        sway_hz=_uniform(rng, p.sway_hz),
    )
    li = profile.lighting
    lighting = LightingDraw(
        gradient=_uniform(rng, li.gradient),
        gradient_angle_deg=float(rng.uniform(0.0, 360.0)),
        gain=_uniform(rng, li.gain),
        gamma=_uniform(rng, li.gamma),
        drift=_uniform(rng, li.drift),
        drift_period_s=_uniform(rng, li.drift_period_s),
        flicker=_uniform(rng, li.flicker),
        noise_sd=_uniform(rng, li.noise_sd),
    )
    return SessionVariation(
        face=face,
        face_px=face_px * _uniform(rng, profile.face_px_scale),
        distance_drift=_uniform(rng, profile.distance_drift),
        distance_band_hz=profile.distance_band_hz,
        shape=shape,
        pose=pose,
        lighting=lighting,
        heart_rate_bpm=_uniform(rng, profile.heart_rate_bpm),
        rsa_bpm=_uniform(rng, profile.rsa_bpm),
    )
