"""Synchronized acquisition end to end: the same driver code against the mock lab (xiapipy API, NDT over
XML-RPC + TCP, a trigger box on a pseudo-terminal), recorder on."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from acquisition.session import FRAME_INDEX_DTYPE, SessionReader, SessionWriter
from app.cli import main

DATA = Path(__file__).parent / "data"
SMALL = ["--size", "480x270", "--face-px", "96", "--quiet"]


@pytest.fixture(scope="module")
def source_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("acq") / "source"
    assert main(["synth", "--minutes", "0.05", "--seed", "11", "--out", str(out), *SMALL]) == 0
    return out


def digest(path: Path) -> dict[str, str]:
    reader = SessionReader(path)
    frames = np.ascontiguousarray(reader.frames(0, len(reader)))
    return {
        "frames": hashlib.sha256(frames.tobytes()).hexdigest(),
        "ecg": hashlib.sha256(np.ascontiguousarray(reader.ecg).tobytes()).hexdigest(),
        "pulses": hashlib.sha256(np.asarray(reader.index["trigger_pulse"]).tobytes()).hexdigest(),
        "stamps": hashlib.sha256(np.asarray(reader.index["ecg_sample"]).tobytes()).hexdigest(),
    }


def test_replay_recorded_again_is_identical(source_session: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    assert main(["replay", str(source_session), "--no-engine", "--speed", "max",
                 "--record", str(tmp_path / "again"), "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)["acquisition"]
    assert summary["frames_dropped"] == 0 and summary["ecg_lost"] == 0
    assert summary["worst_sync_error_frames"] == 0
    assert digest(tmp_path / "again") == digest(source_session)
    again = SessionReader(tmp_path / "again")
    assert again.metadata.closed and again.metadata.source == "replay"
    assert again.metadata.video.roi == SessionReader(source_session).metadata.video.roi


def test_real_time_replay_keeps_pace(source_session: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture) -> None:
    assert main(["replay", str(source_session), "--no-engine", "--speed", "1",
                 "--record", str(tmp_path / "rt"),
                 "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)["acquisition"]
    duration = SessionReader(source_session).ecg_sample_count / 1000
    assert summary["wall_s"] >= 0.9 * duration
    assert summary["frames_dropped"] == 0 and summary["worst_sync_error_frames"] == 0
    assert digest(tmp_path / "rt") == digest(source_session)


def test_frames_lost_in_the_recording_are_lost_again(source_session: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    """A session with frames missing (pulses 10-12) replays with the camera losing them in transport."""
    reader = SessionReader(source_session)
    holed = tmp_path / "holed"
    keep = np.r_[0:10, 13:len(reader)]
    with SessionWriter(holed, reader.metadata) as writer:
        writer.append_frames(np.stack([reader.frame(i) for i in keep]),
                             np.asarray(reader.index[keep], dtype=FRAME_INDEX_DTYPE))
        writer.append_ecg(np.asarray(reader.ecg))
    assert main(["replay", str(holed), "--no-engine", "--speed", "max", "--record", str(tmp_path / "again"),
                 "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)["acquisition"]
    assert summary["frames_dropped"] == 3
    again = SessionReader(tmp_path / "again")
    assert list(again.index["trigger_pulse"][8:12]) == [8, 9, 13, 14]
    assert list(again.index["camera_frame"][8:12]) == [9, 10, 14, 15]  # the camera counted them
    gaps = [e for e in again.events if e["kind"] == "gap"]
    assert gaps and gaps[0]["frames"] == 3
    assert digest(again.path)["frames"] == digest(holed)["frames"]


def test_ecg_connection_lost_mid_stream(source_session: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "lost"
    code = main(["replay", str(source_session), "--no-engine", "--speed", "1", "--record", str(out),
                 "--quiet",
                 "--set", "mock.fault_ecg_drop_after_s=1.0"])
    captured = capsys.readouterr()
    assert code == 3
    assert "AcqKnowledge data connection lost" in captured.err
    summary = json.loads(captured.out)["acquisition"]
    source = SessionReader(source_session)
    # video capture went on to the end
    assert summary["frames"] == len(source)
    session = SessionReader(out)
    assert len(session) == len(source)
    assert digest(out)["frames"] == digest(source_session)["frames"]
    # the ECG before the loss is kept and the gap is marked
    assert 900 <= session.ecg_sample_count <= 1000
    np.testing.assert_array_equal(session.ecg, source.ecg[: session.ecg_sample_count])
    gaps = [e for e in session.events if e["kind"] == "gap" and e["label"] == "ECG lost"]
    assert gaps and 900 <= gaps[0]["sample"] <= 1000
    # frames after the loss carry predicted stamps on the same clock
    np.testing.assert_allclose(session.frame_samples(), source.frame_samples(), atol=1)
    assert session.metadata.closed


def test_camera_timeout_burst_is_reported_and_counted(source_session: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "timeouts"
    code = main(["replay", str(source_session), "--no-engine", "--speed", "max", "--record", str(out),
                 "--quiet",
                 "--set", "mock.fault_camera_timeouts_after_s=0.5", "--set", "mock.fault_camera_timeouts=30",
                 "--set", "camera.timeout_ms=20"])
    captured = capsys.readouterr()
    assert code == 3
    summary = json.loads(captured.out)["acquisition"]
    assert summary["camera_timeouts"] >= 30
    assert any("timeouts in a row" in f for f in summary["faults"])
    session = SessionReader(out)
    assert len(session) == len(SessionReader(source_session))
    assert any(e["kind"] == "fault" and e["label"] == "camera timeouts" for e in session.events)


def test_record_from_a_video_and_an_ecg_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "video"
    code = main(["record", "--out", str(out), "--quiet",
                 "--set", "camera.driver=mock", "--set", "mock.source=video+ecg",
                 "--set", f"mock.video={DATA / 'video' / 'single_face.mp4'}",
                 "--set", f"mock.ecg={DATA / 'ecg' / 'ecg_1000hz.csv'}", "--set", "mock.ecg_rate=1000",
                 "--set", "mock.speed=max"])
    assert code == 0, capsys.readouterr().err
    session = SessionReader(out)
    assert len(session) == 72 and session.fps == pytest.approx(30, abs=0.5)
    assert session.frame_shape == (360, 640)  # the video is smaller than the ROI: full frames stored
    assert session.ecg_sample_count >= 2350
    edges = session.frame_samples()
    assert edges[0] == 0 and np.all(np.diff(edges) >= 33) and np.all(np.diff(edges) <= 34)


def test_record_from_synthetic_source_for_a_duration(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the synthetic source is generated under demo-output/ of the cwd
    code = main(["record", "--out", "rec", "--duration", "1.0", "--quiet",
                 "--set", "camera.driver=mock", "--set", "mock.synth_minutes=0.05",
                 "--set", "camera.width=480", "--set", "camera.height=270",
                 "--set", "recording.roi=[0,0,200,200]"])  # the source's face region wins
    assert code == 0, capsys.readouterr().err
    session = SessionReader(tmp_path / "rec")
    assert 100 <= len(session) <= 170
    # a session source keeps its own face region: outside it the mock camera sees only background
    source = SessionReader(next((tmp_path / "demo-output" / "mock-sources").iterdir()))
    assert session.metadata.video.roi == source.metadata.video.roi
    assert digest(tmp_path / "rec")["frames"] == hashlib.sha256(
        np.ascontiguousarray(source.frames(0, len(session))).tobytes()).hexdigest()
    assert session.metadata.closed


def test_unreachable_devices_give_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["record", "--out", str(tmp_path / "x"), "--quiet", "--set", "camera.driver=mock",
                 "--set", "mock.source=session", "--set", f"mock.session={tmp_path / 'missing'}"])
    assert code == 2
    assert "session directory does not exist" in capsys.readouterr().err
