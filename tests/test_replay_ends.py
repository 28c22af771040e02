"""Replay ends by itself on every recording, whatever faults it holds: trigger pulses recorded after the last
frame count as dropped, and the video after an ECG loss or an ECG gap is replayed. Each replay runs in its
own process with a time limit, so that a hang fails the test instead of stalling the suite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from acquisition.session import FRAME_INDEX_DTYPE, SessionReader, SessionWriter
from app.cli import main

SMALL = ["--size", "480x270", "--face-px", "96", "--quiet"]
REPLAY_LIMIT_S = 90  # a 3 s session replays in a few seconds; a hang would never end


@pytest.fixture(scope="module")
def source_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ends") / "source"
    assert main(["synth", "--minutes", "0.05", "--seed", "12", "--out", str(out), *SMALL]) == 0
    return out


def rewrite(source: Path, out: Path, frames: np.ndarray, ecg: np.ndarray) -> Path:
    """A copy of ``source`` keeping the frames ``frames`` (indices) and the ECG rows ``ecg``."""
    reader = SessionReader(source)
    with SessionWriter(out, reader.metadata) as writer:
        writer.append_frames(np.stack([reader.frame(i) for i in frames]),
                             np.asarray(reader.index[frames], dtype=FRAME_INDEX_DTYPE))
        writer.append_ecg(ecg)
    return out


def replay(session: Path, again: Path) -> dict:
    command = [sys.executable, "-m", "app", "replay", str(session), "--no-engine", "--speed", "max",
               "--record", str(again), "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=REPLAY_LIMIT_S)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)["acquisition"]


def test_pulses_recorded_after_the_last_frame_count_as_dropped_and_replay_ends(
        source_session: Path, tmp_path: Path) -> None:
    reader = SessionReader(source_session)
    kept = len(reader) - 60  # capture stopped (or the camera failed) 60 pulses before the trigger did
    session = rewrite(source_session, tmp_path / "short", np.arange(kept), np.asarray(reader.ecg))
    summary = replay(session, tmp_path / "again")
    assert summary["stopped_by"] == "end of source"
    assert summary["frames"] == kept
    assert summary["pulses_seen"] == len(reader)
    assert summary["frames_dropped"] == len(reader) - kept
    again = SessionReader(tmp_path / "again")
    assert len(again) == kept and again.metadata.closed
    at_end = [e for e in again.events if e["kind"] == "gap" and e.get("at_end")]
    assert at_end and at_end[0]["frames"] == len(reader) - kept


def test_video_after_an_ecg_loss_is_replayed(source_session: Path, tmp_path: Path) -> None:
    reader = SessionReader(source_session)
    ecg = np.asarray(reader.ecg)
    lost_at = int(reader.index["ecg_sample"][len(reader) // 2])  # the data connection dropped here
    session = rewrite(source_session, tmp_path / "ecg-lost", np.arange(len(reader)), ecg[:lost_at])
    summary = replay(session, tmp_path / "again")
    assert summary["frames"] == len(reader) and summary["frames_dropped"] == 0
    assert summary["ecg_samples"] == lost_at
    again = SessionReader(tmp_path / "again")
    np.testing.assert_array_equal(np.asarray(again.frames(0, len(again))),
                                  np.asarray(reader.frames(0, len(reader))))


def test_video_after_an_ecg_gap_is_replayed_with_its_pulses_numbered(source_session: Path,
                                                                     tmp_path: Path) -> None:
    reader = SessionReader(source_session)
    ecg = np.array(reader.ecg)
    stamps = np.asarray(reader.index["ecg_sample"])
    gap = slice(int(stamps[100]) + 3, int(stamps[160]) + 1)  # samples lost: NaN rows, as the recorder writes
    ecg[gap] = np.nan
    session = rewrite(source_session, tmp_path / "ecg-gap", np.arange(len(reader)), ecg)
    summary = replay(session, tmp_path / "again")
    assert summary["frames"] == len(reader) and summary["frames_dropped"] == 0
    assert summary["edges_inferred_in_ecg_gaps"] == 60
    again = SessionReader(tmp_path / "again")
    np.testing.assert_array_equal(np.asarray(again.index["trigger_pulse"]), np.arange(len(reader)))
    measured = np.r_[0:101, 161:len(reader)]  # the edges outside the gap are measured, as recorded
    np.testing.assert_array_equal(np.asarray(again.index["ecg_sample"])[measured], stamps[measured])
    assert np.max(np.abs(np.asarray(again.index["ecg_sample"]) - stamps)) <= 1


def test_a_looped_source_plays_its_recording_again_on_one_clock(source_session: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture) -> None:
    reader = SessionReader(source_session)
    assert main(["replay", str(source_session), "--no-engine", "--speed", "max", "--set", "mock.loops=3",
                 "--record", str(tmp_path / "looped"), "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)["acquisition"]
    assert summary["frames"] == 3 * len(reader) and summary["frames_dropped"] == 0
    looped = SessionReader(tmp_path / "looped")
    np.testing.assert_array_equal(np.asarray(looped.frames(2 * len(reader), 2 * len(reader) + 5)),
                                  np.asarray(reader.frames(0, 5)))
    np.testing.assert_array_equal(np.asarray(looped.index["trigger_pulse"]), np.arange(3 * len(reader)))
    assert looped.ecg_sample_count == 3 * reader.ecg_sample_count
