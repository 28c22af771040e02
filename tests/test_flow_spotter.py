"""The training-free spotter: peaks of the region motion over an adaptive threshold, its gates, batching
independence, and the spotter file that names it. Test motion is written here, not by the measurer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from acquisition.errors import InputFileError
from inference.features.spec import FeatureSpec
from inference.features.video import VIDEO_FEATURE_NAMES
from inference.spotters import load_spotter
from inference.spotters.flow import FlowDetector

FPS = 150.0
SPEC = FeatureSpec()
N = round(20 * FPS)
EVENT_S = 12.0
COL = VIDEO_FEATURE_NAMES.index


def _features(regions: tuple[str, ...], *, head: float = 0.0, eye_dip: bool = False,
              mouth_swing: bool = False,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """20 s of quiet faces (flow noise, open eyes, closed mouth) with one 150 ms movement at EVENT_S."""
    rng = np.random.default_rng(seed)
    t = np.arange(N) / FPS
    features = np.zeros((N, len(VIDEO_FEATURE_NAMES)), np.float32)
    names = [n[:-3] for n in VIDEO_FEATURE_NAMES if n.endswith("_dx")]
    bump = np.exp(-0.5 * ((t - EVENT_S) / 0.05) ** 2)
    for name in names:
        dxy = rng.normal(0, 0.03, (N, 2))
        if name in regions:
            dxy[:, 1] -= 0.8 * bump
        features[:, COL(f"{name}_dx")] = dxy[:, 0]
        features[:, COL(f"{name}_dy")] = dxy[:, 1]
        features[:, COL(f"{name}_mag")] = np.hypot(*dxy.T)
    features[:, COL("head_mag")] = np.abs(rng.normal(0, 0.05, N)) + head * bump
    features[:, COL("head_fit_error")] = 0.02
    features[:, COL("eye_aperture")] = 0.3 - (0.25 * bump if eye_dip else 0)
    features[:, COL("mouth_aperture")] = 0.03 + (0.2 * bump if mouth_swing else 0)
    features[:, COL("face_present")] = 1.0
    features[1::2] = features[0::2][: len(features[1::2])]  # held between measured frames, as at 150 fps
    return features, t * 1000.0


def _run(features: np.ndarray, times: np.ndarray, block: int | None = None) -> tuple[list, FlowDetector]:
    detector = FlowDetector(SPEC, FPS)
    found = []
    block = block or len(features)
    for first in range(0, len(features), block):
        found += detector.push(features[first : first + block], times[first : first + block])
    return found + detector.finish(), detector


def test_a_movement_is_one_candidate_at_its_peak() -> None:
    found, detector = _run(*_features(("mouth_l", "mouth_r")))
    assert len(found) == 1, found
    assert found[0].apex_ms == pytest.approx(EVENT_S * 1000, abs=30)
    assert found[0].peak_score >= 1.0
    assert detector.stats.rejected == {"head": 0, "blink": 0, "speech": 0}


def test_batching_does_not_change_anything() -> None:
    features, times = _features(("brow_in_l",))
    whole, first = _run(features, times)
    for block in (1, 37, 600):
        parts, detector = _run(features, times, block)
        assert parts == whole
        np.testing.assert_array_equal(np.array(detector.trace), np.array(first.trace))


@pytest.mark.parametrize(("regions", "kwargs", "reason"), [
    (("mouth_l",), {"head": 5.0}, "head"),
    (("lid_up_l", "lid_up_r"), {"eye_dip": True}, "blink"),
    (("mouth_l", "mouth_r"), {"mouth_swing": True}, "speech"),
])
def test_head_jerks_blinks_and_speech_are_not_candidates(regions, kwargs, reason) -> None:
    found, detector = _run(*_features(regions, **kwargs))
    assert found == []
    assert detector.stats.rejected[reason] == 1


def test_a_lid_tightening_without_a_blink_is_kept() -> None:
    found, _ = _run(*_features(("lid_low_l", "lid_low_r")))
    assert len(found) == 1


def test_spotter_files(tmp_path: Path) -> None:
    good = tmp_path / "flow.json"
    good.write_text(json.dumps({"mespot.spotter": "flow", "threshold": 1.2,
                                "settings": {"threshold_mads": 6, "top_regions": 3}}))
    choice = load_spotter(good)
    spotter = choice.build(FPS)
    assert spotter.kind == "flow" and spotter.threshold == 1.2
    assert spotter.settings.threshold_mads == 6.0 and spotter.settings.top_regions == 3
    assert load_spotter("flow").build(FPS).threshold == 1.0
    for text, problem in ((json.dumps({"mespot.spotter": "other"}), "needs"),
                          (json.dumps({"mespot.spotter": "flow", "settings": {"bogus": 1}}), "bogus"),
                          (json.dumps({"mespot.spotter": "flow", "settings": {"top_regions": -1}}),
                           "positive"),
                          ("{", "not a JSON")):
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(InputFileError, match=problem):
            load_spotter(bad)
    with pytest.raises(InputFileError, match="no such"):
        load_spotter(tmp_path / "missing.json")
