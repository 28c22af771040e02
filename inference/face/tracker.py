"""Find a face, follow it, and align it to the canonical crop, frame by frame.

While no face is tracked the detector (BlazeFace) runs every ``detect_period_ms``. Once found, the face mesh
runs every ``landmark_period_ms`` on a square region derived from the previous landmarks (MediaPipe's own
tracking: the region is the landmarks' extent times ``roi_scale``, turned by the roll of the eye line), so the
detector is not needed again until the mesh says the face is gone (presence below ``presence_score``). Between
two mesh runs the alignment is held. The alignment (a similarity from the frame to the canonical crop, fitted
to the stable points of :mod:`inference.face.layout`) is smoothed by a One Euro filter on those points, which
removes the landmarks' frame-to-frame jitter while a moving head is followed without lag.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from inference.face.layout import (
    CROP_CENTRE_D,
    CROP_SPAN_D,
    EYE_LINE,
    EYES,
    MOUTH,
    STABLE_POINTS,
    TRACKING,
    TrackingSettings,
)
from inference.face.models import detect_faces, face_mesh

_STABLE_INDEX = np.array(list(STABLE_POINTS), dtype=np.int64)
_STABLE_CANONICAL = np.array(list(STABLE_POINTS.values()), dtype=np.float64)


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) taking ``source`` points onto
    ``target`` points (Umeyama 1991, without reflection): a 2x3 matrix."""
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    src_mean, dst_mean = source.mean(axis=0), target.mean(axis=0)
    a, b = source - src_mean, target - dst_mean
    norm = float(np.sum(a**2))
    if norm <= 0:
        raise ValueError("the source points coincide")
    cos = float(np.sum(a * b)) / norm
    sin = float(np.sum(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0])) / norm
    rotation = np.array([[cos, -sin], [sin, cos]])
    return np.hstack([rotation, (dst_mean - rotation @ src_mean)[:, None]])


def canonical_to_crop(crop_px: int) -> tuple[float, np.ndarray]:
    """Scale (crop px per unit ``d``) and offset taking canonical-face coordinates to crop pixels."""
    scale = crop_px / CROP_SPAN_D
    offset = crop_px / 2.0 - scale * np.asarray(CROP_CENTRE_D, np.float64)
    return scale, offset


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.asarray(points, np.float64) @ matrix[:, :2].T + matrix[:, 2]


def eye_aperture(points: np.ndarray) -> float:
    """Mean lid opening of both eyes over each eye's width (about 0.25-0.35 open, near 0 closed)."""
    values = []
    for outer, inner, upper, lower in EYES.values():
        width = float(np.linalg.norm(points[outer] - points[inner]))
        gap = np.linalg.norm(points[list(upper)] - points[list(lower)], axis=1).mean()
        values.append(gap / width if width > 0 else 0.0)
    return float(np.mean(values))


def mouth_aperture(points: np.ndarray) -> float:
    """Inner lip gap over the mouth's width (0 closed; speech and yawns open it)."""
    left, right, upper, lower = MOUTH
    width = float(np.linalg.norm(points[left] - points[right]))
    return float(np.linalg.norm(points[upper] - points[lower]) / width) if width > 0 else 0.0


class OneEuroFilter:
    """The One Euro filter (Casiez, Roussel & Vogel, CHI 2012) over a vector: an exponential smoother whose
    cut-off rises with the signal's speed, so that a still face is steady and a moving one is not lagged."""

    def __init__(self, min_cutoff_hz: float, beta: float, derivative_cutoff_hz: float) -> None:
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff_hz, beta, derivative_cutoff_hz
        self._value: np.ndarray | None = None
        self._speed: np.ndarray | None = None
        self._time = 0.0

    @staticmethod
    def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, value: np.ndarray, time_s: float) -> np.ndarray:
        value = np.asarray(value, np.float64)
        if self._value is None or time_s <= self._time:
            self._value, self._speed, self._time = value.copy(), np.zeros_like(value), time_s
            return value.copy()
        dt = time_s - self._time
        speed = (value - self._value) / dt
        self._speed = self._speed + self._alpha(self.d_cutoff, dt) * (speed - self._speed)
        cutoff = self.min_cutoff + self.beta * np.abs(self._speed)
        self._value = self._value + self._alpha(cutoff, dt) * (value - self._value)
        self._time = time_s
        return self._value.copy()

    def reset(self) -> None:
        self._value = None


@dataclass(frozen=True)
class FaceState:
    """The tracked face after a frame: landmarks of the last mesh run (frame px), the smoothed alignment
    (frame px -> canonical face units ``d``), and lid and lip openings."""

    points: np.ndarray
    alignment: np.ndarray  # 2x3
    eye_aperture: float
    mouth_aperture: float
    mesh_frame: int  # the frame the landmarks come from
    updated: bool  # the mesh ran on this frame

    def crop_transform(self, crop_px: int) -> np.ndarray:
        """2x3 affine from frame pixels to the canonical crop's pixels."""
        scale, offset = canonical_to_crop(crop_px)
        return np.vstack([self.alignment[0] * scale, self.alignment[1] * scale]) + np.array(
            [[0, 0, offset[0]], [0, 0, offset[1]]])

    def canonical_points(self) -> np.ndarray:
        """The landmarks in canonical face units."""
        return apply_affine(self.alignment, self.points)


class FaceTracker:
    """Push grayscale frames in order; :attr:`state` is the tracked face (None while there is none)."""

    def __init__(self, fps: float, settings: TrackingSettings = TRACKING) -> None:
        if not math.isfinite(fps) or fps <= 0:
            raise ValueError(f"fps must be positive, got {fps!r}")
        self.fps = fps
        self.settings = settings
        self.mesh_every = max(1, round(settings.landmark_period_ms * fps / 1000.0))
        self.detect_every = max(1, round(settings.detect_period_ms * fps / 1000.0))
        self._filter = OneEuroFilter(settings.smoothing_min_cutoff_hz, settings.smoothing_beta,
                                     settings.smoothing_derivative_cutoff_hz)
        self.state: FaceState | None = None
        self.mesh_runs = 0
        self.detector_runs = 0
        self._frame = -1
        self._last_detect = -10**9

    def reset(self) -> None:
        self.state = None
        self._filter.reset()
        self._frame = -1
        self._last_detect = -10**9

    def push(self, frame: np.ndarray) -> FaceState | None:
        self._frame += 1
        n = self._frame
        if self.state is None:
            if n - self._last_detect < self.detect_every:
                return None
            self._last_detect = n
            self._acquire(frame)
            return self.state
        if n - self.state.mesh_frame >= self.mesh_every:
            self._follow(frame, self.state.points)
        elif self.state.updated:
            self.state = _held(self.state)
        return self.state

    def _acquire(self, frame: np.ndarray) -> None:
        self.detector_runs += 1
        faces = detect_faces(frame, self.settings.detection_score)
        if not faces:
            return
        x, y, w, h = faces[0].box
        right_eye, left_eye = faces[0].keypoints[0], faces[0].keypoints[1]
        angle = math.atan2(left_eye[1] - right_eye[1], left_eye[0] - right_eye[0])
        self._run_mesh(frame, (x + w / 2, y + h / 2), max(w, h) * self.settings.roi_scale, angle)

    def _follow(self, frame: np.ndarray, points: np.ndarray) -> None:
        lo, hi = points.min(axis=0), points.max(axis=0)
        a, b = points[EYE_LINE[0]], points[EYE_LINE[1]]
        angle = math.atan2(b[1] - a[1], b[0] - a[0])
        # the extent of the upright face: landmarks turned by -angle about their centre
        centre = (lo + hi) / 2
        cos, sin = math.cos(angle), math.sin(angle)
        upright = (points - centre) @ np.array([[cos, -sin], [sin, cos]])
        extent = float(np.max(upright.max(axis=0) - upright.min(axis=0)))
        self._run_mesh(frame, (float(centre[0]), float(centre[1])), extent * self.settings.roi_scale, angle)

    def _run_mesh(self, frame: np.ndarray, centre: tuple[float, float], side: float, angle: float) -> None:
        self.mesh_runs += 1
        if side < 8:
            self._lose()
            return
        mesh = face_mesh(frame, centre, side, angle)
        if mesh.presence < self.settings.presence_score:
            self._lose()
            return
        stable = self._filter(mesh.points[_STABLE_INDEX].ravel(), self._frame / self.fps).reshape(-1, 2)
        self.state = FaceState(
            points=mesh.points,
            alignment=similarity_transform(stable, _STABLE_CANONICAL),
            eye_aperture=eye_aperture(mesh.points),
            mouth_aperture=mouth_aperture(mesh.points),
            mesh_frame=self._frame,
            updated=True,
        )

    def _lose(self) -> None:
        self.state = None
        self._filter.reset()
        self._last_detect = -10**9  # look for it again on the next frame


def _held(state: FaceState) -> FaceState:
    return replace(state, updated=False)
