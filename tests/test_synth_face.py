"""The synthetic face: bundled photos and their annotations, shape, AU motion, blinks, pose and lighting."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from hardware_mocks.synth.actions import ACTION_UNITS
from hardware_mocks.synth.face import FACES_DIR, Placement, face_catalog, face_names, load_face
from hardware_mocks.synth.landmarks import MIRROR, N_LANDMARKS, FaceAxes
from hardware_mocks.synth.pose import Pose
from hardware_mocks.synth.render import AU_ITERATIONS, FOLD_LIMIT, FaceRenderer
from hardware_mocks.synth.session import SynthConfig, plan_session
from hardware_mocks.synth.shape import shape_warp, vary_shape
from hardware_mocks.synth.timeline import TimelineProfile
from hardware_mocks.synth.variation import ShapeRanges, VariationProfile, draw_variation

FRAME = (640, 480)
FACE_PX = 280
NEUTRAL_SHAPE = {name: 1.0 for name in ShapeRanges.__dataclass_fields__}
FLOW_ARGS = (None, 0.5, 3, 9, 5, 5, 1.1, 0)  # Farneback: pyramid scale, levels, window, iterations, poly


def renderer(name: str = "man", face_px: float = FACE_PX, shape: dict | None = None) -> FaceRenderer:
    face = load_face(name)
    placement = Placement.for_face(face, FRAME, FACE_PX, 1.8)
    return FaceRenderer(face, shape or NEUTRAL_SHAPE, face_px, placement.roi, placement.face_center)


@pytest.fixture(scope="module")
def man() -> FaceRenderer:
    return renderer()


def test_every_bundled_face_is_listed_with_68_points_inside_its_photo() -> None:
    names = face_names()
    assert {"astronaut", "man", "woman", "grace_hopper", "man2"} <= set(names)
    for name in names:
        entry = face_catalog()[name]
        assert entry["source"] and entry["licence"] and (FACES_DIR / entry["file"]).exists()
        record = json.loads((FACES_DIR / entry["landmarks"]).read_text())
        assert record["scheme"] == "ibug-68"
        face = load_face(name)
        h, w = face.image.shape
        assert face.image.dtype == np.float32 and record["size"] == [w, h]
        points = face.landmarks
        assert points.shape == (N_LANDMARKS, 2)
        assert np.all((points >= 0) & (points < (w, h)))
        axes = FaceAxes.of(points)
        local = axes.to_local(points)
        assert local[8, 1] > local[30, 1] > local[27, 1] > local[19, 1]  # chin below nose below brows
        assert local[36, 0] < local[39, 0] < local[42, 0] < local[45, 0]  # eyes left to right
        assert axes.width >= 85  # a usable face (astronaut: the source's own resolution)
        x, y, bw, bh = face.face_box
        assert x >= 0 and y >= 0 and x + bw <= w and y + bh <= h


def test_mirror_map_is_an_involution() -> None:
    assert len(MIRROR) == N_LANDMARKS
    assert all(MIRROR[MIRROR[i]] == i for i in range(N_LANDMARKS))


@pytest.mark.parametrize("name", ["man", "grace_hopper", "woman2"])
def test_shape_warp_moves_the_landmarks_and_stays_tame(name: str) -> None:
    face = load_face(name)
    shape = {**NEUTRAL_SHAPE, "face_width": 1.08, "eye_spacing": 0.92, "mouth_width": 1.1, "nose_length": 1.1}
    moved = vary_shape(face.landmarks, shape)
    before, after = FaceAxes.of(face.landmarks), FaceAxes.of(moved)
    assert after.width == pytest.approx(1.08 * before.width, rel=0.03)
    mouth = lambda p: np.linalg.norm(p[54] - p[48])  # noqa: E731
    assert mouth(moved) / mouth(face.landmarks) == pytest.approx(1.1 * 1.08, rel=0.05)
    warp = shape_warp(face.landmarks, moved, face.image.shape[::-1], shape)
    np.testing.assert_allclose(warp(moved), face.landmarks, atol=0.05)
    h, w = face.image.shape
    ys, xs = np.mgrid[0:h:8, 0:w:8]
    mapped = warp(np.column_stack([xs.ravel(), ys.ravel()]).astype(float))
    grid = np.column_stack([xs.ravel(), ys.ravel()])
    assert np.all(np.isfinite(mapped)) and np.abs(mapped - grid).max() < 0.1 * w


# (AU, landmark, expected direction in the face's axes: (out, up) signs; 0 = don't care)
AU_DIRECTIONS = [
    ("AU1", 21, (0, 1)), ("AU2", 17, (0, 1)), ("AU4", 21, (-1, -1)), ("AU6", 41, (0, 1)),
    ("AU7", 41, (0, 1)), ("AU9", 31, (0, 1)), ("AU10", 50, (0, 1)), ("AU12", 48, (1, 1)),
    ("AU14", 48, (-1, 0)), ("AU15", 48, (0, -1)), ("AU17", 8, (0, 1)),
]


@pytest.mark.parametrize(("au", "index", "direction"), AU_DIRECTIONS)
def test_action_units_move_their_landmarks_the_muscle_way(man: FaceRenderer, au: str, index: int,
                                                          direction: tuple[int, int]) -> None:
    axes = FaceAxes.of(man.landmarks)
    moves = man.actions[au].landmarks
    assert np.max(np.linalg.norm(moves, axis=1)) == pytest.approx(1.0)
    for i in (index, MIRROR[index]):
        local = axes.to_local(man.landmarks[i] + moves[i]) - axes.to_local(man.landmarks[i])
        side = np.sign(axes.to_local(man.landmarks[i])[0] - axes.to_local(man.landmarks[MIRROR[i]])[0])
        out, up = side * local[0], -local[1]
        assert np.hypot(out, up) > 0.3, f"{au} barely moves landmark {i}"
        if direction[0]:
            assert np.sign(out) == direction[0], f"{au} landmark {i} sideways"
        if direction[1]:
            assert np.sign(up) == direction[1], f"{au} landmark {i} vertically"
    moving = man.landmarks[np.linalg.norm(moves, axis=1) > 0.2]
    distance = np.linalg.norm(man.landmarks[:, None] - moving[None], axis=2).min(axis=1)
    assert np.all(np.linalg.norm(moves[distance > 0.4 * man.face_px], axis=1) < 0.05)  # a local falloff


def test_inner_brow_moves_more_than_the_mid_brow_for_au1(man: FaceRenderer) -> None:
    moves = np.linalg.norm(man.actions["AU1"].landmarks, axis=1)
    assert moves[21] > moves[19] > moves[17]


def test_rendered_au12_flows_up_and_out_at_the_mouth_corners(man: FaceRenderer) -> None:
    """Optical flow (Farneback) from the neutral frame to the apex of an AU12 ME of 2 px."""
    amplitude = 2.0
    neutral = man.render(Pose(), {})
    apex = man.render(Pose(), {"AU12": amplitude})
    flow = cv2.calcOpticalFlowFarneback(neutral.astype(np.uint8), apex.astype(np.uint8), *FLOW_ARGS)
    corners = man.landmarks_at(Pose(), {}) - man.region[:2]
    for index, outward in ((48, -1), (54, 1)):
        x, y = np.round(corners[index]).astype(int)
        dx, dy = flow[y - 4 : y + 5, x - 4 : x + 5].reshape(-1, 2).mean(axis=0)
        assert dy < -0.3 * amplitude, "up"
        assert np.sign(dx) == outward, "outward"
    magnitude = np.hypot(flow[..., 0], flow[..., 1])
    assert 0.5 * amplitude < np.percentile(magnitude, 99.9) < 1.5 * amplitude
    truth = man.landmarks_at(Pose(), {"AU12": amplitude}) - man.landmarks_at(Pose(), {})
    assert np.max(np.linalg.norm(truth, axis=1)) == pytest.approx(amplitude, rel=0.01)


def test_a_blink_brings_the_upper_lid_onto_the_lower_lid(man: FaceRenderer) -> None:
    closed = man.landmarks_at(Pose(), {}, closure=1.0)
    np.testing.assert_allclose(closed[[37, 38, 43, 44]], closed[[41, 40, 47, 46]], atol=1.5)
    open_eye, shut = man.render(Pose(), {}), man.render(Pose(), {}, closure=1.0)
    points = man.landmarks_at(Pose(), {}) - man.region[:2]
    x0, y0 = points[36:42].min(axis=0).astype(int)
    x1, y1 = points[36:42].max(axis=0).astype(int)
    eye = (slice(y0, y1 + 1), slice(x0, x1 + 1))
    assert np.abs(shut[eye] - open_eye[eye]).mean() > 8  # the iris and sclera are covered
    below = (slice(y1 + 8, y1 + 24), slice(x0, x1 + 1))
    assert np.abs(shut[below] - open_eye[below]).max() < 1  # the cheek does not move


def test_yaw_turns_the_nose_more_than_the_ears(man: FaceRenderer) -> None:
    still, turned = man.landmarks_at(Pose(), {}), man.landmarks_at(Pose(yaw=15.0), {})
    shift = turned[:, 0] - still[:, 0]
    assert abs(shift[30]) > abs(shift[0]) + 3  # depth: the nose tip swings further than the jaw
    image = man.render(Pose(yaw=15.0), {})
    assert np.all(np.isfinite(image)) and image.std() > 10


def test_pose_ranges_are_respected() -> None:
    profile = VariationProfile()
    for seed in range(12):
        plan = plan_session(SynthConfig(out=".", minutes=2.0, seed=seed, fps=30.0))
        poses = plan.poses
        assert np.abs(poses.yaw).max() <= profile.pose.max_yaw_deg + 1e-6
        assert np.abs(poses.pitch).max() <= profile.pose.max_pitch_deg + 1e-6
        assert np.abs(poses.roll).max() <= profile.pose.max_roll_deg + 1e-6
        shift = np.hypot(poses.tx, poses.ty) / plan.variation.face_px
        assert shift.max() <= profile.pose.max_translation + 1e-6
        for move in plan.timeline.head_moves:
            assert 0.1 - 1e-9 <= move.offset_s - move.onset_s <= 0.3 + 1e-9
        assert np.ptp(poses.yaw) > 1.0  # the head does move
    wide = VariationProfile().scaled(1.5)
    assert wide.pose.max_yaw_deg == pytest.approx(22.5)
    assert wide.face_px_scale[0] < profile.face_px_scale[0] < profile.face_px_scale[1] < wide.face_px_scale[1]


def test_sessions_differ_in_shape_distance_and_lighting() -> None:
    draws = [draw_variation(np.random.default_rng(s), VariationProfile(), "man", FACE_PX) for s in range(8)]
    assert len({round(d.face_px) for d in draws}) > 4
    assert all(0.85 * FACE_PX <= d.face_px <= 1.15 * FACE_PX for d in draws)
    for key in ("gradient", "gain", "gamma", "noise_sd"):
        values = [getattr(d.lighting, key) for d in draws]
        assert np.std(values) > 0, key
    assert np.std([d.shape["eye_spacing"] for d in draws]) > 0.01
    still = draw_variation(np.random.default_rng(0), VariationProfile.still(), "man", FACE_PX)
    assert still.face_px == FACE_PX and still.lighting.noise_sd == 0 and still.pose.yaw_drift_deg == 0
    assert set(still.shape.values()) == {1.0} and still.heart_rate_bpm > 40


def test_distance_changes_the_face_size(man: FaceRenderer) -> None:
    small = renderer(face_px=0.85 * FACE_PX)
    width = lambda r: np.ptp(r.landmarks_at(Pose(), {})[:, 0])  # noqa: E731
    assert width(small) == pytest.approx(0.85 * width(man), rel=0.01)


def test_rendering_one_frame_is_fast(man: FaceRenderer) -> None:
    import time

    pose = Pose(yaw=5.0, pitch=-3.0, roll=2.0, tx=3.0, ty=-2.0, scale=1.01)
    man.render(pose, {"AU4": 1.0})
    start = time.perf_counter()
    for _ in range(50):
        man.render(pose, {"AU4": 1.0, "AU7": 0.5})
    assert (time.perf_counter() - start) / 50 < 0.010  # generous: CI machines are shared


def test_timeline_profile_defaults_are_mecg_like() -> None:
    profile = TimelineProfile()
    assert profile.onset_offset_quartiles_s == (0.38, 0.54, 0.92)
    modelled = {"AU1", "AU2", "AU4", "AU6", "AU7", "AU9", "AU10", "AU12", "AU14", "AU15", "AU17"}
    assert set(ACTION_UNITS) >= modelled


def test_the_largest_allowed_motion_is_rendered_where_the_truth_says(man: FaceRenderer) -> None:
    """At the fold limit (the cap on macro amplitudes), inverting each AU's field still converges."""
    x, y = man.head_points(Pose())
    for au, strain in man.strain.items():
        amplitude = FOLD_LIMIT / strain
        field = man._action_field({au: amplitude})
        px, py = x, y
        for _ in range(AU_ITERATIONS):
            moved = man.face_grid.sample(field, px, py)
            px, py = x - moved[..., 0], y - moved[..., 1]
        moved = man.face_grid.sample(field, px, py)
        residual = np.hypot(px + moved[..., 0] - x, py + moved[..., 1] - y).max()
        assert residual < 0.05 * amplitude, (au, amplitude, residual)
