"""Motion written for the tests from analytic envelopes (never by the code that measures it): per-frame
feature rows whose region flows are the lagged differences of given displacements."""

from __future__ import annotations

import numpy as np

from inference.features.video import VIDEO_FEATURE_NAMES

FPS = 150.0
LAG_MS = 120.0
LAG = round(LAG_MS * FPS / 1000)


def envelope(t: np.ndarray, onset: float, apex: float, offset: float) -> np.ndarray:
    """0 -> 1 -> 0: raised cosines from onset to apex and apex to offset (seconds)."""
    out = np.zeros_like(t)
    rise = (t >= onset) & (t < apex)
    out[rise] = 0.5 - 0.5 * np.cos(np.pi * (t[rise] - onset) / (apex - onset))
    fall = (t >= apex) & (t <= offset)
    out[fall] = 0.5 + 0.5 * np.cos(np.pi * (t[fall] - apex) / (offset - apex))
    return out


def features_for(displacement: dict[str, np.ndarray], n: int, noise: float = 0.0, seed: int = 0
                 ) -> np.ndarray:
    """Per-frame features whose region flows are ``D(t) - D(t - lag)`` of the given (n, 2) displacements."""
    rng = np.random.default_rng(seed)
    features = np.zeros((n, len(VIDEO_FEATURE_NAMES)), np.float32)
    for name, d in displacement.items():
        lagged = np.vstack([np.zeros((LAG, 2)), d[:-LAG]])
        delta = d - lagged + rng.normal(0, noise, d.shape)
        i = VIDEO_FEATURE_NAMES.index(f"{name}_dx")
        features[:, i : i + 2] = delta
        features[:, i + 2] = np.hypot(*delta.T)
    features[:, VIDEO_FEATURE_NAMES.index("face_present")] = 1
    return features


