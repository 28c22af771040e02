"""Per-frame facial motion features, fast enough for 150 fps on one CPU core.

For each frame: find and track the face (OpenCV's Haar cascade, shipped in the opencv wheel, on a small
copy of the frame every few frames; the box is smoothed so the crop does not jitter), cut a stable square
crop resized to ``spec.crop_px`` and normalized in brightness (so light flicker is not motion), compute
dense optical flow (DIS, ultrafast preset) from the crop of about half an ME earlier
(``spec.reference_ms``), remove the head's own motion (a least-squares similarity fit to the flow), and
pool what is left over the action-unit regions.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from inference.features.face_layout import FACE_LANDMARKS
from inference.features.spec import FeatureSpec

CASCADE_FILE = "haarcascade_frontalface_default.xml"
DETECT_LONG_SIDE_PX = 240  # the face is searched on a copy of the frame this large
DETECT_EVERY_FRAMES = 30  # re-detection period while tracking (amortizes the detector's cost)
DETECT_MIN_FACE = 0.12  # smallest face, fraction of the detection image's short side
DETECT_SCALE_FACTOR = 1.15
DETECT_MIN_NEIGHBOURS = 4
TRACK_SEARCH = 1.0  # while tracking, search this many face sizes around the face centre
TRACK_FACE_PX = 64  # ... on a copy scaled so that the face is this large
TRACK_SIZE_RANGE = (0.7, 1.4)  # ... for faces of this size range relative to the tracked one
LOST_AFTER_MISSES = 3  # detections in a row without a face before the face counts as lost
BOX_SMOOTHING = 0.25  # exponential smoothing of the face box
BOX_DEAD_BAND = 0.04  # box changes below this fraction of its size are ignored (detector noise)
CROP_MARGIN = 1.15  # crop side, in face-box widths
REGION_RADIUS = 0.09  # AU region radius, fraction of the face width
NORM_MEAN, NORM_STD = 128.0, 40.0  # crop brightness after normalization (8-bit for DIS)
FIT_GRID = 12  # flow sampled on this grid for the head-motion fit

REGIONS = tuple(FACE_LANDMARKS)
GLOBAL_FEATURES = ("head_dx", "head_dy", "head_rot", "head_mag", "residual_total", "blink_dy", "face_present")
VIDEO_FEATURE_NAMES: tuple[str, ...] = (
    tuple(f"{region}_{component}" for region in REGIONS for component in ("dx", "dy", "mag"))
    + GLOBAL_FEATURES
)
_PRESENT = VIDEO_FEATURE_NAMES.index("face_present")


def _cascade() -> cv2.CascadeClassifier:
    classifier = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE_FILE)
    if classifier.empty():
        raise RuntimeError(f"OpenCV's {CASCADE_FILE} could not be loaded (opencv-python-headless 4.x needed)")
    return classifier


class VideoFeatureExtractor:
    """Stateful: push frames in order, get one feature vector per frame."""

    def __init__(self, fps: float, spec: FeatureSpec | None = None) -> None:
        self.spec = spec or FeatureSpec()
        self.fps = fps
        self.reference_lag = self.spec.frames(self.spec.reference_ms, fps)
        self._cascade = _cascade()
        self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self.step = self.spec.feature_step(fps)
        self._crops: deque[tuple[int, np.ndarray]] = deque()  # (frame number, crop) of the frames needed
        self._frame = -1  # frames pushed since reset, less one
        self._held = np.zeros(len(VIDEO_FEATURE_NAMES), np.float32)
        self._box: np.ndarray | None = None  # smoothed (cx, cy, size) in frame pixels
        self._frames_since_detect = DETECT_EVERY_FRAMES
        self._misses = 0
        side = self.spec.crop_px
        masks = self._region_masks(side)
        # the AU regions' pixels one region after the other (flat crop indices), and where each region starts
        self._region_pixels = np.concatenate([yy * side + xx for yy, xx in masks])
        self._region_starts = np.cumsum([0] + [len(yy) for yy, _ in masks[:-1]])
        self._region_sizes = np.array([len(yy) for yy, _ in masks], dtype=np.float64)
        ys, xs = np.mgrid[0:side, 0:side]
        step = max(1, side // FIT_GRID)
        fit_y, fit_x = ys[::step, ::step].ravel(), xs[::step, ::step].ravel()
        self._fit_pixels = fit_y * side + fit_x
        centre = (side - 1) / 2.0
        # head motion, a similarity: u = tx + a*x - b*y ; v = ty + b*x + a*y (a: scale - 1, b: rotation)
        ones, zeros = np.ones(len(fit_x)), np.zeros(len(fit_x))
        fx_c, fy_c = fit_x - centre, fit_y - centre
        self._fit_rows = np.concatenate(
            [np.column_stack([ones, zeros, fx_c, -fy_c]), np.column_stack([zeros, ones, fy_c, fx_c])]
        )
        self._fit_pinv = np.linalg.pinv(self._fit_rows)
        # each crop pixel's (x, y) about the centre
        self._crop_xy = np.dstack([xs - centre, ys - centre]).astype(np.float32)
        # the dy columns of the upper lids and of the brows (blink_dy)
        self._upper_lid_dy = np.array([3 * REGIONS.index(r) + 1 for r in ("lid_up_l", "lid_up_r")])
        self._brow_dy = np.array(
            [3 * REGIONS.index(r) + 1 for r in ("brow_in_l", "brow_in_r", "brow_out_l", "brow_out_r")]
        )

    # -- geometry -------------------------------------------------------------------------------------
    def _region_masks(self, side: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Pixel indices of each AU region in the crop (the face box sits centred, 1/CROP_MARGIN wide)."""
        box = side / CROP_MARGIN
        origin = (side - box) / 2.0
        radius = max(1.0, REGION_RADIUS * box)
        ys, xs = np.mgrid[0:side, 0:side]
        masks = []
        for fx, fy in FACE_LANDMARKS.values():
            cx, cy = origin + fx * box, origin + fy * box
            inside = (xs - cx) ** 2 + (ys - cy) ** 2 <= radius**2
            masks.append(np.nonzero(inside))
        return masks

    @property
    def face_box(self) -> tuple[int, int, int, int] | None:
        """The smoothed face box (x, y, w, h) in frame pixels, None while no face is tracked."""
        if self._box is None:
            return None
        cx, cy, size = self._box
        return (round(cx - size / 2), round(cy - size / 2), round(size), round(size))

    def region_boxes(self) -> dict[str, tuple[int, int, int, int]]:
        """Each AU region's bounding square in frame pixels (for drawing over the video)."""
        box = self.face_box
        if box is None:
            return {}
        x, y, w, h = box
        r = REGION_RADIUS * w
        return {
            name: (round(x + fx * w - r), round(y + fy * h - r), round(2 * r), round(2 * r))
            for name, (fx, fy) in FACE_LANDMARKS.items()
        }

    # -- tracking -------------------------------------------------------------------------------------
    def _detect(self, frame: np.ndarray) -> np.ndarray | None:
        if self._box is not None:  # tracking: search near the face only, at a small fixed face size
            found = self._detect_near(frame)
            if found is not None:
                return found
        scale = DETECT_LONG_SIDE_PX / max(frame.shape)
        small = (
            cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else frame
        )
        scale = min(scale, 1.0)
        min_side = max(int(DETECT_MIN_FACE * min(small.shape)), 12)
        faces = self._cascade.detectMultiScale(
            small, DETECT_SCALE_FACTOR, DETECT_MIN_NEIGHBOURS, minSize=(min_side, min_side)
        )
        if len(faces) == 0:
            return None
        x, y, w, h = max(faces, key=lambda f: f[2] * f[3]) / scale
        return np.array([x + w / 2, y + h / 2, (w + h) / 2])

    def _detect_near(self, frame: np.ndarray) -> np.ndarray | None:
        cx, cy, size = self._box
        half = TRACK_SEARCH * size
        x0, y0 = max(int(cx - half), 0), max(int(cy - half), 0)
        region = frame[y0 : int(cy + half), x0 : int(cx + half)]
        if min(region.shape) < 8:
            return None
        scale = TRACK_FACE_PX / size
        small = cv2.resize(region, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        faces = self._cascade.detectMultiScale(
            small,
            DETECT_SCALE_FACTOR,
            DETECT_MIN_NEIGHBOURS,
            minSize=(int(TRACK_FACE_PX * TRACK_SIZE_RANGE[0]),) * 2,
            maxSize=(int(TRACK_FACE_PX * TRACK_SIZE_RANGE[1]),) * 2,
        )
        if len(faces) == 0:
            return None
        x, y, w, h = max(faces, key=lambda f: f[2] * f[3]) / scale
        return np.array([x0 + x + w / 2, y0 + y + h / 2, (w + h) / 2])

    def _track(self, frame: np.ndarray) -> None:
        self._frames_since_detect += 1
        if self._box is not None and self._frames_since_detect < DETECT_EVERY_FRAMES:
            return
        self._frames_since_detect = 0
        found = self._detect(frame)
        if found is None:
            self._misses += 1
            if self._misses >= LOST_AFTER_MISSES or self._box is None:
                self._box = None
                self._crops.clear()
            else:
                self._frames_since_detect = DETECT_EVERY_FRAMES  # look again on the next frame
            return
        self._misses = 0
        if self._box is None:
            self._box = found
            self._crops.clear()
            return
        change = np.abs(found - self._box) / self._box[2]
        if change.max() > BOX_DEAD_BAND:
            self._box = self._box + BOX_SMOOTHING * (found - self._box)

    def _crop(self, frame: np.ndarray) -> np.ndarray:
        cx, cy, size = self._box
        side = size * CROP_MARGIN
        out = self.spec.crop_px
        x0, y0 = round(cx - side / 2), round(cy - side / 2)
        x1, y1 = x0 + round(side), y0 + round(side)
        h, w = frame.shape
        region = frame[max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)]
        if (x0, y0, x1, y1) != (max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)):
            region = cv2.copyMakeBorder(
                region, max(-y0, 0), max(y1 - h, 0), max(-x0, 0), max(x1 - w, 0), cv2.BORDER_REPLICATE
            )
        crop = cv2.resize(region, (out, out), interpolation=cv2.INTER_AREA).astype(np.float32)
        mean, std = cv2.meanStdDev(crop)
        crop = (crop - float(mean[0, 0])) * (NORM_STD / max(float(std[0, 0]), 1.0)) + NORM_MEAN
        return np.clip(crop, 0, 255).astype(np.uint8)

    # -- features -------------------------------------------------------------------------------------
    def push(self, frame: np.ndarray) -> np.ndarray:
        """Features of the next frame (uint8 HxW, any size): float32 (len(VIDEO_FEATURE_NAMES),).

        Motion is measured on every :attr:`step`-th frame (the face is tracked on all of them); the frames
        between get the last measurement (see :func:`hold_features`, its offline twin)."""
        self._frame += 1
        n = self._frame
        out = np.zeros(len(VIDEO_FEATURE_NAMES), np.float32)
        if frame.ndim == 3:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        self._track(frame)
        measured = n % self.step == 0
        if self._box is None:
            if measured:
                self._held = out.copy()
            return out
        if not measured and (n + self.reference_lag) % self.step:  # neither measured nor a reference
            return self._held.copy()
        crop = self._crop(frame)
        self._crops.append((n, crop))
        while self._crops[0][0] < n - self.reference_lag:
            self._crops.popleft()
        if not measured:
            return self._held.copy()
        out[_PRESENT] = 1.0
        if self._crops[0][0] == n - self.reference_lag:
            out = self._pool(self._flow.calc(self._crops[0][1], crop, None), out)
        self._held = out
        return out.copy()

    def _pool(self, flow: np.ndarray, out: np.ndarray) -> np.ndarray:
        flat = flow.reshape(-1, 2)
        # head motion: least-squares similarity fit on a grid of flow samples, then a refit without the
        # samples it explains worst (the moving AU regions)
        target = flat[self._fit_pixels].T.ravel().astype(np.float64)
        params = self._fit_pinv @ target
        residual = np.abs(self._fit_rows @ params - target)
        inliers = residual <= 2.0 * _median(residual) + 1e-6
        rows = self._fit_rows[inliers]
        params = np.linalg.solve(rows.T @ rows, rows.T @ target[inliers])
        tx, ty, a, b = params
        # what is left once the head's motion is removed; pooled over the AU regions' pixels
        head = cv2.transform(self._crop_xy, np.array([[a, -b, tx], [b, a, ty]], np.float32))
        res_x, res_y = cv2.split(flow - head)
        magnitude = cv2.magnitude(res_x, res_y)
        planes = np.stack([res_x, res_y, magnitude]).reshape(3, -1)[:, self._region_pixels]
        pooled = np.add.reduceat(planes, self._region_starts, axis=1) / self._region_sizes
        out[: 3 * len(REGIONS)] = pooled.T.ravel()
        base = 3 * len(REGIONS)
        out[base] = tx
        out[base + 1] = ty
        out[base + 2] = np.degrees(b)
        out[base + 3] = np.hypot(tx, ty)
        out[base + 4] = cv2.mean(magnitude)[0]
        out[base + 5] = float(out[self._upper_lid_dy].mean() - out[self._brow_dy].mean())
        return out

    def reset(self) -> None:
        self._crops.clear()
        self._frame = -1
        self._held = np.zeros(len(VIDEO_FEATURE_NAMES), np.float32)
        self._box = None
        self._frames_since_detect = DETECT_EVERY_FRAMES
        self._misses = 0


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


def _median(values: np.ndarray) -> float:
    """np.median without its NaN checks (a few times faster on the short arrays here)."""
    n = len(values)
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
