"""A session's face shape: the photo's landmarks moved by the drawn proportions, and the smooth warp of the
photo (a thin-plate spline through the landmarks) that gives the photo that shape.

The warped landmark positions are the session's true neutral landmarks.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray
from scipy.interpolate import RBFInterpolator

from hardware_mocks.synth.landmarks import (
    BROW_L,
    BROW_R,
    EYE_L,
    EYE_R,
    JAW,
    MOUTH,
    NOSE_ROOT,
    NOSE_TIP,
    NOSTRILS,
    FaceAxes,
    Points,
)

BROW_FOLLOW = 0.7  # the brows follow this share of their eye's sideways shift
NOSE_LOWER_BRIDGE = (28, 29, 30)
RING_POINTS = 16  # anchors around the head (hair, ears) that only follow the global width and height
RING_SCALE = (1.35, 1.6)  # ring semi-axes, in half face widths and half face heights
RING_RAISE = 0.25  # ring centre above the face centre, in face heights (the forehead and hair)
BORDER_POINTS_PER_SIDE = 4  # fixed anchors along each side of the photo
TPS_SMOOTHING = 1e-2  # regularises landmarks that coincide (dlib puts inner and outer lip corners together)


def vary_shape(points: Points, shape: Mapping[str, float]) -> Points:
    """The photo's landmarks with the session's proportions (see :class:`~.variation.ShapeRanges`)."""
    axes = FaceAxes.of(points)
    local = axes.to_local(points)
    out = local.copy()
    for eye, brow in ((EYE_L, BROW_L), (EYE_R, BROW_R)):
        shift = (shape["eye_spacing"] - 1.0) * local[list(eye), 0].mean()
        out[list(eye), 0] += shift
        out[list(brow), 0] += BROW_FOLLOW * shift
    root_v, tip_v = local[NOSE_ROOT, 1], local[NOSE_TIP, 1]
    for i in NOSE_LOWER_BRIDGE:
        out[i, 1] = root_v + (local[i, 1] - root_v) * shape["nose_length"]
    out[list(NOSTRILS), 1] += (shape["nose_length"] - 1.0) * (tip_v - root_v)
    mouth_u = local[list(MOUTH), 0].mean()
    out[list(MOUTH), 0] = mouth_u + (local[list(MOUTH), 0] - mouth_u) * shape["mouth_width"]
    jaw = np.asarray(JAW)
    weight = np.sin(2 * np.pi * (jaw - jaw[0]) / (jaw[-1] - jaw[0])) ** 2  # 0 at the ears and chin
    chin_u = local[jaw[len(jaw) // 2], 0]
    out[jaw, 0] = chin_u + (out[jaw, 0] - chin_u) * (1.0 + (shape["jaw_width"] - 1.0) * weight)
    out[:, 0] *= shape["face_width"]
    out[:, 1] *= shape["face_height"]
    return axes.to_image(out)


def head_ring(points: Points, scale: tuple[float, float] = (1.0, 1.0)) -> Points:
    """Anchors on an ellipse around the head, scaled by the session's (width, height) factors."""
    axes = FaceAxes.of(points)
    angle = np.linspace(0.0, 2 * np.pi, RING_POINTS, endpoint=False)
    local = np.column_stack([
        RING_SCALE[0] * axes.width / 2 * np.cos(angle) * scale[0],
        (RING_SCALE[1] * axes.height / 2 * np.sin(angle) - RING_RAISE * axes.height) * scale[1],
    ])
    return axes.to_image(local)


def photo_border(size: tuple[int, int]) -> Points:
    width, height = size
    s = np.linspace(0.0, 1.0, BORDER_POINTS_PER_SIDE, endpoint=False)
    top = np.column_stack([s * width, np.zeros_like(s)])
    right = np.column_stack([np.full_like(s, width), s * height])
    bottom = np.column_stack([width - s * width, np.full_like(s, height)])
    left = np.column_stack([np.zeros_like(s), height - s * height])
    return np.vstack([top, right, bottom, left])


def shape_warp(photo_points: Points, session_points: Points, photo_size: tuple[int, int],
               shape: Mapping[str, float]) -> RBFInterpolator:
    """Thin-plate spline from session-shape coordinates back to photo coordinates (a backward map).

    Through the 68 landmarks, a ring around the head that follows only the global width and height, and
    the photo's border, which stays."""
    ring_photo = head_ring(photo_points)
    ring_session = head_ring(photo_points, (shape["face_width"], shape["face_height"]))
    border = photo_border(photo_size)
    dst = np.vstack([session_points, ring_session, border])
    src = np.vstack([photo_points, ring_photo, border])
    return RBFInterpolator(dst, src, kernel="thin_plate_spline", degree=1, smoothing=TPS_SMOOTHING)


def evaluate(warp: RBFInterpolator, xy: NDArray[np.floating]) -> NDArray[np.float32]:
    """The warp at (..., 2) points, as float32 (..., 2)."""
    flat = np.asarray(xy, dtype=float).reshape(-1, 2)
    return warp(flat).astype(np.float32).reshape(np.shape(xy))
