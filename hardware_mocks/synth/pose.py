"""Head pose over a session (slow drift plus quick jerks) and the pseudo-3D head it turns.

The head is a depth map over the session's face plane: a smooth ellipsoid-like cap fitted to the landmarks
plus a nose bump, turned about a pivot behind the face (the neck) and projected orthographically (the face
is a small part of a camera distance of about a metre, so perspective is neglected).

Head coordinates ("head units") are frame pixels at the session's rest distance, origin at the face centre.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from hardware_mocks.synth.landmarks import CHIN, NOSE_ROOT, NOSE_TIP, NOSTRILS, FaceAxes, Points
from hardware_mocks.synth.timeline import HeadMove, step_envelope
from hardware_mocks.synth.variation import PoseDraw, PoseRanges

FloatArray = NDArray[np.float64]

CAP_WIDTH = 1.15  # cap semi-axis across, in half face widths (the cheeks curve away past the jaw points)
CAP_HEIGHT = 1.5  # cap semi-axis along the face, in half brow-to-chin heights (it includes the forehead)
CAP_RAISE = 0.2  # cap centre above the face centre, in brow-to-chin heights
CAP_DEPTH = 0.5  # cap height at its centre, in face widths (about 7 cm on a 14 cm face)
CAP_EXPONENT = 1.5  # z = depth * (1 - r^2)^exponent: flat-topped, meeting the plane smoothly at the rim
NOSE_HEIGHT = 0.12  # nose tip above the cheeks, in face widths (about 2 cm)
NOSE_SIGMA = (0.5, 0.6)  # nose bump widths: in nose widths across, in root-to-tip lengths along
PIVOT_BEHIND_FACE = 0.75  # the neck pivot, behind the cap's top, in face widths
N_DRIFT_COMPONENTS = 6  # sinusoids summed per drift component
DEPTH_ITERATIONS = 3  # Newton steps inverting the projection of the depth map


@dataclass(frozen=True)
class HeadModel:
    """Depth of the face surface over the head plane, in head units."""

    centre: FloatArray
    u: FloatArray
    v: FloatArray
    semi_axes: tuple[float, float]
    depth: float
    nose_tip: FloatArray
    nose_sigma: tuple[float, float]
    nose_height: float
    pivot: FloatArray  # (x, y, z)

    @classmethod
    def fit(cls, points: Points) -> HeadModel:
        axes = FaceAxes.of(points)
        local = axes.to_local(points)
        brow_to_chin = local[CHIN, 1] - local[17:27, 1].min()
        centre = axes.to_image(np.array([0.0, -CAP_RAISE * brow_to_chin]))
        nose_width = np.ptp(local[list(NOSTRILS), 0])
        nose_length = local[NOSE_TIP, 1] - local[NOSE_ROOT, 1]
        depth = CAP_DEPTH * axes.width
        nose_tip_xy = points[NOSE_TIP]
        return cls(
            centre=centre,
            u=axes.u,
            v=axes.v,
            semi_axes=(CAP_WIDTH * axes.width / 2, CAP_HEIGHT * brow_to_chin / 2),
            depth=depth,
            nose_tip=nose_tip_xy,
            nose_sigma=(NOSE_SIGMA[0] * nose_width, NOSE_SIGMA[1] * nose_length),
            nose_height=NOSE_HEIGHT * axes.width,
            pivot=np.array([*points[NOSE_TIP], depth - PIVOT_BEHIND_FACE * axes.width]),
        )

    def z(self, xy: NDArray[np.floating]) -> FloatArray:
        """Surface height (toward the camera) at head-plane points (..., 2)."""
        rel = np.asarray(xy, dtype=float) - self.centre
        r2 = (rel @ self.u / self.semi_axes[0]) ** 2 + (rel @ self.v / self.semi_axes[1]) ** 2
        cap = self.depth * np.clip(1.0 - r2, 0.0, None) ** CAP_EXPONENT
        nose = np.asarray(xy, dtype=float) - self.nose_tip
        nu, nv = nose @ self.u / self.nose_sigma[0], nose @ self.v / self.nose_sigma[1]
        return cap + self.nose_height * np.exp(-0.5 * (nu**2 + nv**2))


def rotation(yaw_deg: float, pitch_deg: float, roll_deg: float) -> FloatArray:
    """R = R_roll (about the view axis) @ R_pitch (about x) @ R_yaw (about y); image axes x right, y down,
    z toward the camera."""
    y, p, r = np.deg2rad([yaw_deg, pitch_deg, roll_deg])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ rx @ ry


@dataclass(frozen=True)
class Pose:
    """One frame's head pose: rotation (deg), translation (frame px) and scale (1 = rest distance)."""

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    tx: float = 0.0
    ty: float = 0.0
    scale: float = 1.0


def project(points3: NDArray[np.floating], pose: Pose, pivot: FloatArray,
            centre: tuple[float, float]) -> FloatArray:
    """(N, 3) head points -> (N, 2) frame points; ``centre`` is the frame position of the head origin."""
    r = rotation(pose.yaw, pose.pitch, pose.roll)
    turned = (np.asarray(points3, dtype=float) - pivot) @ r.T + pivot
    return np.asarray(centre) + np.array([pose.tx, pose.ty]) + pose.scale * turned[:, :2]


@dataclass(frozen=True)
class PoseTrack:
    """Per-frame pose arrays."""

    yaw: FloatArray
    pitch: FloatArray
    roll: FloatArray
    tx: FloatArray  # frame px
    ty: FloatArray
    scale: FloatArray

    def at(self, k: int) -> Pose:
        return Pose(float(self.yaw[k]), float(self.pitch[k]), float(self.roll[k]), float(self.tx[k]),
                    float(self.ty[k]), float(self.scale[k]))


def peak_normalised_noise(t: FloatArray, rng: np.random.Generator, band_hz: tuple[float, float],
                          n_components: int = N_DRIFT_COMPONENTS) -> FloatArray:
    """Smooth random curve with frequencies in ``band_hz``, scaled so that its largest magnitude is 1."""
    freqs = rng.uniform(band_hz[0], band_hz[1], n_components)
    phases = rng.uniform(0.0, 2.0 * np.pi, n_components)
    weights = rng.uniform(0.5, 1.0, n_components)
    curve = np.sin(2.0 * np.pi * t[:, None] * freqs + phases) @ weights
    peak = np.max(np.abs(curve)) if curve.size else 0.0
    return curve / peak if peak > 0 else curve


def draw_head_moves(duration_s: float, rng: np.random.Generator, draw: PoseDraw, ranges: PoseRanges,
                    margin_s: float) -> tuple[HeadMove, ...]:
    """Quick jerks to a new pose, which then stays (drift moves on around it). Each jerk's rotation and
    translation are clipped so that the jerks' sum plus the session's drift stays within the limits."""
    count = int(rng.poisson(draw.jerks_per_minute * duration_s / 60.0))
    onsets = np.sort(rng.uniform(margin_s, max(margin_s, duration_s - margin_s), count))
    limits = np.array([ranges.max_yaw_deg - draw.yaw_drift_deg, ranges.max_pitch_deg - draw.pitch_drift_deg,
                       ranges.max_roll_deg - draw.roll_drift_deg]).clip(0.0)
    move_limit = max(0.0, ranges.max_translation - draw.translation_drift - draw.sway)
    level = np.zeros(3)
    shift = np.zeros(2)
    moves = []
    for onset in onsets:
        direction = rng.standard_normal(3)
        direction /= np.linalg.norm(direction)
        target = np.clip(level + direction * rng.uniform(*ranges.jerk_deg), -limits, limits)
        angle = rng.uniform(0.0, 2.0 * np.pi)
        step = rng.uniform(*ranges.jerk_translation) * np.array([np.cos(angle), np.sin(angle)])
        new_shift = shift + step
        norm = np.linalg.norm(new_shift)
        if norm > move_limit:
            new_shift *= move_limit / norm
        delta, delta_shift = target - level, new_shift - shift
        level, shift = target, new_shift
        moves.append(HeadMove(
            onset_s=float(onset),
            offset_s=float(onset + rng.uniform(*ranges.jerk_duration_s)),
            translation=(float(delta_shift[0]), float(delta_shift[1])),
            rotation_deg=float(delta[2]),
            yaw_deg=float(delta[0]),
            pitch_deg=float(delta[1]),
        ))
    return tuple(moves)


def pose_track(t: FloatArray, draw: PoseDraw, head_moves: tuple[HeadMove, ...], face_px: float,
               distance_drift: float, distance_band_hz: tuple[float, float],
               rng: np.random.Generator) -> PoseTrack:
    """Slow drift (peak ``draw.*_drift``) + postural sway + the jerks, per frame at times ``t``."""
    yaw = draw.yaw_drift_deg * peak_normalised_noise(t, rng, draw.drift_band_hz)
    pitch = draw.pitch_drift_deg * peak_normalised_noise(t, rng, draw.drift_band_hz)
    roll = draw.roll_drift_deg * peak_normalised_noise(t, rng, draw.drift_band_hz)
    shift = draw.translation_drift * face_px / np.sqrt(2.0)
    tx = shift * peak_normalised_noise(t, rng, draw.drift_band_hz)
    ty = shift * peak_normalised_noise(t, rng, draw.drift_band_hz)
    sway_phase = rng.uniform(0.0, 2.0 * np.pi)
    ty += draw.sway * face_px * np.sin(2.0 * np.pi * draw.sway_hz * t + sway_phase)
    scale = 1.0 + distance_drift * peak_normalised_noise(t, rng, distance_band_hz)
    for move in head_moves:
        env = step_envelope(t, move.onset_s, move.offset_s)
        yaw += env * move.yaw_deg
        pitch += env * move.pitch_deg
        roll += env * move.rotation_deg
        tx += env * move.translation[0] * face_px
        ty += env * move.translation[1] * face_px
    return PoseTrack(yaw, pitch, roll, tx, ty, scale)
