"""Per-frame facial motion features on landmark geometry, fast enough for 150 fps on one CPU core.

For each frame: follow the face (:class:`inference.face.FaceTracker`: MediaPipe's face mesh every
``landmark_period_ms``, detector only when the face is lost), warp the frame to the canonical crop by the
similarity fitted to the stable points (inner eye corners, nose bridge), normalize its brightness (so light
flicker is not motion), compute dense optical flow (DIS) from the crop of ``spec.reference_ms`` earlier,
fit the head's own motion (an affine flow, robustly, to the pixels around the nose bridge, ridge and inner
eye corners, which expressions hardly move) and remove it, and pool what is left over the action-unit regions
placed on the landmarks (:data:`inference.face.layout.REGIONS`). Lid and lip openings come from the landmarks.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import cv2
import numpy as np

from inference.face.layout import (
    FACE_OUTLINE,
    REGIONS,
    RIGID_FOREHEAD,
    RIGID_POINTS,
    RIGID_RADIUS_D,
)
from inference.face.tracker import FaceState, FaceTracker, canonical_to_crop
from inference.features.spec import FeatureSpec

NORM_MEAN, NORM_STD = 128.0, 40.0  # crop brightness after normalization (8-bit for DIS)
REGION_SMOOTHING: Final = 0.3  # exponential smoothing of the region centres at each mesh update
REGION_MOVE_PX: Final = 0.5  # region masks are rebuilt when a centre moved this far (crop px)
SAMPLE_GRID_PX: Final = 2  # regions are pooled over every this many crop pixels (DIS at finest scale 2
# estimates the flow on a grid 4 px apart and interpolates between: nothing is lost)
RIGID_GRID_PX: Final = 2  # the head-motion fit samples every this many crop pixels
RESIDUAL_GRID_PX: Final = 4  # ... and the face's residual total every this many
INLIER_FACTOR: Final = 2.0  # refit without samples whose residual exceeds this many times the median
MIN_RIGID_SAMPLES: Final = 12
PATCH_MARGIN: Final = 0.15  # a reference frame keeps this much more than its crop's footprint, each side

GLOBAL_FEATURES: Final = (
    "head_dx", "head_dy", "head_rot", "head_mag", "head_fit_error", "residual_total",
    "eye_aperture", "mouth_aperture", "face_present",
)
VIDEO_FEATURE_NAMES: tuple[str, ...] = (
    tuple(f"{region}_{component}" for region in REGIONS for component in ("dx", "dy", "mag"))
    + GLOBAL_FEATURES
)
_PRESENT = VIDEO_FEATURE_NAMES.index("face_present")
_GLOBAL = {name: 3 * len(REGIONS) + i for i, name in enumerate(GLOBAL_FEATURES)}


class _CropGeometry:
    """Region masks and the head-motion fit on the canonical crop, from one face's landmarks."""

    def __init__(self, centres: np.ndarray, rigid: np.ndarray, outline: np.ndarray, side: int, scale: float,
                 eyes_xy: np.ndarray) -> None:
        self.centres = centres
        self.eyes_xy = eyes_xy  # the canonical origin (between the eyes), crop px about the crop's centre
        ys, xs = np.mgrid[0:side, 0:side]
        face = np.zeros((side, side), np.uint8)
        cv2.fillPoly(face, [np.round(outline).astype(np.int32)], 1)
        inside_face = face > 0
        sampled = (ys % SAMPLE_GRID_PX == 0) & (xs % SAMPLE_GRID_PX == 0) & inside_face
        pixels, sizes = [], []
        for (cx, cy), region in zip(centres, REGIONS.values(), strict=True):
            disc = (xs - cx) ** 2 + (ys - cy) ** 2 <= (region.radius_d * scale) ** 2
            inside = np.flatnonzero((disc & sampled).ravel())
            pixels.append(inside if inside.size else np.array([int(cy) * side + int(cx)]))
            sizes.append(len(pixels[-1]))
        self.region_pixels = np.concatenate(pixels)
        self.region_starts = np.cumsum([0, *sizes[:-1]])
        self.region_sizes = np.array(sizes, np.float64)
        grid = (ys % RIGID_GRID_PX == 0) & (xs % RIGID_GRID_PX == 0)
        near = np.zeros((side, side), bool)
        forehead = np.zeros((side, side), bool)
        for point, (px, py) in zip(RIGID_POINTS, rigid, strict=True):
            disc = (xs - px) ** 2 + (ys - py) ** 2 <= (RIGID_RADIUS_D * scale) ** 2
            near |= disc
            if point in RIGID_FOREHEAD:
                forehead |= disc
        self.rigid_pixels = np.flatnonzero((near & grid).ravel())
        self.rigid_forehead = forehead.ravel()[self.rigid_pixels]
        self.face_pixels = np.flatnonzero((inside_face & (ys % RESIDUAL_GRID_PX == 0)
                                           & (xs % RESIDUAL_GRID_PX == 0)).ravel())
        centre = (side - 1) / 2.0

        def design(flat: np.ndarray) -> np.ndarray:
            return np.column_stack([np.ones(len(flat)), flat % side - centre, flat // side - centre]
                                   ).astype(np.float32)

        # the head's motion in the crop: u = tx - r*y, v = ty + r*x (about the crop's centre)
        self.rigid_x = (self.rigid_pixels % side - centre).astype(np.float64)
        self.turn_design = np.column_stack([np.ones(len(self.rigid_pixels)),
                                            -(self.rigid_pixels // side - centre).astype(np.float64)])
        self.region_design = design(self.region_pixels)
        self.face_design = design(self.face_pixels)


@dataclass(frozen=True)
class TrackedFrame:
    """What :meth:`VideoFeatureExtractor.track` hands to :meth:`VideoFeatureExtractor.measure`: whether a
    face is tracked and the frame measured; for a measured frame its features so far, and the two aligned
    crops with the region geometry to pool on (None: nothing to compare with yet)."""

    face: bool
    measured: bool
    features: np.ndarray | None = None
    crops: tuple[np.ndarray, np.ndarray] | None = None
    geometry: _CropGeometry | None = None


_HELD: Final = TrackedFrame(face=True, measured=False)  # the frame gets the last measurement


class VideoFeatureExtractor:
    """Stateful: push frames in order, get one feature vector per frame."""

    def __init__(self, fps: float, spec: FeatureSpec | None = None) -> None:
        self.spec = spec or FeatureSpec()
        self.fps = fps
        self.reference_lag = self.spec.frames(self.spec.reference_ms, fps)
        self.step = self.spec.feature_step(fps)
        self.tracker = FaceTracker(fps)
        self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._flow.setFinestScale(self.spec.flow_finest_scale)
        self._flow.setPatchStride(self.spec.flow_patch_stride)
        self._flow.setGradientDescentIterations(self.spec.flow_iterations)
        self._scale, self._offset = canonical_to_crop(self.spec.crop_px)
        # (frame number, face patch, its corner in the frame) of the frames later measured frames compare with
        self._crops: deque[tuple[int, np.ndarray, np.ndarray]] = deque()
        self._frame = -1
        self._held = np.zeros(len(VIDEO_FEATURE_NAMES), np.float32)
        self._geometry: _CropGeometry | None = None
        self._centres: np.ndarray | None = None  # smoothed region centres, crop px
        self._state: FaceState | None = None

    # -- geometry -------------------------------------------------------------------------------------
    def _update_geometry(self, state: FaceState) -> None:
        points = state.canonical_points() * self._scale + self._offset
        centres = np.array([points[list(r.points)].mean(axis=0) + np.asarray(r.offset_d) * self._scale
                            for r in REGIONS.values()])
        if self._centres is None:
            self._centres = centres
        else:
            self._centres = self._centres + REGION_SMOOTHING * (centres - self._centres)
        geometry = self._geometry
        if geometry is not None and np.abs(geometry.centres - self._centres).max() < REGION_MOVE_PX:
            return
        side = self.spec.crop_px
        self._geometry = _CropGeometry(self._centres.copy(), points[list(RIGID_POINTS)],
                                       points[list(FACE_OUTLINE)], side, self._scale,
                                       self._offset - (side - 1) / 2.0)

    @property
    def face_box(self) -> tuple[int, int, int, int] | None:
        """The tracked face's landmark extent (x, y, w, h) in frame pixels, None while no face is tracked."""
        if self._state is None:
            return None
        lo, hi = self._state.points.min(axis=0), self._state.points.max(axis=0)
        return (round(lo[0]), round(lo[1]), round(hi[0] - lo[0]), round(hi[1] - lo[1]))

    def region_boxes(self) -> dict[str, tuple[int, int, int, int]]:
        """Each AU region's bounding square in frame pixels (for drawing over the video)."""
        if self._state is None or self._centres is None:
            return {}
        inverse = cv2.invertAffineTransform(self._state.crop_transform(self.spec.crop_px))
        centres = self._centres @ inverse[:, :2].T + inverse[:, 2]
        to_frame = float(np.hypot(*inverse[:, 0]))
        out = {}
        for (cx, cy), (name, region) in zip(centres, REGIONS.items(), strict=True):
            r = region.radius_d * self._scale * to_frame
            out[name] = (round(cx - r), round(cy - r), round(2 * r), round(2 * r))
        return out

    # -- features -------------------------------------------------------------------------------------
    def _face_patch(self, frame: np.ndarray, state: FaceState) -> tuple[np.ndarray, np.ndarray]:
        """A copy of the part of the frame the crop reads (with a margin for the head's motion until the
        frame serves as a reference), and its top-left corner in the frame."""
        side = self.spec.crop_px
        inverse = cv2.invertAffineTransform(state.crop_transform(side))
        corners = np.array([[0, 0], [side, 0], [0, side], [side, side]], np.float64) @ inverse[:, :2].T
        corners += inverse[:, 2]
        lo, hi = corners.min(axis=0), corners.max(axis=0)
        margin = PATCH_MARGIN * (hi - lo)
        h, w = frame.shape[:2]
        x0, y0 = (int(max(0, np.floor(v))) for v in lo - margin)
        x1, y1 = int(min(w, np.ceil(hi[0] + margin[0]))), int(min(h, np.ceil(hi[1] + margin[1])))
        return np.array(frame[y0:y1, x0:x1]), np.array([x0, y0], np.float64)

    def _crop(self, patch: np.ndarray, origin: np.ndarray, transform: np.ndarray) -> np.ndarray:
        """The canonical crop of a face patch cut with ``transform`` (frame px -> crop px), brightness
        normalized."""
        side = self.spec.crop_px
        shifted = transform.copy()
        shifted[:, 2] += transform[:, :2] @ origin
        crop = cv2.warpAffine(patch, shifted, (side, side), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
        mean, std = cv2.meanStdDev(crop)
        crop = (crop - float(mean[0, 0])) * (NORM_STD / max(float(std[0, 0]), 1.0)) + NORM_MEAN
        return np.clip(crop, 0, 255).astype(np.uint8)

    def push(self, frame: np.ndarray) -> np.ndarray:
        """Features of the next frame (uint8 HxW or BGR, any size): float32 (len(VIDEO_FEATURE_NAMES),).

        Motion is measured on every :attr:`step`-th frame (the face is followed on all of them); the frames
        between get the last measurement (see :func:`hold_features`, its offline twin). The same as
        ``measure(track(frame))``: the two stages may run in two threads (frames in order through each)."""
        return self.measure(self.track(frame))

    def track(self, frame: np.ndarray) -> TrackedFrame:
        """Stage 1: follow the face and cut the aligned crops (face mesh, warps). Touches only the tracking
        state; the result holds copies, never the frame itself."""
        self._frame += 1
        n = self._frame
        if frame.ndim == 3:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        state = self.tracker.push(frame)
        measured = n % self.step == 0
        if state is None:
            self._state, self._geometry, self._centres = None, None, None
            self._crops.clear()
            return TrackedFrame(face=False, measured=measured)
        self._state = state
        if state.updated or self._geometry is None:
            self._update_geometry(state)
        if not measured and (n + self.reference_lag) % self.step:  # neither measured nor a reference
            return _HELD
        while self._crops and self._crops[0][0] < n - self.reference_lag:
            self._crops.popleft()
        if (n + self.reference_lag) % self.step == 0:  # a later measured frame's reference
            self._crops.append((n, *self._face_patch(frame, state)))
        if not measured:
            return _HELD
        out = np.zeros(len(VIDEO_FEATURE_NAMES), np.float32)
        out[_PRESENT] = 1.0
        out[_GLOBAL["eye_aperture"]] = state.eye_aperture
        out[_GLOBAL["mouth_aperture"]] = state.mouth_aperture
        if not (self._crops and self._crops[0][0] == n - self.reference_lag):
            return TrackedFrame(face=True, measured=True, features=out)
        # both crops cut with the alignment of now: the flow holds the face's motion, not the alignment's
        # frame-to-frame jitter
        transform = state.crop_transform(self.spec.crop_px)
        _, patch, origin = self._crops[0]
        crops = (self._crop(patch, origin, transform), self._crop(frame, np.zeros(2), transform))
        return TrackedFrame(face=True, measured=True, features=out, crops=crops, geometry=self._geometry)

    def measure(self, tracked: TrackedFrame) -> np.ndarray:
        """Stage 2: the optical flow between the crops, pooled on the regions (or the held measurement).
        Touches only the flow state."""
        if not tracked.face:
            out = np.zeros(len(VIDEO_FEATURE_NAMES), np.float32)
        elif not tracked.measured:
            return self._held.copy()
        else:
            assert tracked.features is not None
            out = tracked.features.copy()
            if tracked.crops is not None and tracked.geometry is not None:
                reference, current = tracked.crops
                out = self._pool(self._flow.calc(reference, current, None), out, tracked.geometry)
        if tracked.measured:
            self._held = out.copy()
        return out

    def _pool(self, flow: np.ndarray, out: np.ndarray, geometry: _CropGeometry) -> np.ndarray:
        flat = flow.reshape(-1, 2)
        # the head's own motion: a translation and a turn (roll). The turn and the horizontal shift are fitted
        # to the nose's and the forehead's horizontal flow (u = tx - r*y: 2 d of height make the turn well
        # determined, and bilateral expressions move the forehead symmetrically); the vertical shift is the
        # nose's alone (AU1, AU2 and AU4 move the forehead up or down); the scale is taken as unchanged over
        # ``reference_ms`` (a head's distance changes far more slowly). Each fit is refitted without the
        # samples it explains worst (flow errors, or expression motion reaching into them).
        rigid = flat[geometry.rigid_pixels].astype(np.float64)
        horizontal = _robust_lstsq(geometry.turn_design, rigid[:, 0])
        tx, turn = horizontal
        nose_v = rigid[~geometry.rigid_forehead, 1]
        ty = _robust_mean(nose_v)
        predicted_u = geometry.turn_design @ horizontal
        predicted_v = ty + turn * geometry.rigid_x
        residual = np.hypot(rigid[:, 0] - predicted_u, rigid[:, 1] - predicted_v)
        residual = residual[~geometry.rigid_forehead]  # the fit's error where it is trusted most
        params = np.array([[tx, ty], [0.0, turn], [-turn, 0.0]], np.float32)  # as an affine (3, 2)
        # what is left once the head's motion is removed, pooled over the AU regions' pixels
        planes = np.empty((len(geometry.region_pixels), 3), np.float32)
        np.subtract(flat[geometry.region_pixels], geometry.region_design @ params,
                    out=planes[:, :2])
        planes[:, 2] = _norm(planes[:, :2])
        pooled = np.add.reduceat(planes, geometry.region_starts, axis=0) / geometry.region_sizes[:, None]
        out[: 3 * len(REGIONS)] = pooled.ravel()
        face = _norm(flat[geometry.face_pixels] - geometry.face_design @ params)
        # head motion where the eyes are: translation, rotation (deg)
        ex, ey = geometry.eyes_xy
        dx = params[0, 0] + params[1, 0] * ex + params[2, 0] * ey
        dy = params[0, 1] + params[1, 1] * ex + params[2, 1] * ey
        out[_GLOBAL["head_dx"]] = dx
        out[_GLOBAL["head_dy"]] = dy
        out[_GLOBAL["head_rot"]] = np.degrees(turn)
        out[_GLOBAL["head_mag"]] = np.hypot(dx, dy)
        out[_GLOBAL["head_fit_error"]] = _median(residual)
        out[_GLOBAL["residual_total"]] = float(face.mean()) if len(face) else 0.0
        return out

    def reset(self) -> None:
        self._crops.clear()
        self._frame = -1
        self._held = np.zeros(len(VIDEO_FEATURE_NAMES), np.float32)
        self._geometry, self._centres, self._state = None, None, None
        self.tracker.reset()


def extract_session_features(
    frames: Any,
    fps: float,
    spec: FeatureSpec | None = None,
    progress: Callable[[int, int], None] | None = None,
    block: int = 150,
) -> np.ndarray:
    """Features of every frame of a session (a SessionReader) or of any iterable of frames."""
    # OpenCV's own threads split some reductions differently from run to run (last-bit differences that
    # training amplifies): offline extraction runs single-threaded so that a training run reproduces
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        return _extract(frames, fps, spec, progress, block)
    finally:
        cv2.setNumThreads(threads)


def _extract(frames: Any, fps: float, spec: FeatureSpec | None, progress: Callable[[int, int], None] | None,
             block: int) -> np.ndarray:
    extractor = VideoFeatureExtractor(fps, spec)
    if hasattr(frames, "frames") and hasattr(frames, "__len__"):
        total = len(frames)
        out = np.zeros((total, len(VIDEO_FEATURE_NAMES)), np.float32)
        for first in range(0, total, block):
            chunk = frames.frames(first, min(first + block, total))
            for i in range(len(chunk)):
                out[first + i] = extractor.push(chunk[i])
            if progress:
                progress(min(first + block, total), total)
        return out
    rows = [extractor.push(frame) for frame in frames]
    return np.asarray(rows, np.float32).reshape(-1, len(VIDEO_FEATURE_NAMES))


def _robust_lstsq(design: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least squares, refitted without the samples whose residual exceeds INLIER_FACTOR times the median."""
    params = np.linalg.lstsq(design, target, rcond=None)[0]
    residual = np.abs(design @ params - target)
    keep = residual <= INLIER_FACTOR * _median(residual) + 1e-6
    if keep.sum() >= MIN_RIGID_SAMPLES:
        params = np.linalg.lstsq(design[keep], target[keep], rcond=None)[0]
    return params


def _robust_mean(values: np.ndarray) -> float:
    """Mean of the values within INLIER_FACTOR median absolute deviations of their median."""
    centre = _median(values)
    spread = np.abs(values - centre)
    return float(np.mean(values[spread <= INLIER_FACTOR * _median(spread) + 1e-6]))


def _norm(xy: np.ndarray) -> np.ndarray:
    """Row lengths of an (n, 2) array."""
    return np.sqrt(np.einsum("ij,ij->i", xy, xy))


def _median(values: np.ndarray) -> float:
    """np.median without its NaN checks (a few times faster on the short arrays here)."""
    n = len(values)
    if n == 0:
        return 0.0
    middle = np.partition(values, [(n - 1) // 2, n // 2])
    return float(0.5 * (middle[(n - 1) // 2] + middle[n // 2]))


def hold_features(features: np.ndarray, fps: float, spec: FeatureSpec) -> np.ndarray:
    """Per-frame features as :class:`VideoFeatureExtractor` gives them at ``spec.feature_rate_hz``: each
    frame with a face gets the features of the last measured frame (every ``feature_step``-th from the
    first). Features measured on every frame become what the extractor gives; held ones stay as they are."""
    features = np.asarray(features, np.float32)
    step = spec.feature_step(fps)
    if step == 1 or len(features) == 0:
        return features
    frames = np.arange(len(features))
    source = frames - frames % step
    held = features[source]
    held[features[:, _PRESENT] == 0] = 0.0
    return held


def video_window(
    features: np.ndarray, frame_times_ms: np.ndarray, start_ms: float, spec: FeatureSpec
) -> np.ndarray:
    """The per-frame features in [start, start + window_ms), linearly resampled in time to
    ``spec.video_steps`` points (so any frame rate gives the same shape); points outside the frames are 0."""
    steps = spec.video_steps
    targets = start_ms + (np.arange(steps) + 0.5) * (spec.window_ms / steps)
    times = np.asarray(frame_times_ms, dtype=float)
    out = np.zeros((steps, features.shape[1] if features.ndim == 2 else len(VIDEO_FEATURE_NAMES)), np.float32)
    if len(times) == 0:
        return out
    right = np.searchsorted(times, targets, side="left")
    valid = (targets >= times[0]) & (targets <= times[-1])
    right = np.clip(right, 1, len(times) - 1)
    left = right - 1
    span = times[right] - times[left]
    weight = np.where(span > 0, (targets - times[left]) / np.where(span > 0, span, 1.0), 0.0)
    weight = np.clip(weight, 0.0, 1.0)[:, None]
    values = features[left] * (1.0 - weight) + features[right] * weight
    out[valid] = values[valid]
    if len(times) == 1:
        out[valid] = features[0]
    return out


__all__ = ["GLOBAL_FEATURES", "VIDEO_FEATURE_NAMES", "TrackedFrame", "VideoFeatureExtractor",
           "extract_session_features", "hold_features", "video_window"]
