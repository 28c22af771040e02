"""CMCL-Net training: triplet-loss pre-training of the encoder, then fine-tuning of encoder and classifier.

Pre-training pulls ME windows of different expressions together and pushes non-ME windows away (half of
the negatives are hard: blinks, head moves, macro-expressions). Fine-tuning uses a focal loss against the
class imbalance. The epoch kept is the one with the best ``select`` score (the app passes the validation ME
interval F1; default: the validation window AUC). A fused model can start from a video-only model's
encoder (``encoders_from``; the app's recipe does this when ``TrainConfig.warm_start`` is set).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from inference.features.spec import FeatureSpec
from inference.metrics import roc_auc
from inference.runtime import Normalization
from models.cmcl_net import CmclNet, ModelConfig, focal_loss, triplet_loss
from models.dataset import KINDS, Windows

THRESHOLD_GRID = np.linspace(0.05, 0.95, 91)


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    modality: str = "video+ecg"
    pretrain_epochs: int = 6
    finetune_epochs: int = 14
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-4
    margin: float = 0.5
    triplets_per_epoch: int = 4096
    hard_negative_fraction: float = 0.5
    negatives_per_positive: int = 8
    focal_alpha: float = 0.75
    focal_gamma: float = 2.0
    # video+ECG, modality dropout: shares of the fine-tuning windows whose ECG inputs, and (drawn
    # independently) whose video inputs, are blanked. Blanking ECG keeps the model spotting from the face
    # alone; blanking video makes it learn what the heart says. Without the latter it leaned on the face
    # only (it spots every ME on the training faces) and did no better than the video-only model on an
    # unseen face, where the heart is the one evidence that does not depend on the face.
    ecg_dropout: float = 0.25
    video_dropout: float = 0.25
    threads: int = 2
    # video+ECG: first train the video-only variant (same seed) and start from its video encoder. Trained
    # jointly from scratch, the fused model learned weaker video features than the video-only one
    # ("modality competition", Du et al. 2023), and spotted worse on an unseen face.
    warm_start: bool = True

    def __post_init__(self) -> None:
        for name in ("ecg_dropout", "video_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), not {getattr(self, name)}")


@dataclass
class TrainResult:
    model: CmclNet
    normalization: dict[str, dict[str, list[float]]]
    threshold: float
    report: dict[str, Any] = field(default_factory=dict)


def best_f1_threshold(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    best = (0.5, -1.0)
    for threshold in THRESHOLD_GRID:
        predicted = scores >= threshold
        tp = int(np.sum(predicted & (labels == 1)))
        fp = int(np.sum(predicted & (labels == 0)))
        fn = int(np.sum(~predicted & (labels == 1)))
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        if f1 > best[1]:
            best = (float(threshold), f1)
    return best


def _tensors(windows: Windows, norm: Normalization, index: np.ndarray) -> tuple[torch.Tensor, ...]:
    """Standardized inputs, by the runtime's own code (training applies exactly what the runtime applies)."""
    arrays = norm.apply(windows.video[index], windows.ecg[index], windows.hrv[index])
    return tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in arrays)


def predict(
    model: CmclNet, windows: Windows, norm: dict[str, dict[str, list[float]]], batch_size: int = 512
) -> np.ndarray:
    """Probabilities for every window (torch, eval mode)."""
    if isinstance(norm, dict):
        norm = Normalization.from_dict(norm, model.spec)
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(windows), batch_size):
            index = np.arange(start, min(start + batch_size, len(windows)))
            out.append(torch.sigmoid(model(*_tensors(windows, norm, index))).numpy())
    return np.concatenate(out) if out else np.zeros(0)


def drop_modalities(video: torch.Tensor, ecg: torch.Tensor, hrv: torch.Tensor, config: TrainConfig,
                    rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Modality dropout for the fused model (ModDrop, Neverova et al. 2015): a share
    ``config.ecg_dropout`` of the windows get their ECG inputs (wave and HRV) set to the training mean
    (0 once standardized), and, drawn independently, a share ``config.video_dropout`` their video inputs.
    Single-modality variants are returned unchanged."""
    if config.modality != "video+ecg":
        return video, ecg, hrv
    if config.ecg_dropout > 0:
        ecg, hrv = _blank_windows((ecg, hrv), config.ecg_dropout, rng)
    if config.video_dropout > 0:
        (video,) = _blank_windows((video,), config.video_dropout, rng)
    return video, ecg, hrv


def _blank_windows(inputs: tuple[torch.Tensor, ...], share: float,
                   rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
    """Zero the same randomly drawn windows (first axis) of every input, whole."""
    blank = torch.from_numpy(rng.random(len(inputs[0])) < share)
    return tuple(x.masked_fill(blank.view(-1, *[1] * (x.dim() - 1)), 0.0) for x in inputs)


def _triplets(windows: Windows, rng: np.random.Generator, n: int, hard_fraction: float) -> np.ndarray:
    positives = np.flatnonzero(windows.label == 1)
    negatives = np.flatnonzero(windows.label == 0)
    hard = negatives[windows.kind[negatives] != KINDS.index("none")]
    anchors = rng.choice(positives, n)
    others = rng.choice(positives, n)
    for _ in range(4):  # a positive from another expression than its anchor's
        same = windows.event[others] == windows.event[anchors]
        if not same.any():
            break
        others[same] = rng.choice(positives, int(same.sum()))
    use_hard = (rng.random(n) < hard_fraction) & (len(hard) > 0)
    negs = rng.choice(negatives, n)
    if len(hard):
        negs[use_hard] = rng.choice(hard, int(use_hard.sum()))
    return np.stack([anchors, others, negs], axis=1)


def copy_encoders(donor: CmclNet, model: CmclNet) -> list[str]:
    """Copy the per-modality encoders that ``donor`` and ``model`` both have; returns their names."""
    copied = []
    for name in ("video_encoder", "ecg_encoder"):
        source, target = getattr(donor, name), getattr(model, name)
        if source is not None and target is not None:
            target.load_state_dict(source.state_dict())
            copied.append(name)
    return copied


def train_model(
    train: Windows,
    val: Windows,
    spec: FeatureSpec,
    config: TrainConfig,
    model_config: ModelConfig | None = None,
    progress: Callable[[str, int, int, dict[str, float]], None] | None = None,
    select: Callable[[CmclNet, Normalization], float] | None = None,
    encoders_from: CmclNet | None = None,
) -> TrainResult:
    """Train one CMCL-Net (variant ``config.modality``); deterministic for a given seed and machine.

    The fine-tuning epoch kept is the one with the best ``select(model, normalization)`` (higher is better;
    default: the validation window AUC). The fused model is fine-tuned with modality dropout
    (:func:`drop_modalities`)."""
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(config.seed)
    started = time.monotonic()
    train = train.subset(train.label != -1)
    val = val.subset(val.label != -1)
    if not (train.label == 1).any() or not (train.label == 0).any():
        raise ValueError("training windows need both ME and non-ME windows")
    norm = Normalization.fit(train.video, train.ecg, train.hrv)
    model_config = model_config or ModelConfig(modality=config.modality)
    model = CmclNet(spec, model_config)
    warm = copy_encoders(encoders_from, model) if encoders_from is not None else []
    history: list[dict[str, float]] = []

    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    for epoch in range(config.pretrain_epochs):
        model.train()
        triplets = _triplets(train, rng, config.triplets_per_epoch, config.hard_negative_fraction)
        losses = []
        for start in range(0, len(triplets), config.batch_size):
            batch = triplets[start : start + config.batch_size]
            anchor, positive, negative = (model.encode(*_tensors(train, norm, batch[:, k])) for k in range(3))
            loss = triplet_loss(anchor, positive, negative, config.margin)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        history.append({"stage": "pretrain", "epoch": epoch, "triplet_loss": float(np.mean(losses))})
        if progress:
            progress("pretrain", epoch + 1, config.pretrain_epochs, history[-1])

    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    positives = np.flatnonzero(train.label == 1)
    negatives = np.flatnonzero(train.label == 0)
    best = (-1.0, copy.deepcopy(model.state_dict()), 0)
    for epoch in range(config.finetune_epochs):
        model.train()
        n_neg = min(len(negatives), config.negatives_per_positive * len(positives))
        index = np.concatenate([positives, rng.choice(negatives, n_neg, replace=False)])
        rng.shuffle(index)
        losses = []
        for start in range(0, len(index), config.batch_size):
            batch = index[start : start + config.batch_size]
            logits = model(*drop_modalities(*_tensors(train, norm, batch), config, rng))
            targets = torch.from_numpy(train.label[batch].astype(np.float32))
            loss = focal_loss(logits, targets, config.focal_alpha, config.focal_gamma)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        model.eval()
        auc = roc_auc(val.label, predict(model, val, norm)) if len(val) else float("nan")
        history.append(
            {"stage": "finetune", "epoch": epoch, "focal_loss": float(np.mean(losses)), "val_auc": auc}
        )
        chosen_by = auc
        if select is not None and len(val):
            chosen_by = history[-1]["val_select"] = float(select(model, norm))
        if progress:
            progress("finetune", epoch + 1, config.finetune_epochs, history[-1])
        if not np.isnan(chosen_by) and chosen_by > best[0]:
            best = (chosen_by, copy.deepcopy(model.state_dict()), epoch)
    if best[0] >= 0:
        model.load_state_dict(best[1])
    model.eval()
    val_scores = predict(model, val, norm)
    threshold, val_f1 = best_f1_threshold(val.label, val_scores) if len(val) else (0.5, float("nan"))
    report = {
        "train_config": asdict(config),
        "model_config": asdict(model_config),
        "train_windows": len(train),
        "train_me_windows": int((train.label == 1).sum()),
        "val_windows": len(val),
        "val_me_windows": int((val.label == 1).sum()),
        "best_epoch": best[2],
        "val_auc": history[config.pretrain_epochs + best[2]]["val_auc"] if best[0] >= 0 else float("nan"),
        "val_select": best[0],
        "threshold": threshold,
        "val_window_f1": val_f1,
        "history": history,
        "encoders_from": warm,
        "train_seconds": round(time.monotonic() - started, 1),
    }
    return TrainResult(model, norm.to_dict(), threshold, report)
