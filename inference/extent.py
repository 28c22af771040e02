"""Onset, apex and offset of a candidate from its own motion, and whether it is an ME or a macro-expression.

The video features hold, per AU region, the residual flow ``delta(t) = D(t) - D(t - lag)``: how far the
region moved (head motion removed) since the frame ``spec.reference_ms`` earlier. The region's displacement
from the face at rest is their chained sum, ``D(t) = delta(t) + D(t - lag)``, started where the face is
assumed at rest (``pre_ms`` before the candidate's apex estimate). :func:`measure_extent` rebuilds ``D`` of
the regions that moved most, projects it on the direction each moved at its peak, and reads the phases off
that profile: the apex is its peak, the onset where it last rose out of the resting level before the apex,
the offset where it first returned after it (``onset_fraction`` and ``offset_fraction`` of the peak above the
resting level). Durations are measured, not assumed, so the ME vs macro decision
(:func:`acquisition.readers.annotations.classify_expression`) reads real onset-apex and onset-offset times.

Pure functions over numpy arrays; the live engine and the offline evaluation call the same ones.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from acquisition.readers.annotations import classify_expression
from inference.face.layout import REGIONS


@dataclass(frozen=True)
class ExtentSettings:
    pre_ms: float = 1000.0  # the face is taken as at rest this long before the apex estimate
    post_ms: float = 1000.0  # motion read this long after it (the alert waits for it)
    apex_search_ms: float = 300.0  # the apex is the profile's peak within this distance of the estimate
    onset_fraction: float = 0.1  # onset: the last rise out of this fraction of the peak before the apex
    offset_fraction: float = 0.2  # offset: the first return below this fraction of the peak after it
    smoothing_ms: float = 40.0  # moving average of the rebuilt displacement (the chains' noise)
    rest_ms: float = 20.0  # the onset and offset need the face this long below their level
    region_share: float = 0.5  # regions whose peak displacement reaches this share of the largest join in
    max_regions: int = 4
    noise_floor_px: float = 0.005  # smallest region noise a strength divides by
    rest_before_ms: float = 700.0  # the drift is the line through the face's rest this long before the
    rest_after_ms: float = 700.0  # apex estimate, and this long after it (to post_ms)

    def __post_init__(self) -> None:
        for name in ("pre_ms", "post_ms", "apex_search_ms"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}")
        for name in ("onset_fraction", "offset_fraction", "region_share"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"{name} must lie in (0, 1), not {getattr(self, name)}")


EXTENT = ExtentSettings()


@dataclass(frozen=True)
class Extent:
    """Frame indices (into the arrays passed in) and times (ms) of the phases; ``amplitude`` is the rebuilt
    displacement at the apex (crop px) and ``regions`` the regions it was measured on."""

    onset: int
    apex: int
    offset: int
    onset_ms: float
    apex_ms: float
    offset_ms: float
    amplitude: float
    regions: tuple[str, ...]

    def shifted(self, frames: int) -> Extent:
        """The same extent with frame indices counted from ``frames`` earlier."""
        return replace(self, onset=self.onset + frames, apex=self.apex + frames, offset=self.offset + frames)

    @property
    def kind(self) -> str:
        """"ME" or "macro" by the measured durations."""
        return classify_expression(self.onset_ms / 1000.0, self.apex_ms / 1000.0, self.offset_ms / 1000.0)


def region_deltas(video_features: np.ndarray) -> np.ndarray:
    """(n, regions, 2): each region's residual flow (dx, dy) per frame (the layout's first columns)."""
    features = np.asarray(video_features, np.float32)
    return features[:, : 3 * len(REGIONS)].reshape(len(features), len(REGIONS), 3)[:, :, :2]


def chain_displacement(deltas: np.ndarray, lag: int) -> np.ndarray:
    """Displacement since the first frame: ``D[i] = deltas[i] + D[i - lag]``, with ``D[i] = deltas[i]`` for
    the first ``lag`` frames (the face at rest before them). Works along axis 0 for any trailing shape."""
    deltas = np.asarray(deltas, np.float64)
    lag = max(1, int(lag))
    n = len(deltas)
    rows = -(-n // lag)
    padded = np.zeros((rows * lag, *deltas.shape[1:]))
    padded[:n] = deltas
    return np.cumsum(padded.reshape(rows, lag, *deltas.shape[1:]), axis=0).reshape(padded.shape)[:n]


def _detrended(displacement: np.ndarray, times: np.ndarray, apex_ms: float, settings: ExtentSettings
               ) -> np.ndarray:
    """The displacement less the slow drift the chained flows pick up (the head's turning is not all removed,
    and each chain is a random walk of flow noise): the straight line through its medians before and after
    the movement (``rest_before_ms`` before the apex estimate, ``rest_after_ms`` after it)."""
    before = times <= apex_ms - settings.rest_before_ms
    after = times >= apex_ms + settings.rest_after_ms
    if not before.any() or not after.any():
        return displacement
    t0, t1 = float(np.median(times[before])), float(np.median(times[after]))
    d0, d1 = np.median(displacement[before], axis=0), np.median(displacement[after], axis=0)
    slope = (d1 - d0) / (t1 - t0)
    return displacement - (d0 + slope * (times - t0)[:, None, None])


def _runs_below(values: np.ndarray, level: float, length: int) -> int | None:
    """Index of the first of ``length`` samples in a row at or below ``level`` (None: there is none)."""
    low = (values <= level).astype(np.int64)
    if len(low) < length:
        return None
    runs = np.convolve(low, np.ones(length, np.int64), mode="valid")
    found = np.flatnonzero(runs == length)
    return int(found[0]) if found.size else None


def _moving_average(values: np.ndarray, width: int) -> np.ndarray:
    if width <= 1 or len(values) < width:
        return values
    kernel = np.ones(width) / width
    padded = np.concatenate([np.full(width // 2, values[0]), values,
                             np.full(width - 1 - width // 2, values[-1])])
    return np.convolve(padded, kernel, mode="valid")


def measure_extent(
    video_features: np.ndarray,
    frame_ms: np.ndarray,
    apex_estimate_ms: float,
    reference_ms: float,
    settings: ExtentSettings = EXTENT,
) -> Extent | None:
    """Phases of the movement near ``apex_estimate_ms``, from per-frame features (held, as the extractor gives
    them) and frame times; None when the span holds no face or no motion."""
    frame_ms = np.asarray(frame_ms, np.float64)
    lo = int(np.searchsorted(frame_ms, apex_estimate_ms - settings.pre_ms, side="left"))
    hi = int(np.searchsorted(frame_ms, apex_estimate_ms + settings.post_ms, side="right"))
    if hi - lo < 4:
        return None
    times = frame_ms[lo:hi]
    frame_period = float(np.median(np.diff(times)))
    if not frame_period > 0:
        return None
    lag = max(1, round(reference_ms / frame_period))
    displacement = _detrended(chain_displacement(region_deltas(video_features[lo:hi]), lag), times,
                              apex_estimate_ms, settings)  # (m, regions, 2)
    width = max(1, round(settings.smoothing_ms / frame_period))
    search = (times >= apex_estimate_ms - settings.apex_search_ms) & (times <= apex_estimate_ms +
                                                                       settings.apex_search_ms)
    if not search.any():
        return None
    size = np.hypot(displacement[..., 0], displacement[..., 1])  # (m, regions)
    # each region's own level of drift and noise: the median size of its rebuilt displacement over the span
    # (most of which is rest), so that a region that moved stands out from one whose chains wandered
    noise = np.maximum(np.median(size, axis=0), settings.noise_floor_px)
    peaks = np.where(search[:, None], size, 0.0).max(axis=0)
    if not peaks.max() > 0:
        return None
    strength = peaks / noise  # how far above its own noise each region moved
    order = np.argsort(-strength)[: settings.max_regions]
    chosen = [r for r in order if strength[r] >= settings.region_share * strength[order[0]]]
    # the moment the chosen regions together moved most, and the direction each moved in then
    energy = (size[:, chosen] / noise[chosen]).sum(axis=1)
    at = int(np.argmax(np.where(search, energy, -1.0)))
    profile = np.zeros(len(times))
    for r in chosen:
        direction = displacement[at, r] / max(size[at, r], 1e-9)
        profile += strength[r] * (displacement[:, r] @ direction)
    profile = _moving_average(profile / sum(strength[r] for r in chosen), width)
    candidates = np.flatnonzero(search)
    apex = int(candidates[np.argmax(profile[candidates])])
    peak = profile[apex]
    if not peak > 0:
        return None
    # the face is at rest again only when the profile stays low a moment (noise dips right at the apex do not
    # end a movement)
    rest = max(1, round(settings.rest_ms / frame_period))
    quiet_before = _runs_below(profile[:apex][::-1], settings.onset_fraction * peak, rest)
    onset = apex - quiet_before if quiet_before is not None else 0
    quiet_after = _runs_below(profile[apex:], settings.offset_fraction * peak, rest)
    offset = apex + quiet_after - 1 if quiet_after is not None else len(times) - 1
    onset, offset = min(onset, apex), max(offset, apex)
    return Extent(lo + onset, lo + apex, lo + offset, float(times[onset]), float(times[apex]),
                  float(times[offset]), float(peak), tuple(list(REGIONS)[r] for r in chosen))


DUPLICATE_IOU = 0.3
"""A measured candidate overlapping an earlier one this much (IoU of their intervals), or with its apex inside
it, is the same movement found twice (CMCL-Net's windows and the motion's rise and return both do this)."""


def is_duplicate(extent: Extent, earlier: list[Extent]) -> bool:
    for other in earlier:
        inter = min(extent.offset_ms, other.offset_ms) - max(extent.onset_ms, other.onset_ms)
        union = max(extent.offset_ms, other.offset_ms) - min(extent.onset_ms, other.onset_ms)
        if other.onset_ms <= extent.apex_ms <= other.offset_ms or (
                union > 0 and inter / union >= DUPLICATE_IOU):
            return True
    return False
