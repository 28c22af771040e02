"""A real face photograph, placed where the lab camera sees the face and animated frame by frame.

Each action unit (AU) is a smooth local displacement field (Gaussian bumps at facial landmarks moving in
the AU's direction); expressions scale them by a raised-cosine envelope. Head motion is a rigid
rotation + translation. One ``cv2.remap`` per frame renders the whole thing straight from the photo, so
only the stored region (the face area, or the full frame) costs anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from inference.features.face_layout import FACE_LANDMARKS

FACES_DIR = Path(__file__).with_name("faces")

LANDMARKS = FACE_LANDMARKS  # the feature extractor measures where the synthetic face moves

# AU -> landmarks that move and their unit direction in the image (y down).
AU_MOTIONS: dict[str, tuple[tuple[str, tuple[float, float]], ...]] = {
    "AU1": (("brow_in_l", (0.0, -1.0)), ("brow_in_r", (0.0, -1.0))),
    "AU2": (("brow_out_l", (0.0, -1.0)), ("brow_out_r", (0.0, -1.0))),
    "AU4": (("brow_in_l", (0.5, 0.87)), ("brow_in_r", (-0.5, 0.87))),
    "AU7": (("lid_low_l", (0.0, -1.0)), ("lid_low_r", (0.0, -1.0))),
    "AU9": (("nose_l", (0.0, -1.0)), ("nose_r", (0.0, -1.0))),
    "AU10": (("lip_up", (0.0, -1.0)),),
    "AU12": (("mouth_l", (-0.6, -0.8)), ("mouth_r", (0.6, -0.8))),
    "AU14": (("mouth_l", (-1.0, 0.0)), ("mouth_r", (1.0, 0.0))),
    "AU15": (("mouth_l", (0.0, 1.0)), ("mouth_r", (0.0, 1.0))),
    "AU17": (("chin", (0.0, -1.0)),),
    "BLINK": (("lid_up_l", (0.0, 1.0)), ("lid_up_r", (0.0, 1.0))),
}
AU_REGIONS = tuple(sorted({name for motions in AU_MOTIONS.values() for name, _ in motions}))

BUMP_SIGMA = 0.065  # spread of a landmark's motion, fraction of the face width
BLINK_SIGMA = 0.045
FACE_CENTER_IN_FRAME = (0.5, 0.45)  # where the lab camera sees the face centre, fraction of (w, h)


@dataclass(frozen=True)
class FacePhoto:
    name: str
    image: np.ndarray  # float32 grayscale
    face_box: tuple[int, int, int, int]  # x, y, w, h in the photo
    source: str

    @property
    def face_center(self) -> tuple[float, float]:
        x, y, w, h = self.face_box
        return (x + w / 2, y + h / 2)


@cache
def face_catalog() -> dict[str, dict]:
    return json.loads((FACES_DIR / "faces.json").read_text())


def face_names() -> list[str]:
    return sorted(face_catalog())


def load_face(name: str) -> FacePhoto:
    catalog = face_catalog()
    if name not in catalog:
        raise ValueError(f"unknown face {name!r}; bundled faces: {', '.join(sorted(catalog))}")
    entry = catalog[name]
    image = cv2.imread(str(FACES_DIR / entry["file"]), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise FileNotFoundError(FACES_DIR / entry["file"])
    return FacePhoto(name, image.astype(np.float32), tuple(entry["face_box"]), entry["source"])


@dataclass(frozen=True)
class Placement:
    """Where the face lands in the camera frame: frame = scale * photo + offset."""

    frame_size: tuple[int, int]  # (width, height)
    face_px: int  # face box width in the frame
    scale: float
    offset: tuple[float, float]
    roi: tuple[int, int, int, int]  # face region stored when not storing full frames

    @classmethod
    def for_face(cls, face: FacePhoto, frame_size: tuple[int, int], face_px: int,
                 roi_scale: float) -> Placement:
        width, height = frame_size
        scale = face_px / face.face_box[2]
        cx, cy = FACE_CENTER_IN_FRAME[0] * width, FACE_CENTER_IN_FRAME[1] * height
        offset = (cx - scale * face.face_center[0], cy - scale * face.face_center[1])
        side = min(round(roi_scale * face_px / 8) * 8, width, height)
        x0 = int(np.clip(round(cx - side / 2), 0, width - side))
        y0 = int(np.clip(round(cy - side / 2), 0, height - side))
        return cls(frame_size, face_px, scale, offset, (x0, y0, side, side))

    def landmark(self, face: FacePhoto, name: str) -> tuple[float, float]:
        fx, fy = LANDMARKS[name]
        x, y, w, h = face.face_box
        return (self.scale * (x + fx * w) + self.offset[0], self.scale * (y + fy * h) + self.offset[1])

    @property
    def face_center(self) -> tuple[float, float]:
        width, height = self.frame_size
        return (FACE_CENTER_IN_FRAME[0] * width, FACE_CENTER_IN_FRAME[1] * height)


class FaceAnimator:
    """Renders frames of one region (x, y, w, h) of the camera frame."""

    def __init__(self, face: FacePhoto, placement: Placement, region: tuple[int, int, int, int],
                 max_shift_px: int) -> None:
        self.face = face
        self.placement = placement
        self.region = region
        self.margin = max_shift_px
        x0, y0, w, h = region
        m = max_shift_px
        ys, xs = np.mgrid[y0 - m : y0 + h + m, x0 - m : x0 + w + m].astype(np.float32)
        self._grid_x = xs[m:-m or None, m:-m or None].copy()
        self._grid_y = ys[m:-m or None, m:-m or None].copy()
        self._au_fields = {au: self._au_field(au, xs, ys) for au in AU_MOTIONS}

    def _au_field(self, au: str, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Displacement (dx, dy) per pixel, in px per unit amplitude (amplitude 1 = one face width)."""
        face_px = self.placement.face_px
        sigma = (BLINK_SIGMA if au == "BLINK" else BUMP_SIGMA) * face_px
        field = np.zeros((2, *xs.shape), dtype=np.float32)
        for landmark, (dx, dy) in AU_MOTIONS[au]:
            lx, ly = self.placement.landmark(self.face, landmark)
            bump = np.exp(-((xs - lx) ** 2 + (ys - ly) ** 2) / (2 * sigma**2)).astype(np.float32)
            field[0] += face_px * dx * bump
            field[1] += face_px * dy * bump
        return field

    def render(self, amplitudes: dict[str, float], translation_px: tuple[float, float],
               rotation_deg: float) -> np.ndarray:
        """One float32 frame of the region. ``amplitudes``: AU (or "BLINK") -> fraction of face width."""
        _, _, w, h = self.region
        m = self.margin
        tx, ty = translation_px
        sx = int(np.clip(m - round(tx), 0, 2 * m))
        sy = int(np.clip(m - round(ty), 0, 2 * m))
        disp_x = np.zeros((h, w), dtype=np.float32)
        disp_y = np.zeros((h, w), dtype=np.float32)
        for au, amplitude in amplitudes.items():
            if amplitude:
                field = self._au_fields[au]
                disp_x += amplitude * field[0, sy : sy + h, sx : sx + w]
                disp_y += amplitude * field[1, sy : sy + h, sx : sx + w]
        # frame point -> undo head pose about the face centre -> undo local motion -> photo point
        cx, cy = self.placement.face_center
        theta = np.deg2rad(rotation_deg)
        cos_t, sin_t = np.float32(np.cos(theta)), np.float32(np.sin(theta))
        rel_x = self._grid_x - np.float32(cx + tx)
        rel_y = self._grid_y - np.float32(cy + ty)
        src_x = cos_t * rel_x + sin_t * rel_y + np.float32(cx) - disp_x
        src_y = -sin_t * rel_x + cos_t * rel_y + np.float32(cy) - disp_y
        inv_scale = np.float32(1.0 / self.placement.scale)
        src_x -= np.float32(self.placement.offset[0])
        src_x *= inv_scale
        src_y -= np.float32(self.placement.offset[1])
        src_y *= inv_scale
        return cv2.remap(self.face.image, src_x, src_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
