"""Window scores to candidates, candidates to measured intervals, alerts to CSV."""

from __future__ import annotations

import json

import numpy as np
import pytest

from acquisition.readers.annotations import read_megc_csv
from inference.alerts import Alert, CsvSink
from inference.spotters import Candidate
from inference.spotters.cmcl import merge_windows
from inference.spotting import CandidateMeasurer
from tests.motion import LAG_MS, envelope, features_for

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


def test_candidates_are_measured_on_their_motion_and_found_twice_once() -> None:
    n = 1200
    t = np.arange(n) / FPS
    shape = envelope(t, 3.0, 3.25, 3.6)
    features = features_for({"brow_in_l": np.stack([0 * shape, shape], 1),
                             "brow_in_r": np.stack([0 * shape, shape], 1)}, n, noise=0.01)
    measurer = CandidateMeasurer(LAG_MS)
    first = Candidate(3000.0, 3500.0, 0.9, 0.8, 4, apex_ms=3300.0)
    measured = measurer.measure(first, features, t * 1000.0, first_frame=1000)
    assert measured is not None
    assert measured.extent.apex - 1000 == pytest.approx(round(3.25 * FPS), abs=6)
    assert measured.extent.kind == "ME" and set(measured.extent.regions) == {"brow_in_l", "brow_in_r"}
    again = Candidate(3100.0, 3600.0, 0.7, 0.7, 3, apex_ms=3350.0)  # the same movement's return
    assert measurer.measure(again, features, t * 1000.0, first_frame=1000) is None
    assert measurer.duplicates == 1
    quiet = Candidate(6000.0, 6300.0, 0.7, 0.7, 3, apex_ms=6150.0)
    result = measurer.measure(quiet, np.zeros_like(features), t * 1000.0)
    assert result is None and measurer.unmeasured == 1


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
