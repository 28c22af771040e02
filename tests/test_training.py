"""Training from annotated sessions: windows and labels, a short run that learns, export, reproducibility."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from inference.features.spec import FeatureSpec
from inference.metrics import roc_auc
from inference.runtime import SpottingModel
from models.dataset import KINDS, SessionData, load_session_data, session_windows
from models.export import export_onnx
from models.training import TrainConfig, predict, train_model

SPEC = FeatureSpec()
QUICK = TrainConfig(pretrain_epochs=1, finetune_epochs=3, triplets_per_epoch=256, batch_size=64)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> SessionData:
    out = tmp_path_factory.mktemp("train") / "s"
    assert main(["synth", "--minutes", "0.4", "--size", "640x360", "--face-px", "140", "--seed", "31",
                 "--me-per-minute", "30", "--out", str(out), "--quiet"]) == 0
    return load_session_data(out, SPEC, tmp_path_factory.mktemp("cache"))


def test_windows_are_labelled_from_the_truth(data: SessionData, tmp_path: Path) -> None:
    windows = session_windows(data, SPEC)
    assert windows.video.shape[1:] == (SPEC.video_steps, SPEC.video_channels)
    assert windows.ecg.shape[1:] == (SPEC.ecg_steps,)
    assert (windows.label == 1).sum() >= 2 * len([t for t in data.truth if t.kind == "ME"])
    assert (windows.kind == KINDS.index("blink")).any()
    # a positive window holds its ME's apex in its middle half
    to_ms = 1000.0 / data.fps
    for start, event in zip(windows.start_ms[windows.label == 1], windows.event[windows.label == 1],
                            strict=True):
        apex_ms = data.frame_ms[0] + data.truth[event].apex * to_ms
        assert start + 0.25 * SPEC.window_ms <= apex_ms < start + 0.75 * SPEC.window_ms
    data.save(tmp_path / "d.npz")
    again = SessionData.load(tmp_path / "d.npz")
    assert np.array_equal(again.video, data.video) and again.truth == data.truth


def test_short_training_learns_exports_and_reproduces(data: SessionData, tmp_path: Path) -> None:
    windows = session_windows(data, SPEC)
    first = train_model(windows, windows, SPEC, QUICK)
    second = train_model(windows, windows, SPEC, QUICK)
    scores = predict(first.model, windows, first.normalization)
    labelled = windows.label != -1
    assert roc_auc(windows.label[labelled], scores[labelled]) > 0.7
    np.testing.assert_allclose(scores, predict(second.model, windows, second.normalization), atol=1e-6)
    path = tmp_path / "m.onnx"
    export_onnx(first.model, SPEC, path, normalization=first.normalization, threshold=first.threshold,
                trained_on={"test": True}, report=first.report)
    model = SpottingModel.load(path, SPEC)
    np.testing.assert_allclose(model.score(windows.video, windows.ecg, windows.hrv), scores, atol=1e-4)
    assert model.threshold == pytest.approx(first.threshold)
    assert {"val_auc", "threshold", "history"} <= set(model.report)


def test_fit_picks_the_threshold_on_validation_intervals(data: SessionData) -> None:
    from app.commands.train import THRESHOLD_GRID, fit

    result = fit([data], [data], SPEC, QUICK, quiet=True)
    assert result.threshold in THRESHOLD_GRID
    assert result.report["threshold"] == result.threshold
    assert 0.0 <= result.report["val_interval_me_f1"] <= 1.0
    assert "window_threshold" in result.report


def test_the_fused_recipe_starts_from_the_video_only_models_encoder(data: SessionData) -> None:
    import torch

    from app.commands.train import fit_recipe
    from models.training import copy_encoders

    fused, video = fit_recipe([data], [data], SPEC, QUICK, quiet=True)
    assert video is not None and video.model.config.modality == "video"
    assert fused.report["encoders_from"] == ["video_encoder"]
    assert fused.report["warm_start_from"]["modality"] == "video"
    assert fused.report["recipe_train_seconds"] >= fused.report["train_seconds"]
    # training moved the copied encoder on: the fused model is not the video-only one with a new head
    donor = list(video.model.video_encoder.state_dict().values())
    trained = list(fused.model.video_encoder.state_dict().values())
    assert any(not torch.equal(a, b) for a, b in zip(trained, donor, strict=True))
    # the copy itself is exact, and only the encoders both models have are copied
    from models.cmcl_net import CmclNet, ModelConfig

    target = CmclNet(SPEC, ModelConfig())
    assert copy_encoders(video.model, target) == ["video_encoder"]
    for a, b in zip(target.video_encoder.state_dict().values(), donor, strict=True):
        assert torch.equal(a, b)
    cold, none = fit_recipe([data], [data], SPEC, TrainConfig(**{**QUICK.__dict__, "warm_start": False}),
                            quiet=True)
    assert none is None and cold.report["encoders_from"] == []


def test_the_ablation_table_pools_the_seeds() -> None:
    from types import SimpleNamespace

    from app.commands.ablation import _Rows, _seed_table
    from inference.metrics import SpottingCounts

    rows = _Rows()
    for counts, auc in ((SpottingCounts(6, 2, 4), 0.9), (SpottingCounts(2, 6, 8), 0.7)):
        rows.add("video only", "held-out face", SimpleNamespace(me=counts, auc=auc))
    row = _seed_table(rows, "held-out face")[-1].split(" | ")
    assert row[1] == "0.8000"  # mean AUC
    assert row[3] == "0.667 / 0.222"  # each seed's F1
    assert row[4:7] == ["8", "8", "12"]  # summed counts
    assert row[-1].rstrip(" |") == "0.4444"  # F1 of the summed counts: 16 / 36


def test_modality_dropout_blanks_whole_windows_of_one_input_at_the_configured_rates() -> None:
    import torch

    from models.training import drop_modalities

    n = 4000
    video, ecg, hrv = torch.ones(n, 8, 3), torch.ones(n, 16), torch.ones(n, 4)
    config = TrainConfig(modality="video+ecg", ecg_dropout=0.25, video_dropout=0.4)
    v, e, h = drop_modalities(video, ecg, hrv, config, np.random.default_rng(0))
    video_off, ecg_off = (v == 0).all(dim=(1, 2)), (e == 0).all(dim=1)
    assert torch.equal(ecg_off, (h == 0).all(dim=1))  # the wave and its HRV features go together
    assert ((v == 0) | (v == 1)).all() and (video_off | (v == 1).all(dim=(1, 2))).all()  # whole windows
    assert abs(float(ecg_off.float().mean()) - 0.25) < 0.03
    assert abs(float(video_off.float().mean()) - 0.4) < 0.03
    assert abs(float((video_off & ecg_off).float().mean()) - 0.1) < 0.02  # drawn independently
    for modality in ("video", "ecg"):
        same = drop_modalities(video, ecg, hrv, TrainConfig(modality=modality, video_dropout=0.4),
                               np.random.default_rng(0))
        assert all(torch.equal(a, b) for a, b in zip(same, (video, ecg, hrv), strict=True))
    with pytest.raises(ValueError, match="video_dropout"):
        TrainConfig(video_dropout=1.0)


def test_the_feature_cache_round_trips_without_pickle_and_refuses_pickled_files(data: SessionData,
                                                                                tmp_path: Path) -> None:
    from acquisition.errors import InputFileError

    data.save(tmp_path / "s.npz")
    back = SessionData.load(tmp_path / "s.npz")
    assert back.truth == data.truth and back.distractors == data.distractors
    np.testing.assert_array_equal(back.video, data.video)
    with np.load(tmp_path / "s.npz", allow_pickle=False) as stored:
        assert all(stored[k].dtype != object for k in stored.files)
    # an old (or crafted) cache holding pickled objects is refused, never unpickled
    np.savez(tmp_path / "pickled.npz", meta=np.array([{"run": "code"}], dtype=object), video=data.video)
    with pytest.raises(InputFileError, match="not a mespot feature cache"):
        SessionData.load(tmp_path / "pickled.npz")
