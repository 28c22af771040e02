"""Measured extent: the displacement rebuilt from lagged flows, phases read off it, ME vs macro by the
measured durations, duplicates. Test motion is written here from analytic envelopes, not by the measurer."""

from __future__ import annotations

import numpy as np
import pytest

from inference.extent import EXTENT, Extent, chain_displacement, is_duplicate, measure_extent
from inference.face.layout import REGIONS
from inference.features.video import VIDEO_FEATURE_NAMES
from tests.motion import FPS, LAG, LAG_MS, envelope, features_for


def test_chaining_lagged_flows_gives_back_the_displacement() -> None:
    t = np.arange(600) / FPS
    d = np.stack([0.7 * envelope(t, 1.0, 1.3, 1.7), -1.2 * envelope(t, 1.0, 1.3, 1.7)], axis=1)
    delta = d - np.vstack([np.zeros((LAG, 2)), d[:-LAG]])
    np.testing.assert_allclose(chain_displacement(delta, LAG), d, atol=1e-12)


@pytest.mark.parametrize(("onset", "apex", "offset"), [(2.0, 2.2, 2.45), (2.0, 2.35, 2.9), (2.0, 2.15, 2.8)])
def test_phases_are_read_off_the_motion(onset: float, apex: float, offset: float) -> None:
    n = 900
    t = np.arange(n) / FPS
    shape = envelope(t, onset, apex, offset)
    motion = {"mouth_l": np.stack([-0.5 * shape, -0.6 * shape], 1), "mouth_r": np.stack([0.5 * shape,
                                                                                          -0.6 * shape], 1)}
    features = features_for(motion, n, noise=0.01)
    estimate = (apex + 0.1) * 1000  # the spotter's estimate is off by 100 ms
    extent = measure_extent(features, t * 1000, estimate, LAG_MS)
    assert extent is not None
    assert extent.apex_ms == pytest.approx(apex * 1000, abs=40)  # a flat top: noise moves the peak a little
    # the onset and offset lie where the motion leaves and regains rest (a tenth and a fifth of the peak)
    rise = t[(t < apex) & (shape <= EXTENT.onset_fraction)][-1] * 1000
    fall = t[(t > apex) & (shape <= EXTENT.offset_fraction)][0] * 1000
    assert extent.onset_ms == pytest.approx(rise, abs=30)
    assert extent.offset_ms == pytest.approx(fall, abs=30)
    assert set(extent.regions) == {"mouth_l", "mouth_r"}
    assert extent.amplitude == pytest.approx(np.hypot(0.5, 0.6), rel=0.1)


def test_me_or_macro_by_the_measured_durations() -> None:
    n = 1200
    t = np.arange(n) / FPS

    def kind(onset: float, apex: float, offset: float) -> str:
        shape = envelope(t, onset, apex, offset)
        features = features_for({"brow_in_l": np.stack([0 * shape, shape], 1)}, n)
        extent = measure_extent(features, t * 1000, apex * 1000, LAG_MS)
        assert extent is not None
        return extent.kind

    assert kind(2.0, 2.2, 2.4) == "ME"  # short
    assert kind(2.0, 2.15, 3.0) == "ME"  # long, but a quick onset-apex
    assert kind(2.0, 2.6, 3.4) == "macro"  # slow and long


def test_no_motion_or_no_frames_is_no_extent() -> None:
    t = np.arange(300) / FPS * 1000
    assert measure_extent(np.zeros((300, len(VIDEO_FEATURE_NAMES)), np.float32), t, 1000.0, LAG_MS) is None
    assert measure_extent(np.zeros((0, len(VIDEO_FEATURE_NAMES)), np.float32), t[:0], 1000.0, LAG_MS) is None


def test_duplicates() -> None:
    def extent(onset: float, apex: float, offset: float) -> Extent:
        return Extent(0, 0, 0, onset, apex, offset, 1.0, tuple(REGIONS)[:1])

    first = extent(1000, 1200, 1500)
    assert is_duplicate(extent(1100, 1250, 1600), [first])  # the apex inside the earlier one
    assert not is_duplicate(extent(1600, 1800, 2000), [first])
    assert not is_duplicate(first, [])
