"""Facial motion features on landmark geometry: layout, face tracking (against the synthetic subject's own
landmarks), motion at MEs, head-motion compensation, flicker, face lost and found, measuring rate, windows."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from acquisition.readers.video import open_video
from acquisition.session import SessionReader
from app.cli import main
from inference.face.layout import REGIONS, layout_digest
from inference.features.spec import FeatureSpec
from inference.features.video import (
    VIDEO_FEATURE_NAMES,
    VideoFeatureExtractor,
    extract_session_features,
    hold_features,
    video_window,
)

DATA = Path(__file__).parent / "data"
REGION_MOTION = [VIDEO_FEATURE_NAMES.index(f"{r}_dx") for r in REGIONS]


def region_motion(features: np.ndarray) -> np.ndarray:
    """(n, regions): the length of each region's mean residual flow."""
    features = np.atleast_2d(features)
    return np.hypot(features[:, REGION_MOTION], features[:, [i + 1 for i in REGION_MOTION]])


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("video") / "s"
    assert main(["synth", "--minutes", "0.4", "--size", "960x540", "--face-px", "220", "--seed", "5",
                 "--face", "man", "--me-per-minute", "20", "--landmarks", "--out", str(out), "--quiet"]) == 0
    return out


def test_layout_matches_the_spec() -> None:
    spec = FeatureSpec()
    assert spec.video_channels == len(VIDEO_FEATURE_NAMES)
    assert len(set(VIDEO_FEATURE_NAMES)) == len(VIDEO_FEATURE_NAMES)
    assert spec.regions == tuple(REGIONS) and spec.layout_digest == layout_digest()
    assert FeatureSpec.from_json(spec.to_json()) == spec


def test_the_face_mesh_finds_the_face_the_subject_annotated(session: Path) -> None:
    """The tracked landmarks' extent matches the synthetic face's own 68-point annotation (made with another
    landmark model, dlib's, and moved with the face by the generator)."""
    reader = SessionReader(session)
    truth = np.load(session / "truth" / "landmarks.npy")  # (frames, 68, 2) in sensor pixels
    roi_x, roi_y = reader.metadata.video.roi[:2]
    extractor = VideoFeatureExtractor(reader.fps)
    for i in range(60):
        features = extractor.push(reader.frame(i))
    assert features[VIDEO_FEATURE_NAMES.index("face_present")] == 1
    x, _, w, _ = extractor.face_box
    points = truth[59] - (roi_x, roi_y)
    lo, hi = points.min(axis=0), points.max(axis=0)  # jaw, brows and chin: about the mesh's extent below
    assert abs((x + w / 2) - (lo[0] + hi[0]) / 2) < 0.1 * (hi[0] - lo[0])
    assert 0.85 < w / (hi[0] - lo[0]) < 1.25
    assert len(extractor.region_boxes()) == len(REGIONS)
    # the eyes and the mouth corners of the mesh lie on the annotated ones
    state = extractor.tracker.state
    for mesh_point, dlib_point in ((33, 36), (263, 45), (61, 48), (291, 54)):
        assert np.linalg.norm(state.points[mesh_point] - points[dlib_point]) < 0.08 * (hi[0] - lo[0])


def test_mes_move_more_than_quiet_stretches(session: Path) -> None:
    reader = SessionReader(session)
    features = extract_session_features(reader, reader.fps)
    motion = region_motion(features)
    busy = np.zeros(len(motion), bool)
    mes = []
    with (session / "truth" / "events.csv").open() as f:
        for row in csv.DictReader(f):
            if row["onset_s"] and row["offset_s"]:
                on = round(float(row["onset_s"]) * reader.fps)
                off = round(float(row["offset_s"]) * reader.fps)
                busy[max(on - 40, 0) : off + 40] = True
                amplitude = float(row["detail"].split("amp=")[1].split()[0]) if "amp=" in row["detail"] else 0
                if row["kind"] == "ME" and amplitude >= 0.8:
                    mes.append((on, off))
    assert len(mes) >= 2
    quiet = np.median(motion[~busy], axis=0)
    # during each ME some region moves several times its quiet level
    peaks = [np.max(motion[on : off + 20] / quiet) for on, off in mes]
    assert np.median(peaks) > 4, peaks


def test_head_motion_is_compensated(session: Path) -> None:
    reader = SessionReader(session)
    frame = np.array(reader.frame(0))
    extractor = VideoFeatureExtractor(reader.fps)
    lag = extractor.reference_lag
    for _ in range(lag):
        extractor.push(frame)
    shifted = cv2.warpAffine(frame, np.float32([[1, 0, 4], [0, 1, 2]]), frame.shape[::-1],
                             borderMode=cv2.BORDER_REPLICATE)
    features = extractor.push(shifted)
    head = features[VIDEO_FEATURE_NAMES.index("head_mag")]
    assert head > 1.0
    assert region_motion(features).mean() < 0.15 * head


def test_a_still_face_is_still(session: Path) -> None:
    """Only sensor noise: the tracker's landmarks jitter, but both crops of a flow are cut alike, so the
    regions stay at the flow's own noise."""
    reader = SessionReader(session)
    frame = np.array(reader.frame(0)).astype(np.float32)
    rng = np.random.default_rng(1)
    extractor = VideoFeatureExtractor(reader.fps)
    rows = [extractor.push(np.clip(frame + rng.normal(0, 2.0, frame.shape), 0, 255).astype(np.uint8))
            for _ in range(150)]
    measured = np.array(rows[40::2])
    assert np.median(region_motion(measured)) < 0.1  # crop px (the mesh's own jitter is about 0.12 px)
    assert np.median(measured[:, VIDEO_FEATURE_NAMES.index("head_mag")]) < 0.1


def test_flicker_is_not_motion(session: Path) -> None:
    reader = SessionReader(session)
    frame = np.array(reader.frame(0)).astype(np.float32)
    extractor = VideoFeatureExtractor(reader.fps)
    for k in range(extractor.reference_lag + 1):
        gain = 1.0 + 0.05 * (k % 2)
        features = extractor.push(np.clip(frame * gain, 0, 255).astype(np.uint8))
    assert region_motion(features).mean() < 0.1


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


def test_the_two_stages_in_two_threads_give_what_push_gives(session: Path) -> None:
    """The engine runs tracking and flow in two threads: the features must be the very ones of one thread,
    frame for frame, through the face's loss and return too (frames blanked in the middle)."""
    import queue
    import threading

    reader = SessionReader(session)
    frames = [reader.frame(i) for i in range(150)]
    frames[60:75] = [np.zeros_like(frames[0])] * 15  # the face lost, then found again
    one_thread = VideoFeatureExtractor(reader.fps)
    expected = np.array([one_thread.push(frame) for frame in frames])
    extractor = VideoFeatureExtractor(reader.fps)
    handover: queue.Queue = queue.Queue(8)  # small: the tracking stage waits for the flow stage
    got: list[np.ndarray] = []

    def flow() -> None:
        while (tracked := handover.get()) is not None:
            got.append(extractor.measure(tracked))

    worker = threading.Thread(target=flow)
    worker.start()
    for frame in frames:
        handover.put(extractor.track(frame))
    handover.put(None)
    worker.join()
    assert np.array_equal(np.array(got), expected)
    assert (expected[60:75, VIDEO_FEATURE_NAMES.index("face_present")] == 0).all()
    assert expected[-1, VIDEO_FEATURE_NAMES.index("face_present")] == 1
