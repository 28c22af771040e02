"""CMCL-Net: shapes, gradients, losses, ONNX export parity with torch, and the runtime's refusals."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper

from acquisition.errors import InputFileError
from inference.features.spec import FeatureSpec
from inference.runtime import REQUIRED_METADATA, Normalization, SpottingModel
from models.cmcl_net import (
    CmclNet,
    ModelConfig,
    balanced_pos_weight,
    focal_loss,
    parameter_count,
    triplet_loss,
    weighted_bce_loss,
)
from models.export import MAX_MODEL_BYTES, PARITY_TOLERANCE, export_onnx

FALLBACK_VIDEO_CHANNELS = 48  # only while the video extractor leaves FeatureSpec.video_channels at 0
SPEC = FeatureSpec() if FeatureSpec().video_channels else replace(FeatureSpec(),
                                                                   video_channels=FALLBACK_VIDEO_CHANNELS)
MODALITIES = ("video+ecg", "video", "ecg")
EMBED_PARTS = {"video+ecg": 3, "video": 1, "ecg": 2}
MAX_PARAMETERS = 1_000_000
THRESHOLD = 0.42
TRAINED_ON = {"datasets": ["random"], "note": "test fixture"}


def make_model(modality: str = "video+ecg", seed: int = 0, spec: FeatureSpec = SPEC) -> CmclNet:
    torch.manual_seed(seed)
    return CmclNet(spec, ModelConfig(modality=modality)).eval()  # type: ignore[arg-type]


def raw_batch(batch: int, seed: int, spec: FeatureSpec = SPEC) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw (un-normalized) features with offsets and scales, so that normalization matters."""
    rng = np.random.default_rng(seed)
    video = rng.normal(0.5, 2.0, (batch, spec.video_steps, spec.video_channels)).astype(np.float32)
    ecg = rng.normal(-0.2, 0.3, (batch, spec.ecg_steps)).astype(np.float32)
    hrv = rng.normal(60.0, 10.0, (batch, len(spec.hrv_features))).astype(np.float32)
    return video, ecg, hrv


def torch_scores(model: CmclNet, norm: Normalization, raw: tuple[np.ndarray, ...]) -> np.ndarray:
    with torch.no_grad():
        return torch.sigmoid(model(*(torch.from_numpy(x) for x in norm.apply(*raw)))).numpy()


@pytest.fixture(scope="module")
def fitted_norm() -> Normalization:
    return Normalization.fit(*raw_batch(64, seed=99))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, fitted_norm: Normalization) -> tuple[CmclNet, Path]:
    """The default CMCL-Net, randomly initialized, exported once for the whole module."""
    model = make_model(seed=7)
    path = tmp_path_factory.mktemp("onnx") / "cmcl.onnx"
    result = export_onnx(model, SPEC, path, normalization=fitted_norm.to_dict(), threshold=THRESHOLD,
                         trained_on=TRAINED_ON, report={"f1": 0.1})
    assert result.parity_max_abs_diff < PARITY_TOLERANCE
    return model, path


# --- model shapes and gradients -------------------------------------------------------------------------


@pytest.mark.parametrize("modality", MODALITIES)
def test_shapes_of_every_variant(modality: str) -> None:
    model = make_model(modality)
    inputs = model.example_inputs(5, seed=1)
    assert model(*inputs).shape == (5,)
    assert model.encode(*inputs).shape == (5, EMBED_PARTS[modality] * model.config.d_model)
    assert model.embed_dim == EMBED_PARTS[modality] * model.config.d_model
    assert parameter_count(model) < MAX_PARAMETERS


def test_single_modality_variants_ignore_the_other_inputs() -> None:
    video, ecg, hrv = make_model().example_inputs(3, seed=2)
    video_only, ecg_only = make_model("video"), make_model("ecg")
    with torch.no_grad():
        assert torch.equal(video_only(video, ecg, hrv), video_only(video, ecg * 0 + 5, hrv * 0))
        assert torch.equal(ecg_only(video, ecg, hrv), ecg_only(video * 0 + 5, ecg, hrv))
        assert not torch.equal(ecg_only(video, ecg, hrv), ecg_only(video, ecg, hrv + 1))  # HRV is used


@pytest.mark.parametrize("modality", MODALITIES)
def test_every_parameter_gets_a_gradient(modality: str) -> None:
    model = make_model(modality).train()
    inputs = model.example_inputs(4, seed=3)
    loss = focal_loss(model(*inputs), torch.tensor([1.0, 0.0, 0.0, 1.0]))
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_cross_attention_links_the_streams() -> None:
    """The pooled video part of the embedding depends on the ECG wave (through video->ECG attention)."""
    model = make_model()
    video, ecg, hrv = model.example_inputs(2, seed=4)
    ecg.requires_grad_(True)
    hrv.requires_grad_(True)
    model.encode(video, ecg, hrv)[:, : model.config.d_model].sum().backward()
    assert ecg.grad is not None and ecg.grad.abs().sum() > 0
    assert hrv.grad is not None and hrv.grad.abs().sum() > 0  # the HRV token is attended to


def test_ecg_tcn_is_causal() -> None:
    encoder = make_model().ecg_encoder
    assert encoder is not None
    wave = torch.randn(1, 1, SPEC.ecg_steps)
    changed = wave.clone()
    changed[..., 100:] += 1.0
    with torch.no_grad():
        before, after = encoder.tcn(encoder.stem(wave)), encoder.tcn(encoder.stem(changed))
    assert torch.equal(before[..., :100], after[..., :100])
    assert not torch.equal(before[..., 100:], after[..., 100:])


def test_config_and_spec_are_checked() -> None:
    with pytest.raises(ValueError, match="modality"):
        ModelConfig(modality="audio")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="heads"):
        ModelConfig(d_model=30, heads=4)
    with pytest.raises(ValueError, match="video_channels"):
        CmclNet(replace(SPEC, video_channels=0), ModelConfig())
    with pytest.raises(ValueError, match="patch_frames"):
        CmclNet(SPEC, ModelConfig(patch_frames=5))
    config = ModelConfig(modality="ecg", depth=1)
    assert ModelConfig.from_json(config.to_json()) == config


# --- losses ---------------------------------------------------------------------------------------------


def test_triplet_loss_values() -> None:
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert triplet_loss(a, a, -a, margin=0.3).item() == pytest.approx(0.0)  # d_ap 0, d_an 2
    p = torch.tensor([[0.0, 1.0], [3.0, 0.0]])  # orthogonal to a: d_ap = sqrt 2
    assert triplet_loss(a, p, a, margin=0.3).item() == pytest.approx(math.sqrt(2) + 0.3, abs=1e-5)
    # only the direction counts: scaling an embedding changes nothing
    assert triplet_loss(a * 10, p, a * 0.1, margin=0.3).item() == pytest.approx(math.sqrt(2) + 0.3, abs=1e-5)
    per_triplet = triplet_loss(a, torch.stack([a[0], p[1]]), -a, margin=2.5, reduction="none")
    assert per_triplet.tolist() == pytest.approx([0.5, math.sqrt(2) - 2 + 2.5], abs=1e-5)


def test_triplet_loss_edge_cases() -> None:
    a = torch.randn(3, 8, requires_grad=True)
    loss = triplet_loss(a, a.detach().clone(), torch.zeros(3, 8))  # identical pair, zero negative
    loss.backward()
    assert torch.isfinite(loss) and a.grad is not None and torch.isfinite(a.grad).all()
    empty = torch.zeros(0, 8)
    assert triplet_loss(empty, empty, empty).item() == 0.0
    with pytest.raises(ValueError, match="one shape"):
        triplet_loss(torch.zeros(2, 8), torch.zeros(2, 8), torch.zeros(3, 8))
    with pytest.raises(ValueError, match="margin"):
        triplet_loss(a, a, a, margin=-1.0)


def test_focal_loss_values() -> None:
    logits = torch.tensor([2.0, -1.0, 0.5, -3.0])
    targets = torch.tensor([1.0, 0.0, 0.0, 1.0])
    bce = F.binary_cross_entropy_with_logits(logits, targets)
    assert focal_loss(logits, targets, alpha=None, gamma=0.0).item() == pytest.approx(bce.item(), rel=1e-6)
    # hand-computed: one positive with p = sigmoid(2)
    p = 1 / (1 + math.exp(-2.0))
    want = -0.25 * (1 - p) ** 2 * math.log(p)
    got = focal_loss(torch.tensor([2.0]), torch.tensor([1.0]), alpha=0.25, gamma=2.0).item()
    assert got == pytest.approx(want, rel=1e-5)
    # the focusing term shrinks easy examples far more than hard ones
    easy, hard = torch.tensor([6.0]), torch.tensor([-2.0])
    one = torch.tensor([1.0])
    bce_easy, bce_hard = (F.binary_cross_entropy_with_logits(x, one).item() for x in (easy, hard))
    ratio_easy = focal_loss(easy, one, alpha=None).item() / bce_easy
    ratio_hard = focal_loss(hard, one, alpha=None).item() / bce_hard
    assert ratio_easy < 0.01 < 0.5 < ratio_hard
    # alpha weights positives against negatives
    pos = focal_loss(torch.tensor([0.0]), one, alpha=0.75, gamma=0.0).item()
    neg = focal_loss(torch.tensor([0.0]), torch.tensor([0.0]), alpha=0.75, gamma=0.0).item()
    assert pos / neg == pytest.approx(3.0)


def test_focal_and_weighted_bce_edge_cases() -> None:
    assert focal_loss(torch.zeros(0), torch.zeros(0)).item() == 0.0
    assert weighted_bce_loss(torch.zeros(0), torch.zeros(0), 3.0).item() == 0.0
    big = torch.tensor([100.0, -100.0])
    assert torch.isfinite(focal_loss(big, torch.tensor([0.0, 1.0])))  # confidently wrong stays finite
    assert focal_loss(big, torch.tensor([1.0, 0.0])).item() == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="shape"):
        focal_loss(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ValueError, match="alpha"):
        focal_loss(torch.zeros(3), torch.zeros(3), alpha=1.5)
    with pytest.raises(ValueError, match="pos_weight"):
        weighted_bce_loss(torch.zeros(3), torch.zeros(3), 0.0)


def test_weighted_bce() -> None:
    logits = torch.tensor([0.3, -0.7, 1.2])
    targets = torch.tensor([1.0, 0.0, 1.0])
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    assert weighted_bce_loss(logits, targets, 1.0).item() == pytest.approx(bce.mean().item())
    weighted = weighted_bce_loss(logits, targets, 4.0, reduction="none")
    assert weighted.tolist() == pytest.approx((bce * torch.tensor([4.0, 1.0, 4.0])).tolist(), rel=1e-6)
    assert balanced_pos_weight(torch.tensor([1.0, 0, 0, 0, 0])) == 4.0
    assert balanced_pos_weight(torch.zeros(5)) == 1.0


# --- normalization --------------------------------------------------------------------------------------


def test_normalization_fit_apply_and_round_trip(fitted_norm: Normalization) -> None:
    raw = raw_batch(64, seed=99)
    video, ecg, hrv = fitted_norm.apply(*raw)
    assert video.dtype == ecg.dtype == hrv.dtype == np.float32
    assert np.allclose(video.mean(axis=(0, 1)), 0, atol=1e-4)
    assert np.allclose(video.std(axis=(0, 1)), 1, atol=1e-3)
    assert np.allclose(hrv.mean(axis=0), 0, atol=1e-3) and np.allclose(hrv.std(axis=0), 1, atol=1e-3)
    assert len(fitted_norm.mean["ecg_wave"]) == 1  # one value for the whole wave
    again = Normalization.from_dict(json.loads(json.dumps(fitted_norm.to_dict())), SPEC)
    assert all(np.array_equal(a, b) for a, b in zip(again.apply(*raw), (video, ecg, hrv), strict=True))
    constant = Normalization.fit(np.ones((2, 3, 4)), np.zeros((2, 5)), np.ones((2, 9)))
    assert np.all(constant.std["video"] == 1.0)


def test_normalization_layout_is_checked() -> None:
    good = Normalization.identity().to_dict()
    with pytest.raises(ValueError, match="exactly the inputs"):
        Normalization.from_dict({k: v for k, v in good.items() if k != "hrv"}, SPEC)
    bad = json.loads(json.dumps(good))
    bad["video"]["mean"] = [0.0, 0.0]
    with pytest.raises(ValueError, match="want 1 or"):
        Normalization.from_dict(bad, SPEC)
    bad = json.loads(json.dumps(good))
    bad["hrv"]["std"] = [0.0]
    with pytest.raises(ValueError, match="> 0"):
        Normalization.from_dict(bad, SPEC)


# --- export and runtime ---------------------------------------------------------------------------------


@pytest.mark.parametrize("batch", [5, 1])
def test_onnx_matches_torch(exported: tuple[CmclNet, Path], fitted_norm: Normalization, batch: int) -> None:
    model, path = exported
    runtime = SpottingModel.load(path, SPEC)
    raw = raw_batch(batch, seed=10 + batch)
    got = runtime.score(*raw)
    want = torch_scores(model, fitted_norm, raw)
    assert got.shape == (batch,) and got.dtype == np.float32
    assert np.max(np.abs(got - want)) < 1e-4
    if batch > 1:
        assert np.ptp(got) > 1e-4  # a model that ignores its inputs would pass the check trivially


def test_runtime_exposes_spec_threshold_and_metadata(exported: tuple[CmclNet, Path]) -> None:
    model, path = exported
    runtime = SpottingModel.load(path, SPEC)
    assert runtime.spec == SPEC
    assert runtime.threshold == pytest.approx(THRESHOLD)
    assert set(REQUIRED_METADATA) <= set(runtime.metadata)
    assert runtime.model_config == json.loads(model.config.to_json())
    assert runtime.trained_on == TRAINED_ON and runtime.report == {"f1": 0.1}
    assert runtime.decide(np.array([0.1, 0.9])).tolist() == [False, True]
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert FeatureSpec.from_json(props["mespot.feature_spec"]) == SPEC
    assert json.loads(props["mespot.window_ms"]) == SPEC.window_ms
    assert json.loads(props["mespot.stride_ms"]) == SPEC.stride_ms
    assert set(json.loads(props["mespot.normalization"])) == {"video", "ecg_wave", "hrv"}
    with pytest.raises(ValueError, match="shape"):
        runtime.score(*raw_batch(2, seed=0, spec=replace(SPEC, ecg_steps=SPEC.ecg_steps // 2)))
    assert runtime.score(*raw_batch(0, seed=0)).shape == (0,)


def test_size_and_parameter_limits(exported: tuple[CmclNet, Path]) -> None:
    model, path = exported
    assert parameter_count(model) < MAX_PARAMETERS
    assert path.stat().st_size < MAX_MODEL_BYTES
    assert b"/work/" not in path.read_bytes() and str(Path.home()).encode() not in path.read_bytes()


def test_refuses_a_model_for_another_feature_spec(tmp_path: Path) -> None:
    other = replace(SPEC, window_ms=400.0)
    model = make_model("video", spec=other).train()
    path = tmp_path / "other.onnx"
    export_onnx(model, other, path, normalization=Normalization.identity().to_dict(), threshold=0.5,
                trained_on={})
    assert model.training  # export restores the mode it found
    with pytest.raises(InputFileError, match="window_ms") as info:
        SpottingModel.load(path, SPEC)
    assert "model expects window_ms 400.0 but this mespot extracts 320.0" in str(info.value)
    assert "retrain" in str(info.value).lower()
    assert SpottingModel.load(path, other).spec == other


# the feature spec of the models mespot wrote before the landmark geometry (version 2), as stored in them
SPEC_V2_JSON = ('{"crop_px": 128, "ecg_post_ms": 300.0, "ecg_pre_ms": 2000.0, "ecg_steps": 256, '
                '"feature_rate_hz": 75.0, "hrv_features": ["rr_mean_s", "rr_std_s", "hr_mean_bpm", '
                '"hrv_sdsd_s", "hrv_rmssd_s", "hr_now_bpm", "hrs_now_bpm_s", "hrs_mean_bpm_s", "hrs_ratio"], '
                '"hrv_window_s": '
                '30.0, "reference_ms": 120.0, "stride_ms": 40.0, "version": 2, "video_channels": 49, '
                '"video_steps": 32, "window_ms": 320.0}')


def test_a_spec_v2_model_is_refused_with_what_to_do(tmp_path: Path, exported: tuple[CmclNet, Path],
                                                     capsys: pytest.CaptureFixture) -> None:
    from app.cli import main

    model = onnx.load(exported[1])
    for prop in model.metadata_props:
        if prop.key == "mespot.feature_spec":
            prop.value = SPEC_V2_JSON
    old = tmp_path / "v2.onnx"
    onnx.save(model, old)
    with pytest.raises(InputFileError) as info:
        SpottingModel.load(old, SPEC)
    message = str(info.value)
    assert "feature spec version 2" in message and f"extracts version {SPEC.version}" in message
    assert "mespot train --sessions" in message and "--spotter flow" in message
    session = tmp_path / "session"
    assert main(["synth", "--minutes", "0.05", "--size", "320x180", "--face-px", "80", "--out", str(session),
                 "--quiet"]) == 0
    capsys.readouterr()
    assert main(["export", str(session), "--model", str(old), "--csv", str(tmp_path / "x.csv"),
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "feature spec version 2" in err and len(err.strip().splitlines()) == 1


def test_a_model_of_another_face_layout_is_refused(tmp_path: Path) -> None:
    other = replace(SPEC, layout_digest="0123456789abcdef")
    model = make_model("video", spec=other)
    path = tmp_path / "layout.onnx"
    export_onnx(model, other, path, normalization=Normalization.identity().to_dict(), threshold=0.5,
                trained_on={})
    with pytest.raises(InputFileError, match="another face layout") as info:
        SpottingModel.load(path, SPEC)
    assert "0123456789abcdef" in str(info.value) and "--spotter flow" in str(info.value)


def test_export_refuses_bad_arguments(tmp_path: Path) -> None:
    model = make_model("video")
    norm = Normalization.identity().to_dict()
    with pytest.raises(ValueError, match="another feature spec"):
        export_onnx(model, replace(SPEC, stride_ms=80.0), tmp_path / "a.onnx", normalization=norm,
                    threshold=0.5, trained_on={})
    with pytest.raises(ValueError, match="threshold"):
        export_onnx(model, SPEC, tmp_path / "b.onnx", normalization=norm, threshold=1.5, trained_on={})
    assert not list(tmp_path.iterdir())


def test_refuses_files_that_are_not_onnx(tmp_path: Path, exported: tuple[CmclNet, Path]) -> None:
    text = tmp_path / "model.onnx"
    text.write_text("this is not a model\n")
    with pytest.raises(InputFileError, match="not an ONNX model"):
        SpottingModel.load(text, SPEC)
    truncated = tmp_path / "truncated.onnx"
    data = exported[1].read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError, match="not an ONNX model"):
        SpottingModel.load(truncated, SPEC)
    with pytest.raises(InputFileError, match="no such model file"):
        SpottingModel.load(tmp_path / "missing.onnx", SPEC)


def tiny_onnx(path: Path, metadata: dict[str, str] | None = None) -> Path:
    """A valid one-node ONNX model (y = x) that is not a mespot model."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "tiny", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return path


def test_refuses_onnx_without_mespot_metadata(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="not a mespot model: metadata missing"):
        SpottingModel.load(tiny_onnx(tmp_path / "tiny.onnx"), SPEC)


def test_refuses_mespot_metadata_on_a_foreign_graph(tmp_path: Path, exported: tuple[CmclNet, Path]) -> None:
    metadata = {p.key: p.value for p in onnx.load(str(exported[1])).metadata_props}
    with pytest.raises(InputFileError, match="model inputs are x"):
        SpottingModel.load(tiny_onnx(tmp_path / "tiny.onnx", metadata), SPEC)
    with pytest.raises(InputFileError, match="format"):
        SpottingModel.load(tiny_onnx(tmp_path / "future.onnx", {**metadata, "mespot.format_version": "99"}),
                           SPEC)


def test_runtime_does_not_import_torch() -> None:
    code = "import sys, inference.runtime; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
