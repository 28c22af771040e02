"""Facial motion features: layout, face tracking, motion at MEs, head-motion compensation, windows."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from acquisition.readers.annotations import read_megc_csv
from acquisition.readers.video import open_video
from acquisition.session import SessionReader
from app.cli import main
from hardware_mocks.synth.face import Placement, load_face
from inference.features.spec import FeatureSpec
from inference.features.video import (
    VIDEO_FEATURE_NAMES,
    VideoFeatureExtractor,
    extract_session_features,
    hold_features,
    video_window,
)
from inference.spotting import motion_profile

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("video") / "s"
    assert main(["synth", "--minutes", "0.3", "--size", "640x360", "--face-px", "140", "--seed", "5",
                 "--face", "man", "--me-per-minute", "20", "--out", str(out), "--quiet"]) == 0
    return out


def test_layout_matches_the_spec() -> None:
    assert FeatureSpec().video_channels == len(VIDEO_FEATURE_NAMES)
    assert len(set(VIDEO_FEATURE_NAMES)) == len(VIDEO_FEATURE_NAMES)


def test_face_is_found_where_the_synthetic_face_is(session: Path) -> None:
    reader = SessionReader(session)
    extractor = VideoFeatureExtractor(reader.fps)
    features = np.stack([extractor.push(reader.frame(i)) for i in range(40)])
    assert features.shape == (40, len(VIDEO_FEATURE_NAMES)) and features.dtype == np.float32
    assert features[:, VIDEO_FEATURE_NAMES.index("face_present")].all()
    placement = Placement.for_face(load_face("man"), (640, 360), 140, 1.8)
    roi_x, roi_y = reader.metadata.video.roi[:2]
    x, y, w, h = extractor.face_box
    cx, cy = placement.face_center
    assert abs(x + w / 2 + roi_x - cx) < 0.15 * 140 and abs(y + h / 2 + roi_y - cy) < 0.15 * 140
    assert 0.7 * 140 < w < 1.3 * 140
    assert len(extractor.region_boxes()) == 14


def test_mes_move_more_than_quiet_stretches(session: Path) -> None:
    reader = SessionReader(session)
    features = extract_session_features(reader, reader.fps)
    profile = motion_profile(features)
    truth = [t for t in read_megc_csv(reader.truth_megc_path) if t.kind == "ME"]
    assert len(truth) >= 3
    busy = np.zeros(len(profile), bool)
    events = (session / "truth" / "events.csv").read_text().splitlines()[1:]
    for line in events:
        _, onset, _, offset, _ = line.split(",", 4)
        if onset and offset:
            busy[int(float(onset) * reader.fps) - 30 : int(float(offset) * reader.fps) + 30] = True
    quiet = np.median(profile[~busy])
    peaks = [profile[t.onset : t.offset + 20].max() for t in truth]
    assert np.median(peaks) > 2 * quiet, (peaks, quiet)


def test_head_motion_is_compensated(session: Path) -> None:
    reader = SessionReader(session)
    frame = np.array(reader.frame(0))
    extractor = VideoFeatureExtractor(reader.fps)
    lag = extractor.reference_lag
    shifted = cv2.warpAffine(frame, np.float32([[1, 0, 6], [0, 1, 3]]), frame.shape[::-1],
                             borderMode=cv2.BORDER_REPLICATE)
    for _ in range(lag):
        extractor.push(frame)
    features = extractor.push(shifted)
    head = features[VIDEO_FEATURE_NAMES.index("head_mag")]
    regions = motion_profile(features[None])[0] / 14
    assert head > 0.5
    assert regions < 0.5 * head


def test_flicker_is_not_motion(session: Path) -> None:
    reader = SessionReader(session)
    frame = np.array(reader.frame(0)).astype(np.float32)
    extractor = VideoFeatureExtractor(reader.fps)
    for k in range(extractor.reference_lag + 1):
        gain = 1.0 + 0.05 * (k % 2)
        features = extractor.push(np.clip(frame * gain, 0, 255).astype(np.uint8))
    assert motion_profile(features[None])[0] / 14 < 0.2


def test_face_lost_and_found_again() -> None:
    video = open_video(DATA / "video" / "face_noface.mov")
    extractor = VideoFeatureExtractor(video.fps)
    present = np.array([extractor.push(f)[VIDEO_FEATURE_NAMES.index("face_present")] for f in video])
    video.close()
    assert present[:20].all()
    assert not present.all()  # the face leaves the frame
    lost = np.flatnonzero(present == 0)
    assert lost[0] > 20


def test_measured_every_other_frame_at_150_fps_and_held_between(session: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    reader = SessionReader(session)
    frames = reader.frames(0, 120)
    every_frame = VideoFeatureExtractor(reader.fps, replace(FeatureSpec(), feature_rate_hz=1000.0))
    limited = VideoFeatureExtractor(reader.fps)
    assert (every_frame.step, limited.step) == (1, 2)
    assert VideoFeatureExtractor(30.0).step == 1  # video-file rates are measured on every frame
    measured = [every_frame.push(f) for f in frames]
    flows = []
    real_calc = limited._flow.calc
    monkeypatch.setattr(limited, "_flow", type("Flow", (), {"calc": lambda _, *a: flows.append(1) or
                                                            real_calc(*a)})())
    held = np.stack([limited.push(f) for f in frames])
    # the offline twin turns features measured on every frame into exactly what the live extractor gives
    np.testing.assert_array_equal(held, hold_features(np.stack(measured), reader.fps, FeatureSpec()))
    np.testing.assert_array_equal(held[1::2], held[0::2])
    assert np.abs(held[40::2] - np.stack(measured)[40::2]).max() == 0  # measured frames are untouched
    assert len(flows) == (120 - every_frame.reference_lag) // 2  # half the optical flow work
    np.testing.assert_array_equal(hold_features(held, reader.fps, FeatureSpec()), held)  # idempotent


def test_window_resampling_is_rate_independent() -> None:
    spec = FeatureSpec()
    channels = len(VIDEO_FEATURE_NAMES)

    def features(fps: float) -> tuple[np.ndarray, np.ndarray]:
        times = np.arange(0, 1000, 1000 / fps)
        values = np.repeat(np.sin(times / 100.0)[:, None], channels, axis=1).astype(np.float32)
        return values, times

    windows = [video_window(*features(fps), 200.0, spec) for fps in (150.0, 30.0)]
    assert windows[0].shape == windows[1].shape == (spec.video_steps, channels)
    assert np.max(np.abs(windows[0] - windows[1])) < 0.1
    outside = video_window(*features(150.0), 900.0, spec)
    assert np.all(outside[-5:] == 0)
