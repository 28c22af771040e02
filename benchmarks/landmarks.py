"""Face landmarks on the real face videos (tests/data/video): speed of the face mesh and the detector, and
the stability of the aligned crop (its jitter, frame to frame, while the face is still).

    .venv/bin/python benchmarks/landmarks.py [--dlib]

Jitter: the canonical crop (``FeatureSpec.crop_px``) is cut around every frame with the tracker's alignment,
and dense optical flow (DIS, medium preset) between consecutive crops is taken over the rigid part of the
face (the nose bridge and the inner eye corners): with a perfect alignment and a still face it is zero. A
frame counts as still when the flow of the raw frame over the face, measured the same way without any
alignment, is below ``STILL_PX``. Printed: the median and 90th percentile over those frames, with the
alignment as the app smooths it (One Euro filter) and unsmoothed.

``--dlib`` measures dlib's 68-point predictor the same way (needs ``pip install dlib-bin
face-recognition-models``, research-only training data; not a dependency of the app): the comparison behind
the README's choice of MediaPipe's mesh.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from acquisition.readers.video import open_video
from inference.face.layout import RIGID_POINTS, STABLE_POINTS, TRACKING
from inference.face.models import detect_faces, face_mesh
from inference.face.tracker import FaceTracker, canonical_to_crop, similarity_transform
from inference.features.spec import FeatureSpec

HERE = Path(__file__).resolve().parent

DLIB_PACKAGES = "dlib-bin face-recognition-models==0.3.0"  # the predictor's training data: research only
VIDEOS = HERE.parent / "tests" / "data" / "video"
STILL_PX = 0.3  # raw-frame face motion (px per frame) below which the face counts as still
RIGID_RADIUS_CROP = 0.35  # rigid area for the jitter: discs of this many d around the rigid points
DLIB_STABLE = {39: STABLE_POINTS[133], 42: STABLE_POINTS[362], 27: (0.0, -0.22), 28: (0.0, 0.0),
               29: (0.0, 0.22)}  # dlib's inner eye corners and nose bridge, at the mesh's canonical places
# (the canonical positions of dlib's 27-29 are set to the mesh's 168/6/197: close, not identical)


def _gray_frames(path: Path) -> tuple[list[np.ndarray], float]:
    video = open_video(path)
    frames = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) if f.ndim == 3 else np.asarray(f) for f in video]
    fps = video.fps
    video.close()
    return frames, fps


def _rigid_mask(side: int) -> np.ndarray:
    scale, offset = canonical_to_crop(side)
    ys, xs = np.mgrid[0:side, 0:side]
    mask = np.zeros((side, side), bool)
    for point in RIGID_POINTS:
        if point in STABLE_POINTS:
            cx, cy = np.asarray(STABLE_POINTS[point]) * scale + offset
        else:
            continue
        mask |= (xs - cx) ** 2 + (ys - cy) ** 2 <= (RIGID_RADIUS_CROP * scale) ** 2
    return mask


def _jitter(frames: list[np.ndarray], transforms: list[np.ndarray | None], boxes: list[np.ndarray | None],
            side: int) -> np.ndarray:
    """Median crop motion over the rigid area between consecutive frames where the raw face was still."""
    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    mask = _rigid_mask(side)
    out = []
    for i in range(1, len(frames)):
        if transforms[i] is None or transforms[i - 1] is None or boxes[i - 1] is None:
            continue
        x0, y0, x1, y1 = (int(v) for v in boxes[i - 1])
        x0, y0 = max(x0, 0), max(y0, 0)
        a = np.ascontiguousarray(frames[i - 1][y0:y1, x0:x1])
        b = np.ascontiguousarray(frames[i][y0:y1, x0:x1])
        if min(a.shape) < 16:
            continue
        raw = flow.calc(a, b, None)
        if float(np.hypot(*np.median(raw.reshape(-1, 2), axis=0))) >= STILL_PX:
            continue
        crops = [cv2.warpAffine(frames[j], transforms[j], (side, side), flags=cv2.INTER_LINEAR)
                 for j in (i - 1, i)]
        moved = flow.calc(crops[0], crops[1], None)[mask]
        out.append(float(np.hypot(*np.median(moved, axis=0))))
    return np.asarray(out)


def _mediapipe(frames: list[np.ndarray], fps: float, smoothed: bool, side: int
               ) -> tuple[list, list, list[float]]:
    settings = TRACKING if smoothed else replace(TRACKING, smoothing_min_cutoff_hz=1e6)
    tracker = FaceTracker(fps, replace(settings, landmark_period_ms=0.0))  # every frame: the jitter of each
    transforms, boxes, times = [], [], []
    for frame in frames:
        started = time.perf_counter()
        state = tracker.push(frame)
        times.append(time.perf_counter() - started)
        transforms.append(None if state is None else state.crop_transform(side))
        boxes.append(None if state is None else np.r_[state.points.min(axis=0), state.points.max(axis=0)])
    return transforms, boxes, times


def _dlib(frames: list[np.ndarray], side: int) -> tuple[list, list, list[float]]:
    import dlib
    import face_recognition_models

    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    scale, offset = canonical_to_crop(side)
    canonical = np.array(list(DLIB_STABLE.values())) * scale + offset
    transforms, boxes, times, box = [], [], [], None
    for frame in frames:
        if box is None:
            found = detect_faces(frame, TRACKING.detection_score)
            if not found:
                transforms.append(None)
                boxes.append(None)
                continue
            x, y, w, h = found[0].box
            box = np.array([x, y, x + w, y + h])
        started = time.perf_counter()
        shape = predictor(frame, dlib.rectangle(*(int(v) for v in box)))
        times.append(time.perf_counter() - started)
        points = np.array([[p.x, p.y] for p in shape.parts()], float)
        lo, hi = points.min(axis=0), points.max(axis=0)
        centre, size = (lo + hi) / 2, float(np.max(hi - lo)) * 1.1
        box = np.r_[centre - size / 2, centre + size / 2]
        transforms.append(similarity_transform(points[list(DLIB_STABLE)], canonical))
        boxes.append(np.r_[lo, hi])
    return transforms, boxes, times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dlib", action="store_true", help="measure dlib's 68-point predictor too")
    args = parser.parse_args(argv)
    if args.dlib and not all(importlib.util.find_spec(m) for m in ("dlib", "face_recognition_models")):
        print("benchmarks/landmarks.py: --dlib needs dlib and its 68-point model, not installed here: "
              f"{sys.executable} -m pip install {DLIB_PACKAGES}", file=sys.stderr)
        return 2
    cv2.setNumThreads(1)
    side = FeatureSpec().crop_px
    pooled: dict[str, list[np.ndarray]] = {}
    mesh_ms, detect_ms = [], []
    for path in sorted(VIDEOS.glob("*.mp4")) + sorted(VIDEOS.glob("*.mov")):
        frames, fps = _gray_frames(path)
        variants = {"mediapipe mesh, smoothed (the app)": _mediapipe(frames, fps, True, side),
                    "mediapipe mesh, unsmoothed": _mediapipe(frames, fps, False, side)}
        if args.dlib:
            variants["dlib 68 points, unsmoothed"] = _dlib(frames, side)
        for label, (transforms, boxes, times) in variants.items():
            jitter = _jitter(frames, transforms, boxes, side)
            pooled.setdefault(label, []).append(jitter)
            tracked = sum(t is not None for t in transforms)
            per_call = np.asarray(times) * 1000.0
            print(f"{path.name:28s} {label:36s} face on {tracked}/{len(frames)} frames, {len(jitter)} still; "
                  f"jitter median {np.median(jitter) if len(jitter) else float('nan'):.3f} px, p90 "
                  f"{np.percentile(jitter, 90) if len(jitter) else float('nan'):.3f} px (crop {side} px); "
                  f"per frame {np.median(per_call):.2f} ms p50")
        face = next(f for f, t in zip(frames, variants["mediapipe mesh, smoothed (the app)"][0], strict=True)
                    if t is not None)
        for _ in range(20):
            started = time.perf_counter()
            found = detect_faces(face, TRACKING.detection_score)
            detect_ms.append((time.perf_counter() - started) * 1000.0)
            x, y, w, h = found[0].box
            started = time.perf_counter()
            face_mesh(face, (x + w / 2, y + h / 2), max(w, h) * TRACKING.roi_scale, 0.0)
            mesh_ms.append((time.perf_counter() - started) * 1000.0)
    print()
    for label, parts in pooled.items():
        jitter = np.concatenate(parts)
        print(f"all videos, {label}: jitter median {np.median(jitter):.3f} px, p90 "
              f"{np.percentile(jitter, 90):.3f} px over {len(jitter)} still frame pairs")
    print(f"face mesh (onnxruntime, 1 thread): p50 {np.median(mesh_ms):.2f} ms, p99 "
          f"{np.percentile(mesh_ms, 99):.2f} ms per call; detector p50 {np.median(detect_ms):.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
