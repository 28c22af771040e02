"""The iBUG 300-W / dlib 68-point landmark scheme, and the face's own axes measured from the points.

Indices (image left = the subject's right): jaw 0-16 (8 = chin), brows 17-21 and 22-26 (21 and 22 inner),
nose bridge 27-30 (30 = tip), nostrils 31-35, eyes 36-41 and 42-47 (corners 36/39 and 42/45, upper lid
37-38 and 43-44, lower lid 40-41 and 46-47), outer lips 48-59 (corners 48 and 54, 51 top, 57 bottom),
inner lips 60-67 (corners 60 and 64).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

N_LANDMARKS = 68
JAW = tuple(range(0, 17))
CHIN = 8
BROW_L = tuple(range(17, 22))
BROW_R = tuple(range(22, 27))
NOSE_BRIDGE = (27, 28, 29, 30)
NOSE_ROOT, NOSE_TIP = 27, 30
NOSTRILS = tuple(range(31, 36))
NOSE = NOSE_BRIDGE + NOSTRILS
EYE_L = tuple(range(36, 42))
EYE_R = tuple(range(42, 48))
MOUTH = tuple(range(48, 68))
MOUTH_CORNERS = (48, 54)

# Each eye: (outer or inner corner, upper lid points, the other corner, lower lid points), the lid points
# ordered from the first corner to the second, so that upper[i] lies above lower[i].
EYE_LIDS: tuple[tuple[int, tuple[int, int], int, tuple[int, int]], ...] = (
    (36, (37, 38), 39, (41, 40)),
    (42, (43, 44), 45, (47, 46)),
)

MIRROR: tuple[int, ...] = (
    *range(16, -1, -1),  # jaw
    *range(26, 16, -1),  # brows
    27, 28, 29, 30,
    35, 34, 33, 32, 31,
    45, 44, 43, 42, 47, 46,  # eye L -> eye R
    39, 38, 37, 36, 41, 40,  # eye R -> eye L
    54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55,
    64, 63, 62, 61, 60, 67, 66, 65,
)
"""``MIRROR[i]``: the landmark symmetric to ``i`` about the face's mid-line."""

Points = NDArray[np.float64]  # (68, 2) x, y


def eye_centres(points: Points) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    return points[list(EYE_L)].mean(axis=0), points[list(EYE_R)].mean(axis=0)


@dataclass(frozen=True)
class FaceAxes:
    """The face's own frame: ``u`` along the eye line (image left to right), ``v`` down the face."""

    centre: NDArray[np.float64]  # centre of the landmarks' bounding box
    u: NDArray[np.float64]  # unit vector
    v: NDArray[np.float64]  # unit vector, u rotated by +90 degrees (image y down)
    width: float  # extent of the points along u (about the face width at the cheekbones)
    height: float  # extent along v (brows to chin)

    @classmethod
    def of(cls, points: Points) -> FaceAxes:
        left, right = eye_centres(points)
        u = (right - left) / np.linalg.norm(right - left)
        v = np.array([-u[1], u[0]])
        mean = points.mean(axis=0)
        local = (points - mean) @ np.column_stack([u, v])
        lo, hi = local.min(axis=0), local.max(axis=0)
        centre = mean + ((lo + hi) / 2) @ np.vstack([u, v])
        return cls(centre, u, v, float(hi[0] - lo[0]), float(hi[1] - lo[1]))

    def to_local(self, points: NDArray[np.floating]) -> NDArray[np.float64]:
        """(..., 2) image points -> (..., 2) (u, v) about the centre."""
        return (np.asarray(points, dtype=float) - self.centre) @ np.column_stack([self.u, self.v])

    def to_image(self, local: NDArray[np.floating]) -> NDArray[np.float64]:
        return self.centre + np.asarray(local, dtype=float) @ np.vstack([self.u, self.v])

    def direction(self, out: float, up: float, side: float) -> NDArray[np.float64]:
        """Image vector of a motion ``out`` (away from the mid-line on ``side`` = -1 image left, +1 right,
        0 on the mid-line) and ``up`` (toward the forehead), in the face's axes."""
        return side * out * self.u - up * self.v


def side_of(points: Points) -> NDArray[np.float64]:
    """-1 for image-left points, +1 for image-right, 0 for points on the mid-line (their own mirror)."""
    sides = np.zeros(N_LANDMARKS)
    axes = FaceAxes.of(points)
    u = axes.to_local(points)[:, 0]
    for i, j in enumerate(MIRROR):
        if i != j:
            sides[i] = -1.0 if u[i] < u[j] else 1.0
    return sides
