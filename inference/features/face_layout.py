"""Where the action-unit regions lie on a face: (x, y) as fractions of the face box that OpenCV's frontal
face Haar cascade finds, by standard facial proportions. "_l" / "_r" are image left / right.

One table for both sides of the project: the feature extractor measures motion there, and the synthetic
subject (hardware_mocks.synth) moves the face there.
"""

from __future__ import annotations

FACE_LANDMARKS: dict[str, tuple[float, float]] = {
    "brow_in_l": (0.40, 0.28),
    "brow_in_r": (0.60, 0.28),
    "brow_out_l": (0.20, 0.28),
    "brow_out_r": (0.80, 0.28),
    "lid_up_l": (0.30, 0.37),
    "lid_up_r": (0.70, 0.37),
    "lid_low_l": (0.30, 0.45),
    "lid_low_r": (0.70, 0.45),
    "nose_l": (0.42, 0.58),
    "nose_r": (0.58, 0.58),
    "lip_up": (0.50, 0.74),
    "mouth_l": (0.37, 0.78),
    "mouth_r": (0.63, 0.78),
    "chin": (0.50, 0.93),
}
