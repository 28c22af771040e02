"""Action units as displacement fields on the session's own face, following the muscles.

Each AU is a few *pulls*: a point on the face (a landmark, or a weighted mean of landmarks such as the
cheek), how strongly it moves (the inner brow more than the mid brow, ...) and which way in the face's axes
(``out`` away from the mid-line, ``up`` toward the forehead). A pull moves the skin around it with an
anisotropic Gaussian falloff of a few landmark distances, in the face's axes, with separate widths above and
below (the lower lid rises without lifting the upper lid). Pulls are written for the image-left half and
mirrored. A field is scaled so that its most-moved landmark moves 1 px: an expression's amplitude is then
the apex displacement of its most-moved point, in pixels.

Blinks (AU45) are not a Gaussian pull: the upper lid slides down over the eye onto the lower lid and the lid
skin above stretches; that map is not linear in the closure, so it is tabulated at a few closure levels
(:func:`blink_table`) for the coarse map, and evaluated exactly around the eyes (:func:`blink_field`).

Muscle actions after Ekman, Friesen & Hager, *Facial Action Coding System* (2002).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.interpolate import CubicSpline

from hardware_mocks.synth.landmarks import EYE_LIDS, MIRROR, FaceAxes, Points

Sigma = tuple[float, float, float]  # (along u, above, below), in face widths (>= 0.025: about 7 px)
EYE_CHEEK = ((36, 1 / 12), (37, 1 / 12), (38, 1 / 12), (39, 1 / 12), (40, 1 / 12), (41, 1 / 12),
             (2, 0.25), (31, 0.25))  # the malar cheek: half-way from the eye to the jaw-nostril line
CHIN_BOSS = ((57, 0.5), (8, 0.5))


@dataclass(frozen=True)
class Pull:
    at: tuple[tuple[int, float], ...]  # landmarks and weights (summing to 1) of the point that moves
    weight: float  # relative displacement of this point
    out: float  # direction: away from the mid-line (image-left half: toward image left)
    up: float  # direction: toward the forehead
    sigma: Sigma


def _p(index: int | tuple[tuple[int, float], ...], weight: float, out: float, up: float,
       sigma: Sigma) -> Pull:
    at = ((index, 1.0),) if isinstance(index, int) else index
    return Pull(at, weight, out, up, sigma)


BROW_SIGMA: Sigma = (0.06, 0.10, 0.06)
LID_SIGMA: Sigma = (0.035, 0.025, 0.04)
CORNER_SIGMA: Sigma = (0.045, 0.045, 0.045)
AU_PULLS: dict[str, tuple[Pull, ...]] = {
    "AU1": (_p(21, 1.0, -0.15, 1.0, BROW_SIGMA), _p(20, 0.7, -0.1, 1.0, BROW_SIGMA),
            _p(19, 0.4, 0.0, 1.0, BROW_SIGMA), _p(18, 0.15, 0.0, 1.0, BROW_SIGMA)),
    "AU2": (_p(17, 0.85, 0.15, 1.0, BROW_SIGMA), _p(18, 1.0, 0.1, 1.0, BROW_SIGMA),
            _p(19, 0.6, 0.0, 1.0, BROW_SIGMA), _p(20, 0.2, 0.0, 1.0, BROW_SIGMA)),
    "AU4": (_p(21, 1.0, -0.6, -0.8, BROW_SIGMA), _p(20, 0.65, -0.4, -0.9, BROW_SIGMA),
            _p(19, 0.35, -0.2, -1.0, BROW_SIGMA), _p(18, 0.15, 0.0, -1.0, BROW_SIGMA)),
    "AU6": (_p(EYE_CHEEK, 1.0, 0.1, 1.0, (0.10, 0.08, 0.10)), _p(41, 0.45, 0.0, 1.0, LID_SIGMA),
            _p(40, 0.45, 0.0, 1.0, LID_SIGMA), _p(36, 0.35, -0.3, 0.7, (0.04, 0.04, 0.04)),
            _p(17, 0.2, 0.0, -1.0, (0.05, 0.05, 0.05))),
    "AU7": (_p(41, 1.0, -0.2, 1.0, LID_SIGMA), _p(40, 0.9, 0.0, 1.0, LID_SIGMA),
            _p(36, 0.3, -0.6, 0.3, (0.03, 0.03, 0.03))),
    "AU9": (_p(31, 1.0, 0.1, 1.0, (0.04, 0.05, 0.04)), _p(32, 0.6, 0.0, 1.0, (0.04, 0.05, 0.04)),
            _p(29, 0.4, 0.0, 1.0, (0.05, 0.05, 0.04)), _p(21, 0.3, -0.3, -1.0, (0.04, 0.04, 0.04)),
            _p(50, 0.3, 0.0, 1.0, (0.04, 0.03, 0.025))),
    "AU10": (_p(50, 1.0, 0.1, 1.0, (0.045, 0.05, 0.025)), _p(49, 0.8, 0.2, 1.0, (0.045, 0.05, 0.025)),
             _p(51, 0.75, 0.0, 1.0, (0.045, 0.05, 0.025)), _p(61, 0.8, 0.0, 1.0, (0.045, 0.05, 0.025)),
             _p(62, 0.6, 0.0, 1.0, (0.045, 0.05, 0.025)), _p(31, 0.25, 0.0, 1.0, (0.04, 0.04, 0.03))),
    "AU12": (_p(48, 1.0, 0.6, 0.8, CORNER_SIGMA), _p(60, 0.9, 0.6, 0.8, CORNER_SIGMA),
             _p(49, 0.35, 0.5, 0.7, CORNER_SIGMA), _p(59, 0.35, 0.5, 0.7, CORNER_SIGMA),
             _p(EYE_CHEEK, 0.25, 0.2, 1.0, (0.05, 0.05, 0.05))),
    "AU14": (_p(48, 1.0, -0.9, 0.2, (0.035, 0.035, 0.035)), _p(60, 0.8, -0.9, 0.2, (0.035, 0.035, 0.035))),
    "AU15": (_p(48, 1.0, 0.2, -1.0, (0.045, 0.03, 0.06)), _p(60, 0.8, 0.1, -1.0, (0.045, 0.03, 0.06)),
             _p(59, 0.5, 0.0, -1.0, (0.045, 0.03, 0.06)), _p(58, 0.2, 0.0, -1.0, (0.045, 0.03, 0.06))),
    "AU17": (_p(CHIN_BOSS, 1.0, 0.0, 1.0, (0.06, 0.04, 0.06)), _p(8, 0.7, 0.0, 1.0, (0.06, 0.04, 0.06)),
             _p(7, 0.5, 0.0, 1.0, (0.06, 0.04, 0.06)), _p(57, 0.8, 0.0, 1.0, (0.05, 0.03, 0.04)),
             _p(66, 0.6, 0.0, 1.0, (0.05, 0.03, 0.04)), _p(58, 0.6, 0.0, 1.0, (0.05, 0.03, 0.04))),
}
ACTION_UNITS = tuple(AU_PULLS)


def _mirrored(pull: Pull) -> Pull | None:
    """The pull on the other half, or None for a pull on the mid-line."""
    if all(MIRROR[i] == i for i, _ in pull.at):
        return None
    return Pull(tuple((MIRROR[i], w) for i, w in pull.at), pull.weight, pull.out, pull.up, pull.sigma)


def _centre(points: Points, pull: Pull) -> NDArray[np.float64]:
    return sum(w * points[i] for i, w in pull.at)


def pull_field(xy: NDArray[np.floating], points: Points, axes: FaceAxes, pull: Pull,
               side: float) -> NDArray[np.float64]:
    """Displacement (..., 2) at points ``xy`` (..., 2) from one pull, for a unit weight."""
    sigma_u, sigma_above, sigma_below = (s * axes.width for s in pull.sigma)
    offset = axes.to_local(xy) - axes.to_local(_centre(points, pull))
    du, dv = offset[..., 0], offset[..., 1]
    sigma_v = np.where(dv < 0, sigma_above, sigma_below)
    kernel = np.exp(-0.5 * ((du / sigma_u) ** 2 + (dv / sigma_v) ** 2))
    return kernel[..., None] * axes.direction(pull.out, pull.up, side)


def au_field(au: str, xy: NDArray[np.floating], points: Points) -> NDArray[np.float64]:
    """Unnormalised displacement field of one AU at ``xy`` (..., 2), for a face with landmarks ``points``."""
    axes = FaceAxes.of(points)
    left = -1.0 if axes.to_local(points[36])[0] < axes.to_local(points[45])[0] else 1.0
    field = np.zeros(np.shape(xy), dtype=float)
    for pull in AU_PULLS[au]:
        mirror = _mirrored(pull)
        field += pull.weight * pull_field(xy, points, axes, pull, left if mirror else 0.0)
        if mirror is not None:
            field += pull.weight * pull_field(xy, points, axes, mirror, -left)
    return field


@dataclass(frozen=True)
class ActionField:
    """One AU on one face: its field on a grid and at the 68 landmarks (the most-moved one moving 1 px)."""

    grid: NDArray[np.float32]  # (ny, nx, 2)
    landmarks: NDArray[np.float64]  # (68, 2)


def action_fields(points: Points, grid_xy: NDArray[np.floating]) -> dict[str, ActionField]:
    fields = {}
    for au in ACTION_UNITS:
        at_landmarks = au_field(au, points, points)
        scale = 1.0 / np.max(np.linalg.norm(at_landmarks, axis=1))
        fields[au] = ActionField((scale * au_field(au, grid_xy, points)).astype(np.float32),
                                 scale * at_landmarks)
    return fields


# ----------------------------------------------------------------------------------------------------------
# Blinks

BLINK_LEVELS = 21  # closure levels tabulated (0, 0.05, ..., 1)
LID_SAMPLES = 33  # points tabulating each lid curve
BLINK_SKIN_SIGMA = 0.8  # how far above the lid its skin stretches, in the eye's largest opening


@dataclass(frozen=True)
class Eye:
    """An eye in its own axes: u from one corner to the other (along the face's u), v down."""

    origin: NDArray[np.float64]
    u_axis: NDArray[np.float64]
    v_axis: NDArray[np.float64]
    knots_u: NDArray[np.float64]
    knots_up: NDArray[np.float64]  # upper lid v at knots_u
    knots_lo: NDArray[np.float64]  # lower lid v at knots_u

    def local(self, xy: NDArray[np.floating]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        rel = np.asarray(xy, dtype=float) - self.origin
        return rel @ self.u_axis, rel @ self.v_axis

    def lids(self, u: NDArray[np.floating]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        return np.interp(u, self.knots_u, self.knots_up), np.interp(u, self.knots_u, self.knots_lo)


def _lid(lid: NDArray[np.float64], knots: NDArray[np.float64]) -> NDArray[np.float64]:
    """A lid's v along u: the natural cubic spline through its corner, lid points and corner (a lid is a
    smooth arc, not the polyline through four points)."""
    order = np.argsort(lid[:, 0])
    return CubicSpline(lid[order, 0], lid[order, 1], bc_type="natural")(knots)


def eye_models(points: Points) -> list[Eye]:
    """Both eyes of a face, in their own axes, with smooth lid curves (what a blink needs)."""
    axes = FaceAxes.of(points)
    eyes = []
    for corner_a, upper, corner_b, lower in EYE_LIDS:
        span = points[corner_b] - points[corner_a]
        u_axis = span / np.linalg.norm(span)
        if u_axis @ axes.u < 0:
            u_axis = -u_axis
        v_axis = np.array([-u_axis[1], u_axis[0]])
        basis = np.column_stack([u_axis, v_axis])
        up = (points[[corner_a, *upper, corner_b]] - points[corner_a]) @ basis
        lo = (points[[corner_a, *lower, corner_b]] - points[corner_a]) @ basis
        knots = np.sort(np.linspace(0.0, span @ u_axis, LID_SAMPLES))
        eyes.append(Eye(points[corner_a].astype(float), u_axis, v_axis, knots, _lid(up, knots),
                         _lid(lo, knots)))
    return eyes


def blink_field(xy: NDArray[np.floating], eyes: list[Eye], closure: float) -> NDArray[np.float64]:
    """Backward displacement (..., 2) of a blink: the frame shows ``xy - field`` of the open eye.

    In each eye's axes (u along the corners, v down), with the upper lid at ``v_up(u)`` and the lower lid at
    ``v_lo(u)``: the lid margin comes down to ``v_up + closure * (v_lo - v_up)``, covering the eye above it
    (the eye below it stays where it is); above the margin the lid skin stretches with a Gaussian falloff.
    The map is discontinuous at the margin (an occlusion edge): render it at full resolution."""
    xy = np.asarray(xy, dtype=float)
    field = np.zeros_like(xy)
    if closure <= 0:
        return field
    for eye in eyes:
        u, v = eye.local(xy)
        v_up, v_lo = eye.lids(u)
        opening = np.clip(v_lo - v_up, 0.0, None)
        inside = (u > eye.knots_u[0]) & (u < eye.knots_u[-1]) & (opening > 0)
        sigma = BLINK_SKIN_SIGMA * float(np.max(eye.knots_lo - eye.knots_up))
        v_margin = v_up + closure * opening
        shift = np.zeros_like(u)
        above = inside & (v < v_margin)
        shift[above] = closure * opening[above] * np.exp(-0.5 * ((v_margin[above] - v[above]) / sigma) ** 2)
        field += shift[..., None] * eye.v_axis
    return field


def blink_landmarks(points: Points, closure: float) -> Points:
    """Landmarks at a blink's ``closure``: the upper lid points come down toward the lower lid below them."""
    out = np.array(points, dtype=float)
    for eye, (_, upper, _, _) in zip(eye_models(points), EYE_LIDS, strict=True):
        u, _ = eye.local(points[list(upper)])
        v_up, v_lo = eye.lids(u)
        out[list(upper)] += (closure * np.clip(v_lo - v_up, 0.0, None))[:, None] * eye.v_axis
    return out


def blink_table(points: Points, grid_xy: NDArray[np.floating]) -> NDArray[np.float32]:
    """(BLINK_LEVELS, ny, nx, 2) blink fields at closures 0 .. 1."""
    levels = np.linspace(0.0, 1.0, BLINK_LEVELS)
    eyes = eye_models(points)
    return np.stack([blink_field(grid_xy, eyes, c) for c in levels]).astype(np.float32)
