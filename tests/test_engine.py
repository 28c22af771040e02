"""The spotting engine: offline on a session file and live through the mock devices give the same window
scores; alerts carry HRS decisions; the exported CSV is scored by `mespot evaluate`; the engine measures and
decides exactly as the offline evaluation does, for CMCL-Net and the training-free spotter."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from acquisition.session import SessionReader
from app.cli import main
from inference.features.spec import FeatureSpec
from inference.runtime import Normalization
from models.cmcl_net import CmclNet, ModelConfig
from models.export import export_onnx

SMALL = ["--size", "480x270", "--face-px", "96", "--quiet"]


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("engine") / "session"
    assert main(["synth", "--minutes", "0.25", "--seed", "21", "--out", str(out), *SMALL]) == 0
    return out


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialized CMCL-Net whose threshold lets a good share of windows through."""
    torch.manual_seed(0)
    spec = FeatureSpec()
    net = CmclNet(spec, ModelConfig()).eval()
    path = tmp_path_factory.mktemp("model") / "random.onnx"
    export_onnx(net, spec, path, normalization=Normalization.identity().to_dict(), threshold=0.5,
                trained_on={"test": "random weights"})
    return path


def test_offline_export_and_evaluate(session: Path, model: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture) -> None:
    csv_path = tmp_path / "spotted.csv"
    report = tmp_path / "report.png"
    assert main(["export", str(session), "--model", str(model), "--threshold", "0.0", "--csv", str(csv_path),
                 "--report", str(report), "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    reader = SessionReader(session)
    assert summary["frames"] == len(reader)
    assert summary["spotter"]["windows_scored"] > 100
    assert summary["alerts"] >= 1 and "evaluation" in summary
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == summary["alerts"]
    assert {r["decision"] for r in rows} <= {"genuine", "rejected", "unfiltered"}
    for row in rows:
        hrs, mean, eta = float(row["hrs_apex"]), float(row["hrs_mean"]), float(row["eta"])
        if row["decision"] != "unfiltered":
            assert (row["decision"] == "genuine") == (hrs > eta * mean)
    assert report.stat().st_size > 10_000
    # the CSV is a prediction file for `mespot evaluate`
    assert main(["evaluate", "--truth", str(reader.truth_megc_path), "--pred", str(csv_path)]) == 0
    assert "overall" in capsys.readouterr().out


def test_filter_off_keeps_every_candidate(session: Path, model: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture) -> None:
    assert main(["export", str(session), "--model", str(model), "--threshold", "0.0", "--no-filter",
                 "--csv", str(tmp_path / "all.csv"), "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rejected_by_hrs_filter"] == 0
    assert all(r["decision"] == "unfiltered" for r in csv.DictReader((tmp_path / "all.csv").open()))


def test_live_through_the_mocks_matches_offline(session: Path, model: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    """The engine fed from the ring buffers (replay at max speed) spots what it spots offline. Not bit for
    bit: live, the camera delivers the whole sensor frame (the stored face region pasted into it), so the
    face is found in a different image."""
    main(["export", str(session), "--model", str(model), "--csv", str(tmp_path / "offline.csv"), "--quiet"])
    offline = json.loads(capsys.readouterr().out)
    assert main(["replay", str(session), "--model", str(model), "--speed", "max",
                 "--csv", str(tmp_path / "live.csv"), "--quiet"]) == 0
    live = json.loads(capsys.readouterr().out)["spotting"]
    assert live["spotter"]["windows_scored"] == offline["spotter"]["windows_scored"]
    assert abs(live["alerts"] - offline["alerts"]) <= 1
    offline_apexes, live_apexes = (
        np.array([int(r["apex_frame"]) for r in csv.DictReader((tmp_path / n).open())])
        for n in ("offline.csv", "live.csv"))
    for apex in offline_apexes:
        assert np.min(np.abs(live_apexes - apex)) <= 6, (offline_apexes, live_apexes)


def test_wrong_model_file_is_refused(session: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "model.onnx"
    bad.write_text("not a model")
    assert main(["export", str(session), "--model", str(bad), "--csv", str(tmp_path / "x.csv")]) == 2
    assert "not an ONNX model" in capsys.readouterr().err


def test_the_model_runs_outside_the_engine_lock(session: Path, model: Path) -> None:
    """Features and scoring share the engine's state under one lock; ONNX must not hold it (two cores)."""
    import threading

    from inference.engine import SpottingEngine
    from inference.runtime import SpottingModel
    from inference.spotters import CmclNetSpotter

    lock = threading.Lock()
    loaded = SpottingModel.load(model, FeatureSpec())
    held_while_scoring = []
    real_score = loaded.score

    def score(*inputs: np.ndarray) -> np.ndarray:
        held_while_scoring.append(lock.locked())
        return real_score(*inputs)

    loaded.score = score  # type: ignore[method-assign]
    reader = SessionReader(session)
    engine = SpottingEngine(CmclNetSpotter(loaded), reader.fps, reader.metadata.ecg.sampling_rate, [])
    engine.push_ecg(np.asarray(reader.ecg[:4000, 0]))
    stamps = reader.frame_samples()
    for i in range(450):
        engine.push_frame(reader.frame(i), int(stamps[i]))
    assert engine.step(lock=lock) > 0
    assert held_while_scoring and not any(held_while_scoring)


@pytest.mark.parametrize("spotter", ["model", "flow"])
def test_the_engine_spots_and_decides_as_the_offline_evaluation(session: Path, model: Path, spotter: str,
                                                                tmp_path: Path) -> None:
    """One decision path: the engine fed a recording frame by frame gives the intervals and HRS decisions that
    the offline evaluation (models.evaluation, what `mespot ablation` reports) computes from the same
    features, with the heart as known at each decision."""
    from app.spotting import process_session
    from inference.decision import HrsFilter
    from inference.engine import EngineSettings, SpottingEngine
    from inference.spotters import load_spotter
    from inference.spotters.cmcl import merge_windows
    from inference.spotting import spot_offline
    from models.dataset import load_session_data, session_windows
    from models.evaluation import flow_candidates

    reader = SessionReader(session)
    choice = load_spotter("flow" if spotter == "flow" else model)
    hrs = HrsFilter(eta=0.5)
    engine = SpottingEngine(choice.build(reader.fps, 0.0 if spotter == "model" else None), reader.fps,
                            reader.ecg_rate, [], settings=EngineSettings(hrs=hrs))
    process_session(reader, engine, quiet=True)
    spec = FeatureSpec()
    data = load_session_data(session, spec)
    if spotter == "flow":
        candidates = flow_candidates(data, spec)[0]
    else:
        windows = session_windows(data, spec)
        scores = choice.model.score(windows.video, windows.ecg, windows.hrv)
        # the same windows, once the ECG context lies inside the recording (before it, the engine pads with
        # lost samples and the training windows filter the shorter segment)
        steady = windows.start_ms >= spec.ecg_pre_ms + 1000.0
        np.testing.assert_allclose(np.asarray(engine.spotter.trace)[: len(scores)][steady], scores[steady],
                                   atol=1e-5)
        starts = np.asarray(engine.spotter.trace_ms) - spec.window_ms / 2
        candidates = merge_windows(starts, np.asarray(engine.spotter.trace), 0.0, spec.window_ms)
    offline = spot_offline(candidates, data.held_video(spec), data.frame_ms, data.heart(),
                           reference_ms=spec.reference_ms, hrs=hrs)
    assert len(offline) >= 1
    live = [(a.onset_frame, a.apex_frame, a.offset_frame, a.kind, a.decision) for a in engine.alerts]
    assert live == [(m.extent.onset, m.extent.apex, m.extent.offset, m.extent.kind, d) for m, d in offline]
