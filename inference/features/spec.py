"""The feature specification: what a CMCL-Net model was trained on, carried in the model file.

Time is set in milliseconds so that any frame rate works: per-frame video features are resampled to
``video_steps`` points per window, the ECG to ``ecg_steps`` points. The runtime refuses a model whose spec
differs from the feature extraction it runs (see ``inference.runtime``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields

from inference.face.layout import REGIONS, layout_digest

FEATURE_SPEC_VERSION = 3


@dataclass(frozen=True)
class FeatureSpec:
    version: int = FEATURE_SPEC_VERSION
    # windows (the engine slides them by stride_ms; training samples them at stride_ms too)
    window_ms: float = 320.0  # an ME lasts <= 500 ms; its onset-apex <= 250 ms fits one window
    stride_ms: float = 40.0
    # video: dense optical flow on the landmark-aligned canonical face crop against a reference about half an
    # ME's rise earlier, pooled over AU regions placed on the landmarks (inference.face.layout)
    crop_px: int = 160
    # DIS optical flow (ultrafast preset): finest pyramid level 1 (patches on an 80x80 grid at 160 px: an
    # eye's blink does not spill over the brows and the nose as at level 2), patch stride and gradient-descent
    # iterations set for the best signal-to-noise of a sub-pixel local motion per millisecond (measured)
    flow_finest_scale: int = 1
    flow_patch_stride: int = 6
    flow_iterations: int = 8
    regions: tuple[str, ...] = tuple(REGIONS)
    layout_digest: str = field(default_factory=layout_digest)  # every geometry constant of the layout
    reference_ms: float = 120.0
    feature_rate_hz: float = 75.0  # motion is measured at most this often and held between (bounded cost)
    video_steps: int = 32  # points per window after resampling in time
    video_channels: int = 51  # len(inference.features.video.VIDEO_FEATURE_NAMES): 14 AU regions x 3 + 9
    # ECG: band-passed wave around the window, plus heart-rate-variability features
    ecg_pre_ms: float = 2000.0  # context before the window (the heart answers within seconds)
    ecg_post_ms: float = 300.0  # context after the window: short, it adds to the alert latency
    ecg_steps: int = 256  # the whole ECG span (pre + window + post) resampled to this many points
    hrv_window_s: float = 30.0  # trailing window of the HRV features
    hrv_features: tuple[str, ...] = (
        "rr_mean_s", "rr_std_s", "hr_mean_bpm", "hrv_sdsd_s", "hrv_rmssd_s", "hr_now_bpm",
        "hrs_now_bpm_s", "hrs_mean_bpm_s", "hrs_ratio",
    )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FeatureSpec:
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown feature spec field(s): {', '.join(sorted(unknown))}")
        for name in ("hrv_features", "regions"):
            if name in data:
                data[name] = tuple(data[name])
        return cls(**data)

    def differences(self, other: FeatureSpec) -> list[str]:
        """Human-readable list of the fields where two specs differ."""
        return [f"{f.name}: {getattr(self, f.name)!r} != {getattr(other, f.name)!r}"
                for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)]

    def frames(self, ms: float, fps: float) -> int:
        """Whole frames in ``ms`` at ``fps`` (at least 1)."""
        return max(1, round(ms * fps / 1000.0))

    def feature_step(self, fps: float) -> int:
        """Motion features are computed on every ``feature_step``-th frame (1 at video rates <= 1.5x
        ``feature_rate_hz``) and held on the frames between."""
        return max(1, round(fps / self.feature_rate_hz))

    def samples(self, ms: float, rate: float) -> int:
        return max(1, round(ms * rate / 1000.0))
