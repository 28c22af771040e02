"""Renders a session's frames straight from the photo: one ``cv2.remap`` per frame.

For every pixel of the stored region, where in the photo does it come from? Frame -> undo the head pose
(translation, distance, roll, then yaw and pitch over the depth map, by fixed-point iteration) -> head plane
-> undo the action units and the blink -> the session's neutral face -> undo the shape warp -> photo. The
pose and AU maps are smooth, so that chain runs on a coarse grid (every ``GRID_STEP`` px) and is upsampled
(bilinearly, exact for affine maps) before the one full-resolution remap. The static parts (the shape
warp, the AU and blink fields, the depth map) are tabulated once per session on grids in head units.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from hardware_mocks.synth.actions import (
    BLINK_LEVELS,
    action_fields,
    blink_field,
    blink_landmarks,
    blink_table,
    eye_models,
)
from hardware_mocks.synth.face import FacePhoto
from hardware_mocks.synth.landmarks import EYE_L, EYE_R, FaceAxes, Points
from hardware_mocks.synth.pose import DEPTH_ITERATIONS, HeadModel, Pose, project, rotation
from hardware_mocks.synth.shape import evaluate, shape_warp, vary_shape
from hardware_mocks.synth.variation import LightingDraw

GRID_STEP = 4  # px between the coarse grid's points (the maps vary over tens of pixels)
MAP_MARGIN = 0.4  # the shape-warp grid covers the region plus this share of it on each side
FACE_GRID_MARGIN = 0.45  # the AU / depth grid covers the landmarks plus this many face widths around
AU_ITERATIONS = 5  # fixed-point steps inverting the (forward) AU displacement
FOLD_LIMIT = 0.5  # largest skin strain an AU may reach (|Jacobian| of its field): skin never folds over
MIN_GAIN = 0.2  # the lighting gradient never darkens a pixel below this share
GREY_MAX = 255.0
EYE_BOX_ABOVE = 4.0  # the exact blink box reaches this many eye heights above the eye (the lid skin)
EYE_BOX_PAD = 3 + GRID_STEP  # px around the eye corners and below the lower lid (past the coarse map's smear)
MAX_EXTENSION_PX = 600  # farther out (full frames), the remap's replicated border of the blur continues it
EXTENSION_BLUR_PX = 12.0  # blur of the photo's continuation past its edges (and the fade into it)
MIN_NEWTON_DET = 0.2  # where the turned surface folds over itself (self-occlusion), steps are damped


@dataclass(frozen=True)
class Grid:
    """A regular grid in head units: point (i, j) is at (x0 + j * step, y0 + i * step)."""

    x0: float
    y0: float
    step: float
    nx: int
    ny: int

    @classmethod
    def covering(cls, lo: NDArray[np.floating], hi: NDArray[np.floating], step: float) -> Grid:
        nx, ny = (np.ceil((np.asarray(hi) - lo) / step).astype(int) + 1).tolist()
        return cls(float(lo[0]), float(lo[1]), step, nx, ny)

    def points(self) -> NDArray[np.float64]:
        ys, xs = np.mgrid[0 : self.ny, 0 : self.nx].astype(float)
        return np.stack([self.x0 + xs * self.step, self.y0 + ys * self.step], axis=-1)

    def sample(self, table: NDArray[np.float32], x: NDArray[np.float32], y: NDArray[np.float32],
               outside: float | None = 0.0) -> NDArray[np.float32]:
        """Bilinear values of ``table`` (ny, nx[, c]) at head points (x, y); ``outside=None`` continues the
        border values, otherwise ``outside`` is used beyond the grid."""
        inv = np.float32(1.0 / self.step)
        mx = (x - np.float32(self.x0)) * inv
        my = (y - np.float32(self.y0)) * inv
        if outside is None:
            return cv2.remap(table, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return cv2.remap(table, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=outside)


def _coarse_positions(start: int, length: int, step: int) -> NDArray[np.float64]:
    """Frame coordinates of coarse samples such that ``cv2.resize`` by ``step`` puts them back at the right
    pixels: one extra sample before and after the region (cropped after upsampling)."""
    count = -(-length // step) + 2
    return start + (np.arange(count) - 1 + 0.5) * step - 0.5


def max_strain(field: NDArray[np.float32], step: float) -> float:
    """Largest spectral norm of the Jacobian of a (ny, nx, 2) displacement field sampled every ``step``."""
    dxdy, dxdx = np.gradient(field[..., 0].astype(float), step)
    dydy, dydx = np.gradient(field[..., 1].astype(float), step)
    jacobian = np.stack([np.stack([dxdx, dxdy], -1), np.stack([dydx, dydy], -1)], -2)
    return float(np.linalg.norm(jacobian, ord=2, axis=(-2, -1)).max())


def extend_photo(image: NDArray[np.float32], margin: int) -> NDArray[np.float32]:
    """The photo with ``margin`` px added on every side, fading from its replicated edge into a heavy blur
    of it (what lies beyond a photo's edge is unknown: a soft continuation, not streaks)."""
    padded = cv2.copyMakeBorder(image, margin, margin, margin, margin, cv2.BORDER_REPLICATE)
    blurred = cv2.GaussianBlur(padded, (0, 0), EXTENSION_BLUR_PX)
    h, w = image.shape
    ys, xs = np.mgrid[0 : h + 2 * margin, 0 : w + 2 * margin].astype(np.float32)
    outside = np.maximum(np.maximum(margin - xs, xs - (w + margin - 1)),
                         np.maximum(margin - ys, ys - (h + margin - 1)))
    weight = np.clip(outside / EXTENSION_BLUR_PX, 0.0, 1.0)
    return (padded * (1 - weight) + blurred * weight).astype(np.float32)


def apply_gamma(image: NDArray[np.float32], gamma: float) -> NDArray[np.float32]:
    return (GREY_MAX * (image / GREY_MAX) ** gamma).astype(np.float32)


def gain_field(region: tuple[int, int, int, int], centre: tuple[float, float], face_px: float,
               lighting: LightingDraw) -> NDArray[np.float32]:
    """Static gain over the region: ``gain`` times a linear gradient, ``gradient`` per face width, rising
    toward the side the light comes from."""
    x0, y0, w, h = region
    ys, xs = np.mgrid[y0 : y0 + h, x0 : x0 + w].astype(np.float32)
    angle = np.deg2rad(lighting.gradient_angle_deg)
    along = ((xs - centre[0]) * np.cos(angle) + (ys - centre[1]) * np.sin(angle)) / face_px
    return (lighting.gain * np.clip(1.0 + lighting.gradient * along, MIN_GAIN, None)).astype(np.float32)


class FaceRenderer:
    """One session's face: its shape, fields and lighting, rendering any (pose, AUs, blink) of it."""

    def __init__(self, face: FacePhoto, shape: Mapping[str, float], face_px: float,
                 region: tuple[int, int, int, int], rest_centre: tuple[float, float],
                 gamma: float = 1.0) -> None:
        self.region = region
        self.rest_centre = rest_centre
        self.face_px = face_px
        session_photo = vary_shape(face.landmarks, shape)
        axes = FaceAxes.of(session_photo)
        scale = face_px / axes.width  # head units per photo pixel
        self.landmarks: Points = (session_photo - axes.centre) * scale  # neutral landmarks, head units
        height, width = face.image.shape
        warp = shape_warp(face.landmarks, session_photo, (width, height), shape)

        x0, y0, w, h = region
        margin = MAP_MARGIN * max(w, h)
        lo = np.array([x0 - rest_centre[0] - margin, y0 - rest_centre[1] - margin])
        self.map_grid = Grid.covering(lo, lo + np.array([w, h]) + 2 * margin, GRID_STEP)
        head = self.map_grid.points()
        self.photo_map = evaluate(warp, axes.centre + head / scale)  # (ny, nx, 2) photo x, y
        reach = self.photo_map.reshape(-1, 2)
        beyond = max(0.0, -reach.min(), float((reach.max(axis=0) - (width, height)).max()))
        self.photo_margin = min(int(np.ceil(beyond)) + 2, MAX_EXTENSION_PX)
        self.photo_map += np.float32(self.photo_margin)

        span = FACE_GRID_MARGIN * face_px
        face_lo, face_hi = self.landmarks.min(axis=0) - span, self.landmarks.max(axis=0) + span
        self.face_grid = Grid.covering(face_lo, face_hi, GRID_STEP)
        face_points = self.face_grid.points()
        self.actions = action_fields(self.landmarks, face_points)
        self.strain = {au: max_strain(f.grid, GRID_STEP) for au, f in self.actions.items()}  # per px
        self.blinks = blink_table(self.landmarks, face_points)
        self.eyes = eye_models(self.landmarks)
        self.head = HeadModel.fit(self.landmarks)
        depth = self.head.z(face_points)
        slope_y, slope_x = np.gradient(depth, GRID_STEP)
        self.depth = np.stack([depth, slope_x, slope_y], axis=-1).astype(np.float32)  # z, dz/dx, dz/dy

        xs = _coarse_positions(x0, w, GRID_STEP)
        ys = _coarse_positions(y0, h, GRID_STEP)
        coarse_x, coarse_y = np.meshgrid(xs, ys)  # frame coordinates
        self.coarse_x, self.coarse_y = coarse_x.astype(np.float32), coarse_y.astype(np.float32)
        self.image = extend_photo(apply_gamma(face.image, gamma), self.photo_margin)

    # -- the chain, on the coarse grid ----------------------------------------------------------------------

    def head_points(self, pose: Pose, qx: NDArray[np.float32] | None = None,
                    qy: NDArray[np.float32] | None = None) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """Head-plane point seen at frame points (qx, qy) (default: the coarse grid) under ``pose``.

        With R = R_roll @ T (T the yaw-pitch turn) about the pivot P, a head point X projects to
        ``R_roll[:2,:2] @ (T[:2,:2] @ (X_xy - P_xy) + T[:2,2] * (z(X_xy) - P_z)) + P_xy``; undo the roll,
        then solve for X_xy by fixed-point iteration on the depth z."""
        if qx is None or qy is None:
            qx, qy = self.coarse_x, self.coarse_y
        px, py, pz = (float(c) for c in self.head.pivot)
        rel_x = (qx - np.float32(self.rest_centre[0] + pose.tx)) / np.float32(pose.scale) - np.float32(px)
        rel_y = (qy - np.float32(self.rest_centre[1] + pose.ty)) / np.float32(pose.scale) - np.float32(py)
        c, s = np.cos(np.deg2rad(pose.roll)), np.sin(np.deg2rad(pose.roll))
        wx = np.float32(c) * rel_x + np.float32(s) * rel_y  # the roll undone
        wy = np.float32(-s) * rel_x + np.float32(c) * rel_y
        turn = rotation(pose.yaw, pose.pitch, 0.0)
        (a, b), (cc, d) = np.linalg.inv(turn[:2, :2])
        bx, by = turn[0, 2], turn[1, 2]

        gx, gy = a * bx + b * by, cc * bx + d * by  # T[:2,:2]^-1 @ T[:2,2]
        base_x = np.float32(a) * wx + np.float32(b) * wy + np.float32(px)
        base_y = np.float32(cc) * wx + np.float32(d) * wy + np.float32(py)
        # fixed point: X = base - g (z(X) - P_z); Newton steps with the Sherman-Morrison inverse of the
        # Jacobian I + g grad(z)^T (it converges in a few steps where plain iteration needs many)
        x = base_x + np.float32(gx * pz)
        y = base_y + np.float32(gy * pz)
        if pose.yaw or pose.pitch:
            gx32, gy32 = np.float32(gx), np.float32(gy)
            for _ in range(DEPTH_ITERATIONS):
                depth = self.face_grid.sample(self.depth, x, y)
                z, zx, zy = depth[..., 0], depth[..., 1], depth[..., 2]
                fx = x - base_x + gx32 * (z - np.float32(pz))
                fy = y - base_y + gy32 * (z - np.float32(pz))
                det = np.maximum(1.0 + gx32 * zx + gy32 * zy, np.float32(MIN_NEWTON_DET))
                along = (zx * fx + zy * fy) / det
                x = x - (fx - gx32 * along)
                y = y - (fy - gy32 * along)
        return x, y

    def _action_field(self, amplitudes: Mapping[str, float]) -> NDArray[np.float32] | None:
        active = [(au, a) for au, a in amplitudes.items() if a]
        if not active:
            return None
        total = np.float32(active[0][1]) * self.actions[active[0][0]].grid
        for au, a in active[1:]:
            total += np.float32(a) * self.actions[au].grid
        return total

    def _blink_field(self, closure: float) -> NDArray[np.float32] | None:
        if closure <= 0:
            return None
        level = float(np.clip(closure, 0.0, 1.0)) * (BLINK_LEVELS - 1)
        k = min(int(level), BLINK_LEVELS - 2)
        frac = np.float32(level - k)
        return (1 - frac) * self.blinks[k] + frac * self.blinks[k + 1]

    def source_map(self, pose: Pose, amplitudes: Mapping[str, float], closure: float,
                   qx: NDArray[np.float32] | None = None, qy: NDArray[np.float32] | None = None,
                   exact_blink: bool = False) -> NDArray[np.float32]:
        """(..., 2) photo coordinates of frame points (default: the coarse grid)."""
        x, y = self.head_points(pose, qx, qy)
        field = self._action_field(amplitudes)
        if field is not None:
            px, py = x, y
            for _ in range(AU_ITERATIONS):
                moved = self.face_grid.sample(field, px, py)
                px, py = x - moved[..., 0], y - moved[..., 1]
            x, y = px, py
        if closure > 0:
            if exact_blink:
                back = blink_field(np.stack([x, y], axis=-1), self.eyes, closure).astype(np.float32)
            else:
                back = self.face_grid.sample(self._blink_field(closure), x, y)
            x, y = x - back[..., 0], y - back[..., 1]
        return self.map_grid.sample(self.photo_map, x, y, outside=None)

    def render(self, pose: Pose, amplitudes: Mapping[str, float],
               closure: float = 0.0) -> NDArray[np.float32]:
        """The region (h, w) float32, before lighting and noise."""
        coarse = self.source_map(pose, amplitudes, closure)
        nyc, nxc = coarse.shape[:2]
        full = cv2.resize(coarse, (nxc * GRID_STEP, nyc * GRID_STEP), interpolation=cv2.INTER_LINEAR)
        _, _, w, h = self.region
        full = full[GRID_STEP : GRID_STEP + h, GRID_STEP : GRID_STEP + w]
        if closure > 0:
            for box in self._eye_boxes(pose, amplitudes):
                self._exact_blink(full, box, pose, amplitudes, closure)
        return cv2.remap(self.image, full, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def _eye_boxes(self, pose: Pose, amplitudes: Mapping[str, float]) -> list[tuple[int, int, int, int]]:
        """Region-pixel boxes (x0, y0, x1, y1) around each eye holding the blink's occlusion edge and the
        stretched lid skin above it."""
        points = self.landmarks_at(pose, amplitudes) - self.region[:2]
        _, _, w, h = self.region
        boxes = []
        for eye in (EYE_L, EYE_R):
            lo, hi = points[list(eye)].min(axis=0), points[list(eye)].max(axis=0)
            above = EYE_BOX_ABOVE * (hi[1] - lo[1]) + GRID_STEP
            x0, y0 = int(np.clip(lo[0] - EYE_BOX_PAD, 0, w)), int(np.clip(lo[1] - above, 0, h))
            x1, y1 = int(np.clip(hi[0] + EYE_BOX_PAD, 0, w)), int(np.clip(hi[1] + EYE_BOX_PAD, 0, h))
            if x1 > x0 and y1 > y0:
                boxes.append((x0, y0, x1, y1))
        return boxes

    def _exact_blink(self, full: NDArray[np.float32], box: tuple[int, int, int, int], pose: Pose,
                     amplitudes: Mapping[str, float], closure: float) -> None:
        x0, y0, x1, y1 = box
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        full[y0:y1, x0:x1] = self.source_map(pose, amplitudes, closure, xs + np.float32(self.region[0]),
                                             ys + np.float32(self.region[1]), exact_blink=True)

    # -- ground truth ---------------------------------------------------------------------------------------

    def landmarks_at(self, pose: Pose, amplitudes: Mapping[str, float], closure: float = 0.0) -> Points:
        """True (68, 2) frame positions of the landmarks."""
        points = blink_landmarks(self.landmarks, closure) if closure > 0 else self.landmarks.copy()
        for au, a in amplitudes.items():
            if a:
                points = points + a * self.actions[au].landmarks
        points3 = np.column_stack([points, self.head.z(points)])
        return project(points3, pose, self.head.pivot, self.rest_centre)
