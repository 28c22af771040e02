"""Window scores to spotted intervals, alerts to CSV, and the engine end to end on a small session."""

from __future__ import annotations

import json

import numpy as np
import pytest

from acquisition.readers.annotations import read_megc_csv
from inference.alerts import Alert, CsvSink
from inference.spotting import Candidate, locate_phases, merge_windows

FPS = 150.0


def test_merge_windows_groups_and_gaps() -> None:
    starts = np.arange(0, 2000, 40.0)
    scores = np.zeros(len(starts))
    scores[[5, 6, 7, 9]] = 0.9  # one gap window inside the first candidate
    scores[[20, 21]] = 0.7
    candidates = merge_windows(starts, scores, 0.5, 320.0, max_gap_windows=1)
    assert len(candidates) == 2
    first = candidates[0]
    assert first.start_ms == 200.0 and first.end_ms == 360.0 + 320.0 and first.windows == 4
    assert first.apex_ms == pytest.approx(np.mean(starts[[5, 6, 7, 9]]) + 160.0)
    assert merge_windows(starts, scores, 0.95, 320.0) == []
    assert len(merge_windows(starts, scores, 0.5, 320.0, max_gap_windows=0)) == 3


def test_locate_phases_uses_the_motion_peak_near_the_window_apex() -> None:
    frame_ms = np.arange(300) * 1000 / FPS
    profile = np.zeros(300)
    profile[100] = 5.0  # motion peak 3 frames from the windows' apex estimate
    profile[200] = 9.0  # a bigger peak far away is ignored
    candidate = Candidate(500.0, 900.0, 0.9, 0.8, 4, apex_ms=frame_ms[97])
    onset, apex, offset = locate_phases(profile, frame_ms, candidate)
    assert apex == 100
    assert frame_ms[apex] - frame_ms[onset] == pytest.approx(90.0, abs=1000 / FPS)
    assert frame_ms[offset] - frame_ms[apex] == pytest.approx(170.0, abs=1000 / FPS)


def _alert(decision: str, apex: int) -> Alert:
    return Alert("S01_1", apex - 10, apex, apex + 20, (apex - 10) / FPS, apex / FPS, (apex + 20) / FPS,
                 "", "", "", 0.8, 12.0, 4.0, 2.0, decision, "ME", 0.5)


def test_csv_sink_is_read_by_the_megc_reader(tmp_path) -> None:
    sink = CsvSink(tmp_path / "alerts.csv", subject="S01", video="S01_1")
    sink.deliver(_alert("genuine", 300))
    sink.deliver(_alert("rejected", 900))
    sink.close()
    rows = read_megc_csv(tmp_path / "alerts.csv")
    assert [(r.onset, r.apex, r.offset, r.kind) for r in rows] == [(290, 300, 320, "ME"),
                                                                   (890, 900, 920, "ME")]
    assert "decision" in (tmp_path / "alerts.csv").read_text().splitlines()[0]


def test_evaluate_leaves_out_rejected_rows(tmp_path, capsys) -> None:
    from app.cli import main

    sink = CsvSink(tmp_path / "alerts.csv", subject="S01", video="S01_1")
    sink.deliver(_alert("genuine", 300))
    sink.deliver(_alert("rejected", 900))
    sink.close()
    truth = tmp_path / "truth.csv"
    truth.write_text("subject,video,onset,offset,apex,class\nS01,S01_1,290,320,300,ME\nS01,S01_1,890,920,900,ME\n")
    assert main(["evaluate", "--truth", str(truth), "--pred", str(tmp_path / "alerts.csv"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["overall"]["tp"] == 1
    assert main(["evaluate", "--truth", str(truth), "--pred", str(tmp_path / "alerts.csv"), "--json",
                 "--include-rejected"]) == 0
    assert json.loads(capsys.readouterr().out)["overall"]["tp"] == 2
