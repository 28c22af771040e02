"""`mespot synth`: frame and sample counts, trigger pulses, ground truth, ECG realism, determinism."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
from pathlib import Path

import neurokit2 as nk
import numpy as np
import pytest

from acquisition.readers.annotations import (
    ME_MAX_DURATION_S,
    ME_MAX_ONSET_TO_APEX_S,
    read_mecg_coding,
    read_megc_csv,
)
from acquisition.readers.video import frame_name
from acquisition.session import SessionReader
from app.cli import main
from hardware_mocks.synth.session import SynthConfig, plan_session

SMALL = ["--size", "480x270", "--face-px", "96", "--quiet"]


@pytest.fixture(scope="module")
def minute_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The issue's `mespot synth --minutes 1 --seed 7`, at a small frame size to keep the test quick."""
    out = tmp_path_factory.mktemp("synth") / "S"
    assert main(["synth", "--minutes", "1", "--seed", "7", "--out", str(out), *SMALL]) == 0
    return out


def rising_edges(trigger: np.ndarray, threshold: float) -> np.ndarray:
    high = trigger > threshold
    edges = np.flatnonzero(high[1:] & ~high[:-1]) + 1
    return np.r_[[0], edges] if high[0] else edges


def test_counts_and_trigger(minute_session: Path) -> None:
    reader = SessionReader(minute_session)
    meta = reader.metadata
    assert meta.closed and meta.source == "synthetic"
    assert abs(len(reader) - 150 * 60) <= 1
    assert abs(reader.ecg_sample_count - 60_000) <= 1
    assert meta.video.resolution == (480, 270) and meta.video.roi is not None
    edges = rising_edges(np.asarray(reader.trigger_channel()), meta.trigger.threshold)
    assert len(edges) == len(reader), "one trigger pulse per frame"
    np.testing.assert_array_equal(edges, reader.frame_samples())
    np.testing.assert_array_equal(reader.index["trigger_pulse"], np.arange(len(reader)))


def test_ground_truth(minute_session: Path) -> None:
    reader = SessionReader(minute_session)
    assert reader.truth_megc_path is not None and reader.truth_coding_path is not None
    truth = read_megc_csv(reader.truth_megc_path)
    micro = [iv for iv in truth if iv.kind == "ME"]
    assert len(micro) >= 5
    assert any(iv.kind == "macro" for iv in truth)
    fps = reader.fps
    for iv in truth:  # the MEGC rule: ME when onset-offset <= 0.5 s or onset-apex <= 0.25 s
        assert iv.apex is not None and iv.onset <= iv.apex <= iv.offset
        short = (iv.offset - iv.onset) / fps <= ME_MAX_DURATION_S + 1 / fps
        quick = (iv.apex - iv.onset) / fps <= ME_MAX_ONSET_TO_APEX_S + 1 / fps
        assert (iv.kind == "ME") == (short or quick), iv
    # no two ground-truth intervals overlap
    spans = sorted((iv.onset, iv.offset) for iv in truth)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(spans))
    # the MECG coding file says the same thing in its own columns
    # times have two decimals (as in the lab's file): within a frame of the truth
    coding = read_mecg_coding(reader.truth_coding_path, fps=fps)
    assert [c.kind for c in coding] == [t.kind for t in truth]
    for c, t in zip(coding, truth, strict=True):
        assert abs(c.onset - t.onset) <= 1 and abs(c.offset - t.offset) <= 1
    # the wall-clock frame names give the exact frames
    start = dt.datetime.fromisoformat(reader.metadata.wall_clock_start)
    midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
    names = [frame_name((start - midnight).total_seconds() + k / fps) for k in range(len(reader))]
    exact = read_mecg_coding(reader.truth_coding_path, fps=fps, frame_names=names)
    assert [(c.onset, c.apex, c.offset) for c in exact] == [(t.onset, t.apex, t.offset) for t in truth]


def test_faces_move_at_expressions(minute_session: Path) -> None:
    """The face region changes more between onset and apex of an expression than between still frames."""
    reader = SessionReader(minute_session)
    truth = read_megc_csv(reader.truth_megc_path)
    macro = next(iv for iv in truth if iv.kind == "macro")
    moved = np.abs(reader.frame(macro.apex).astype(float) - reader.frame(macro.onset).astype(float))
    frame_noise = np.abs(reader.frame(1).astype(float) - reader.frame(0).astype(float))
    assert moved.max() > 4 * np.percentile(frame_noise, 99)


def test_ecg_is_physiological(minute_session: Path) -> None:
    reader = SessionReader(minute_session)
    ecg = np.asarray(reader.ecg_channel("ECG"))
    _, info = nk.ecg_peaks(nk.ecg_clean(ecg, sampling_rate=1000), sampling_rate=1000)
    rr = np.diff(info["ECG_R_Peaks"]) / 1000
    heart_rate = 60 / rr
    assert 50 <= np.median(heart_rate) <= 100
    assert heart_rate.min() > 40 and heart_rate.max() < 140
    assert len(info["ECG_R_Peaks"]) >= 50


def test_heart_rate_rises_after_responding_mes(minute_session: Path) -> None:
    """Beat-to-beat rate (neurokit2's R-peaks): higher 2-4 s after a responding ME's onset than before."""
    reader = SessionReader(minute_session)
    ecg = np.asarray(reader.ecg_channel("ECG"))
    _, info = nk.ecg_peaks(nk.ecg_clean(ecg, sampling_rate=1000), sampling_rate=1000)
    peaks = np.asarray(info["ECG_R_Peaks"])
    times, bpm = peaks[1:] / 1000, 60_000 / np.diff(peaks)
    events = (minute_session / "truth" / "events.csv").read_text().splitlines()
    onsets = [float(line.split(",")[1]) for line in events
              if line.startswith("ME,") and "hr_response=1" in line]
    assert len(onsets) >= 3
    rises = [bpm[(times > t + 2) & (times < t + 4)].mean() - bpm[(times > t - 1.5) & (times <= t)].mean()
             for t in onsets if t + 4 < times[-1]]
    assert np.median(rises) > 1.0, rises


def test_variation_is_recorded(minute_session: Path) -> None:
    reader = SessionReader(minute_session)
    devices = reader.metadata.devices
    variation = json.loads((minute_session / "truth" / "variation.json").read_text())
    assert variation["face"] == devices["face"] and variation["nominal_face_px"] == 96
    assert abs(variation["face_px"] - devices["face_px"]) < 0.1
    assert set(variation["shape"]) >= {"face_width", "eye_spacing", "nose_length", "mouth_width", "jaw_width"}
    assert {"gradient", "gain", "gamma", "noise_sd"} <= set(variation["lighting"])
    rows = (minute_session / "truth" / "events.csv").read_text().splitlines()
    assert rows[0] == "kind,onset_s,apex_s,offset_s,detail"
    kinds = {row.split(",")[0] for row in rows[1:]}
    assert kinds <= {"ME", "macro", "blink", "head_move", "hr_response"}
    assert {"ME", "macro", "blink", "hr_response"} <= kinds


def test_truth_landmarks_follow_the_face(tmp_path: Path) -> None:
    out = tmp_path / "lm"
    assert main(["synth", "--minutes", "0.05", "--seed", "2", "--landmarks", "--out", str(out), *SMALL]) == 0
    reader = SessionReader(out)
    landmarks = np.load(out / "truth" / "landmarks.npy")
    assert landmarks.shape == (len(reader), 68, 2)
    roi_x, roi_y, w, h = reader.metadata.video.roi
    local = landmarks - (roi_x, roi_y)
    assert np.all((local > 0) & (local < (w, h)))
    plan = plan_session(SynthConfig(out=out, minutes=0.05, seed=2, frame_size=(480, 270), face_px=96))
    width = np.ptp(landmarks[0, :, 0])
    assert abs(width - plan.variation.face_px) < 0.2 * plan.variation.face_px


def _digest(path: Path) -> str:
    reader = SessionReader(path)
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(reader.frames(0, len(reader))).tobytes())
    h.update(np.ascontiguousarray(reader.ecg).tobytes())
    h.update((path / "truth" / "megc.csv").read_bytes())
    return h.hexdigest()


def test_deterministic_by_seed(tmp_path: Path) -> None:
    args = ["synth", "--minutes", "0.05", *SMALL]
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        assert main([*args, "--seed", str(seed), "--out", str(tmp_path / name)]) == 0
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_full_frame_and_other_fps(tmp_path: Path) -> None:
    out = tmp_path / "full"
    assert main(["synth", "--minutes", "0.02", "--fps", "30", "--full-frame", "--out", str(out), *SMALL]) == 0
    reader = SessionReader(out)
    assert reader.metadata.video.roi is None
    assert reader.frame_shape == (270, 480)
    assert abs(len(reader) - 30 * 0.02 * 60) <= 1


def test_cli_prints_summary_and_refuses_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "s"
    assert main(["synth", "--minutes", "0.02", "--seed", "1", "--out", str(out), *SMALL]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == len(SessionReader(out))
    assert summary["face"] in ("astronaut", "grace_hopper", "man", "man2", "woman", "woman2")
    assert main(["synth", "--minutes", "0.02", "--out", str(out), *SMALL]) == 2  # not empty, no --overwrite
    assert "--overwrite" in capsys.readouterr().err
    bad = [
        (["--minutes", "-1"], "--minutes"),
        (["--face-px", "500"], "--face-px"),
        (["--variation-scale", "-0.5"], "--variation-scale"),
        (["--hr-response-fraction", "1.5"], "--hr-response-fraction"),
        (["--blinks-per-minute", "-1"], "--blinks-per-minute"),
        (["--roi-scale", "0"], "--roi-scale"),
    ]
    for k, (options, name) in enumerate(bad):
        assert main(["synth", "--out", str(tmp_path / f"x{k}"), *SMALL, *options]) == 2, options
        err = capsys.readouterr().err
        assert name in err and len(err.strip().splitlines()) == 1, err


def test_still_and_wide_variation(tmp_path: Path) -> None:
    for name, options in (("still", ["--still"]), ("wide", ["--variation-scale", "1.5"])):
        out = tmp_path / name
        assert main(["synth", "--minutes", "0.02", "--seed", "4", "--out", str(out), *SMALL, *options]) == 0
    still = json.loads((tmp_path / "still" / "truth" / "variation.json").read_text())
    assert still["lighting"]["noise_sd"] == 0 and still["face_px"] == 96
    assert set(still["shape"].values()) == {1.0}
