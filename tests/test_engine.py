"""The spotting engine: offline on a session file and live through the mock devices give the same window
scores; alerts carry HRS decisions; the exported CSV is scored by `mespot evaluate`."""

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
    assert summary["windows_scored"] > 100
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
    assert live["windows_scored"] == offline["windows_scored"]
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

    lock = threading.Lock()
    loaded = SpottingModel.load(model, FeatureSpec())
    held_while_scoring = []
    real_score = loaded.score

    def score(*inputs: np.ndarray) -> np.ndarray:
        held_while_scoring.append(lock.locked())
        return real_score(*inputs)

    loaded.score = score  # type: ignore[method-assign]
    reader = SessionReader(session)
    engine = SpottingEngine(loaded, reader.fps, reader.metadata.ecg.sampling_rate, [])
    engine.push_ecg(np.asarray(reader.ecg[:4000, 0]))
    stamps = reader.frame_samples()
    for i in range(450):
        engine.push_frame(reader.frame(i), int(stamps[i]))
    assert engine.step(lock=lock) > 0
    assert held_while_scoring and not any(held_while_scoring)
