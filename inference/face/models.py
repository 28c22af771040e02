"""MediaPipe's face detector and face mesh, converted once to ONNX (``models/face/``, Apache-2.0) and run on
onnxruntime like CMCL-Net, one thread each, so that face finding does not compete with acquisition.

* :func:`detect_faces`: BlazeFace short-range (128x128 input): face boxes with six keypoints.
* :func:`face_mesh`: the 468-point face mesh (192x192 input) on a square, upright region of the frame.

Both take 8-bit grayscale frames (the lab camera's MONO8; colour video is converted by the caller): the grey
level is given to all three input channels.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final

import cv2
import numpy as np
import onnxruntime as ort

from acquisition.errors import InputFileError
from inference.face.layout import MESH_POINTS
from inference.runtime import session_options

MODEL_DIR: Final = Path(__file__).resolve().parents[2] / "models" / "face"
DETECTOR_FILE: Final = MODEL_DIR / "face_detection_short_range.onnx"
MESH_FILE: Final = MODEL_DIR / "face_landmark.onnx"

DETECTOR_INPUT: Final = 128
MESH_INPUT: Final = 192
# BlazeFace short-range anchors (MediaPipe's SsdAnchorsCalculator options for this model): two anchors per
# cell on the 16x16 grid (stride 8), six per cell on the 8x8 grid (three layers of stride 16)
ANCHOR_GRIDS: Final = ((16, 2), (8, 6))
NMS_IOU: Final = 0.3  # MediaPipe's min_suppression_threshold for this model
CASCADE_ABOVE_PX: Final = 4 * DETECTOR_INPUT  # frames larger than this get the cascade when BlazeFace fails
CASCADE_FILE: Final = "haarcascade_frontalface_default.xml"
CASCADE_LONG_SIDE_PX: Final = 640  # the cascade searches a copy this large (a 280 px face becomes 88 px)
CASCADE_SCALE_FACTOR: Final = 1.15
CASCADE_NEIGHBOURS: Final = 4
CASCADE_MIN_FACE_PX: Final = 24
SCORE_CLIP: Final = 80.0  # logits are clipped here before the sigmoid (no overflow)


@dataclass(frozen=True)
class FaceDetection:
    box: tuple[float, float, float, float]  # x, y, w, h in frame pixels
    keypoints: np.ndarray  # (6, 2): the subject's right eye, left eye, nose tip, mouth, right ear, left ear
    score: float


@dataclass(frozen=True)
class MeshResult:
    points: np.ndarray  # (468, 2) frame pixels
    depth: np.ndarray  # (468,) relative depth, frame pixels (smaller: nearer the camera)
    presence: float  # probability that the region holds a face


@cache
def _session(path: Path) -> ort.InferenceSession:
    if not path.is_file():
        raise InputFileError(path, "face model file missing (it ships in the repository's models/face/)")
    return ort.InferenceSession(str(path), sess_options=session_options(), providers=["CPUExecutionProvider"])


@cache
def _anchors() -> np.ndarray:
    centres = []
    for grid, per_cell in ANCHOR_GRIDS:
        ys, xs = np.mgrid[0:grid, 0:grid]
        cell = np.stack([(xs.ravel() + 0.5) / grid, (ys.ravel() + 0.5) / grid], axis=1)
        centres.append(np.repeat(cell, per_cell, axis=0))
    return np.concatenate(centres).astype(np.float32)


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(logits, np.float64), -SCORE_CLIP, SCORE_CLIP)))


def _rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[..., None], 3, axis=2)


def detect_faces(frame: np.ndarray, min_score: float) -> list[FaceDetection]:
    """Faces in an 8-bit grayscale frame, best first: BlazeFace on the whole frame (letterboxed to its square
    input); where that finds none in a large frame (a face of a few hundred pixels in the lab camera's
    2040x1080 frame is too small for it at 128x128), OpenCV's frontal-face cascade on a reduced copy."""
    found = _blazeface(frame, min_score)
    if found or max(frame.shape[:2]) <= CASCADE_ABOVE_PX:
        return found
    return _cascade_faces(frame)


def _cascade_faces(frame: np.ndarray) -> list[FaceDetection]:
    scale = min(1.0, CASCADE_LONG_SIDE_PX / max(frame.shape[:2]))
    small = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else frame
    faces = _cascade().detectMultiScale(small, CASCADE_SCALE_FACTOR, CASCADE_NEIGHBOURS,
                                        minSize=(CASCADE_MIN_FACE_PX, CASCADE_MIN_FACE_PX))
    out = []
    for x, y, w, h in sorted(faces, key=lambda f: -f[2] * f[3]):
        x, y, w, h = (float(v) / scale for v in (x, y, w, h))
        # no eye keypoints from the cascade: upright eyes at the usual places (the mesh finds the real ones)
        eyes = np.array([[x + 0.3 * w, y + 0.4 * h], [x + 0.7 * w, y + 0.4 * h]], np.float32)
        out.append(FaceDetection((x, y, w, h), np.vstack([eyes, np.zeros((4, 2), np.float32)]), 0.0))
    return out


@cache
def _cascade() -> cv2.CascadeClassifier:
    classifier = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE_FILE)
    if classifier.empty():
        raise RuntimeError(f"OpenCV's {CASCADE_FILE} could not be loaded (opencv-python-headless 4.x needed)")
    return classifier


def _blazeface(frame: np.ndarray, min_score: float) -> list[FaceDetection]:
    h, w = frame.shape[:2]
    side = max(h, w)
    scale = DETECTOR_INPUT / side
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    resized = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    square = np.zeros((DETECTOR_INPUT, DETECTOR_INPUT), np.uint8)
    oy, ox = (DETECTOR_INPUT - resized.shape[0]) // 2, (DETECTOR_INPUT - resized.shape[1]) // 2
    square[oy : oy + resized.shape[0], ox : ox + resized.shape[1]] = resized
    x = (_rgb(square).astype(np.float32) / 127.5 - 1.0)[None]
    session = _session(DETECTOR_FILE)
    regressors, scores = session.run(None, {session.get_inputs()[0].name: x})
    probability = _sigmoid(scores[0, :, 0])
    keep = np.flatnonzero(probability >= min_score)
    if keep.size == 0:
        return []
    raw = regressors[0, keep] / DETECTOR_INPUT
    anchors = _anchors()[keep]
    centre = raw[:, 0:2] + anchors
    size = raw[:, 2:4]
    keypoints = raw[:, 4:16].reshape(-1, 6, 2) + anchors[:, None, :]
    # back to frame pixels
    offset = np.array([ox, oy], np.float32)
    to_frame = DETECTOR_INPUT / scale

    def frame_xy(points: np.ndarray) -> np.ndarray:
        return (points * DETECTOR_INPUT - offset) / DETECTOR_INPUT * to_frame

    boxes = np.concatenate([frame_xy(centre - size / 2), size * to_frame], axis=1)
    order = _non_max_suppression(boxes, probability[keep])
    return [FaceDetection(tuple(float(v) for v in boxes[i]), frame_xy(keypoints[i]),
                          float(probability[keep][i])) for i in order]


def _non_max_suppression(boxes: np.ndarray, scores: np.ndarray) -> list[int]:
    order = list(np.argsort(-scores))
    kept: list[int] = []
    while order:
        best = order.pop(0)
        kept.append(best)
        order = [i for i in order if _iou(boxes[best], boxes[i]) < NMS_IOU]
    return kept


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def roi_transform(centre: tuple[float, float], side: float, angle: float) -> np.ndarray:
    """2x3 affine from the frame to the mesh's input: the square of ``side`` px about ``centre``, turned by
    ``angle`` (radians, the face's roll) so that the face is upright."""
    cos, sin = np.cos(angle), np.sin(angle)
    scale = MESH_INPUT / side
    rotation = scale * np.array([[cos, sin], [-sin, cos]])
    shift = MESH_INPUT / 2 - rotation @ np.asarray(centre, float)
    return np.hstack([rotation, shift[:, None]])


def face_mesh(frame: np.ndarray, centre: tuple[float, float], side: float, angle: float) -> MeshResult:
    """The 468 landmarks of the face in a square region of an 8-bit grayscale frame."""
    forward = roi_transform(centre, side, angle)
    crop = cv2.warpAffine(frame, forward, (MESH_INPUT, MESH_INPUT), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT)
    x = (_rgb(crop).astype(np.float32) * (1.0 / 255.0))[None]
    session = _session(MESH_FILE)
    landmarks, presence = session.run(None, {session.get_inputs()[0].name: x})
    mesh = landmarks.reshape(MESH_POINTS, 3)
    inverse = cv2.invertAffineTransform(forward)
    points = mesh[:, :2] @ inverse[:, :2].T + inverse[:, 2]
    scale = side / MESH_INPUT
    probability = float(_sigmoid(presence.ravel()[:1])[0])
    return MeshResult(points.astype(np.float32), (mesh[:, 2] * scale).astype(np.float32), probability)
