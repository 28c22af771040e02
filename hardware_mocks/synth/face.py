"""The bundled face photographs (``faces/``) and their 68-point landmark annotations.

Each photo carries its own annotation (``faces/<name>.landmarks.json``, made once by ``faces/annotate.py``
with dlib and checked by eye), so the synthetic face moves where the face in the photo is, not where any
measurer of the project looks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from hardware_mocks.synth.landmarks import N_LANDMARKS, FaceAxes, Points

FACES_DIR = Path(__file__).with_name("faces")
FACE_CENTER_IN_FRAME = (0.5, 0.45)  # where the lab camera sees the face centre at rest, fraction of (w, h)


@dataclass(frozen=True)
class FacePhoto:
    name: str
    image: np.ndarray  # float32 grayscale
    landmarks: Points  # (68, 2) in the photo's pixels
    source: str
    licence: str

    @property
    def face_box(self) -> tuple[int, int, int, int]:
        """x, y, w, h of the landmarks' bounding box (jaw to jaw, brows to chin), in the photo."""
        (x0, y0), (x1, y1) = self.landmarks.min(axis=0), self.landmarks.max(axis=0)
        return (round(x0), round(y0), round(x1 - x0), round(y1 - y0))

    @property
    def face_center(self) -> tuple[float, float]:
        x, y = FaceAxes.of(self.landmarks).centre
        return (float(x), float(y))


@cache
def face_catalog() -> dict[str, dict]:
    return json.loads((FACES_DIR / "faces.json").read_text())


def face_names() -> list[str]:
    return sorted(face_catalog())


def load_landmarks(path: Path) -> Points:
    points = np.asarray(json.loads(path.read_text())["points"], dtype=float)
    if points.shape != (N_LANDMARKS, 2):
        raise ValueError(f"{path}: expected {N_LANDMARKS} points, got {points.shape}")
    return points


@cache
def load_face(name: str) -> FacePhoto:
    catalog = face_catalog()
    if name not in catalog:
        raise ValueError(f"unknown face {name!r}; bundled faces: {', '.join(sorted(catalog))}")
    entry = catalog[name]
    image = cv2.imread(str(FACES_DIR / entry["file"]), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise FileNotFoundError(FACES_DIR / entry["file"])
    landmarks = load_landmarks(FACES_DIR / entry["landmarks"])
    landmarks.setflags(write=False)
    image = image.astype(np.float32)
    image.setflags(write=False)
    return FacePhoto(name, image, landmarks, entry["source"], entry["licence"])


@dataclass(frozen=True)
class Placement:
    """Where a session's face rests in the camera frame, and the face region stored.

    ``face_center`` is the rest position (head motion moves the face around it); ``roi`` is the square
    region stored when not storing full frames, ``roi_scale`` face widths wide.
    """

    frame_size: tuple[int, int]  # (width, height)
    face_px: int  # nominal face width in the frame
    roi: tuple[int, int, int, int]

    @classmethod
    def for_face(cls, face: FacePhoto | None, frame_size: tuple[int, int], face_px: int,
                 roi_scale: float) -> Placement:
        """``face`` is accepted for compatibility; every face rests at the same place."""
        del face
        width, height = frame_size
        cx, cy = FACE_CENTER_IN_FRAME[0] * width, FACE_CENTER_IN_FRAME[1] * height
        side = min(round(roi_scale * face_px / 8) * 8, width, height)
        x0 = int(np.clip(round(cx - side / 2), 0, width - side))
        y0 = int(np.clip(round(cy - side / 2), 0, height - side))
        return cls(frame_size, face_px, (x0, y0, side, side))

    @property
    def face_center(self) -> tuple[float, float]:
        width, height = self.frame_size
        return (FACE_CENTER_IN_FRAME[0] * width, FACE_CENTER_IN_FRAME[1] * height)
