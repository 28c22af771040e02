"""CMCL-Net: Cross-Modal Contrastive Learning Network for micro-expression spotting enhanced by ECG.

One window in, one logit out ("this window holds an ME")::

    video (B, video_steps, video_channels) -> per-step conv extractor -> patch embedding -> + position
    ecg_wave (B, ecg_steps)                -> causal dilated TCN       -> patch embedding -> + position
    hrv (B, n_hrv)                         -> MLP -> one HRV token, appended to the ECG tokens
    encoder_depth x self-attention block per stream (each modality's own temporal context)
    depth x cross-attention block (both ways at once, pre-LayerNorm, residual):
        video += MHA(q=LN(video), kv=LN(ecg))      ecg += MHA(q=LN(ecg), kv=LN(video))
        video += MLP(LN(video))                    ecg += MLP(LN(ecg))
    embedding = concat(mean(video tokens), mean(ECG wave tokens), HRV token)  -> triplet loss (pre-training)
    logit     = head(embedding) = Linear(GELU(Linear(LN(embedding))))         -> focal / weighted BCE

HRV: the HRV features enter as an extra token of the ECG stream (so video queries can attend to them)
*and* that token, after the blocks, is concatenated at fusion (so the head always sees it directly).

Ablation variants keep the same three inputs (the unused ones are ignored) so that export and runtime
code is identical: ``"video"`` runs the blocks as self-attention over the video tokens and embeds
``mean(video)``; ``"ecg"`` runs them as self-attention over the ECG + HRV tokens and embeds
``concat(mean(ECG wave tokens), HRV token)``.

All sizes come from the :class:`~inference.features.spec.FeatureSpec` at construction time (the video
channel count in particular is never hard-coded here).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from inference.features.spec import FeatureSpec

Modality = Literal["video+ecg", "video", "ecg"]
MODALITIES: tuple[str, ...] = ("video+ecg", "video", "ecg")

DEFAULT_TRIPLET_MARGIN = 0.3  # on L2-normalized embeddings, where distances lie in [0, 2]
DEFAULT_FOCAL_ALPHA = 0.25  # weight of the positive (ME) class, as in Lin et al. 2017
DEFAULT_FOCAL_GAMMA = 2.0
_DISTANCE_EPS = 1e-12  # keeps sqrt differentiable at zero distance
_POS_INIT_STD = 0.02  # learned positional embeddings start small


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of CMCL-Net (stored in the model file as ``mespot.model_config``)."""

    d_model: int = 64
    heads: int = 4
    depth: int = 2  # cross-attention blocks
    encoder_depth: int = 1  # self-attention blocks inside each modality's feature extractor
    patch_frames: int = 4  # video patch embedding: this many time steps per token
    ecg_patch: int = 16  # ECG patch embedding: this many samples per token
    tcn_channels: int = 32
    tcn_kernel: int = 3
    tcn_levels: int = 4  # residual blocks with dilations 1, 2, 4, ... 2**(levels-1)
    mlp_ratio: int = 2  # hidden width of the block MLPs, in units of d_model
    dropout: float = 0.1
    modality: Modality = "video+ecg"

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(f"modality must be one of {', '.join(MODALITIES)}, not {self.modality!r}")
        if self.d_model <= 0 or self.heads <= 0 or self.d_model % self.heads:
            raise ValueError(f"d_model ({self.d_model}) must be a positive multiple of heads ({self.heads})")
        for name in ("depth", "encoder_depth", "patch_frames", "ecg_patch", "tcn_channels", "tcn_kernel",
                     "tcn_levels", "mlp_ratio"):
            if getattr(self, name) < (0 if name in ("depth", "encoder_depth") else 1):
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout}")

    @property
    def uses_video(self) -> bool:
        return self.modality in ("video+ecg", "video")

    @property
    def uses_ecg(self) -> bool:
        return self.modality in ("video+ecg", "ecg")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        data = json.loads(text)
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown model config field(s): {', '.join(sorted(unknown))}")
        return cls(**data)


# --- building blocks ------------------------------------------------------------------------------------


class _CausalTcnBlock(nn.Module):
    """Two dilated causal convolutions with a residual connection (Bai et al. 2018, without weight norm)."""

    def __init__(self, channels: int, kernel: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.left_pad = (kernel - 1) * dilation
        self.conv1 = nn.Conv1d(channels, channels, kernel, dilation=dilation)
        self.conv2 = nn.Conv1d(channels, channels, kernel, dilation=dilation)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dropout(F.gelu(self.conv1(F.pad(x, (self.left_pad, 0)))))
        y = self.dropout(F.gelu(self.conv2(F.pad(y, (self.left_pad, 0)))))
        return x + y


class _Mlp(nn.Sequential):
    def __init__(self, dim: int, hidden: int, dropout: float) -> None:
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim),
                         nn.Dropout(dropout))


class _AttentionHalf(nn.Module):
    """One stream's half of a block: pre-LN attention on (other) keys/values, then pre-LN MLP; residuals.

    ``cross``: the keys/values come from the other stream and get their own LayerNorm; otherwise (the
    single-modality variants) the stream attends to itself through one LayerNorm.
    """

    def __init__(self, config: ModelConfig, *, cross: bool) -> None:
        super().__init__()
        d = config.d_model
        self.norm_q = nn.LayerNorm(d)
        self.norm_kv = nn.LayerNorm(d) if cross else None
        self.attn = nn.MultiheadAttention(d, config.heads, dropout=config.dropout, batch_first=True)
        self.drop = nn.Dropout(config.dropout)
        self.norm_mlp = nn.LayerNorm(d)
        self.mlp = _Mlp(d, d * config.mlp_ratio, config.dropout)

    def attend(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        q = self.norm_q(x)
        kv = q if self.norm_kv is None or context is None else self.norm_kv(context)
        out, _ = self.attn(q, kv, kv, need_weights=False)
        return x + self.drop(out)

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mlp(self.norm_mlp(x))


class CrossAttentionBlock(nn.Module):
    """Video attends to ECG and ECG attends to video (both from the block's input), then per-stream MLPs."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.video = _AttentionHalf(config, cross=True)
        self.ecg = _AttentionHalf(config, cross=True)

    def forward(self, video: torch.Tensor, ecg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        video_new = self.video.attend(video, ecg)
        ecg_new = self.ecg.attend(ecg, video)
        return self.video.feed_forward(video_new), self.ecg.feed_forward(ecg_new)


class SelfAttentionBlock(nn.Module):
    """The single-modality stand-in of :class:`CrossAttentionBlock`: the stream attends to itself."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.stream = _AttentionHalf(config, cross=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stream.feed_forward(self.stream.attend(x))


class VideoEncoder(nn.Module):
    """Per-step 1-D conv feature extractor, patch embedding (kernel = stride = patch_frames), positions."""

    def __init__(self, spec: FeatureSpec, config: ModelConfig) -> None:
        super().__init__()
        d = config.d_model
        self.extract = nn.Sequential(
            nn.Conv1d(spec.video_channels, d, kernel_size=3, padding=1), nn.GELU(),
            nn.Dropout(config.dropout), nn.Conv1d(d, d, kernel_size=3, padding=1), nn.GELU(),
        )
        self.patch = nn.Conv1d(d, d, kernel_size=config.patch_frames, stride=config.patch_frames)
        self.tokens = spec.video_steps // config.patch_frames
        self.position = nn.Parameter(torch.randn(1, self.tokens, d) * _POS_INIT_STD)
        self.context = nn.Sequential(*(SelfAttentionBlock(config) for _ in range(config.encoder_depth)))

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        x = self.patch(self.extract(video.transpose(1, 2)))  # (B, d, tokens)
        return self.context(x.transpose(1, 2) + self.position)


class EcgEncoder(nn.Module):
    """Causal TCN over the wave, patch embedding, positions; plus the HRV token appended at the end."""

    def __init__(self, spec: FeatureSpec, config: ModelConfig) -> None:
        super().__init__()
        d, c = config.d_model, config.tcn_channels
        self.stem = nn.Conv1d(1, c, kernel_size=1)
        self.tcn = nn.Sequential(*(_CausalTcnBlock(c, config.tcn_kernel, 2**level, config.dropout)
                                   for level in range(config.tcn_levels)))
        self.patch = nn.Conv1d(c, d, kernel_size=config.ecg_patch, stride=config.ecg_patch)
        self.tokens = spec.ecg_steps // config.ecg_patch
        self.position = nn.Parameter(torch.randn(1, self.tokens, d) * _POS_INIT_STD)
        n_hrv = len(spec.hrv_features)
        self.hrv = nn.Sequential(nn.Linear(n_hrv, d), nn.GELU(), nn.Linear(d, d))
        self.hrv_type = nn.Parameter(torch.randn(1, 1, d) * _POS_INIT_STD)
        self.context = nn.Sequential(*(SelfAttentionBlock(config) for _ in range(config.encoder_depth)))

    def forward(self, ecg_wave: torch.Tensor, hrv: torch.Tensor) -> torch.Tensor:
        x = self.patch(self.tcn(self.stem(ecg_wave.unsqueeze(1))))  # (B, d, tokens)
        wave_tokens = x.transpose(1, 2) + self.position
        hrv_token = self.hrv(hrv).unsqueeze(1) + self.hrv_type
        # (B, tokens + 1, d); the HRV token is last
        return self.context(torch.cat([wave_tokens, hrv_token], dim=1))


# --- the network ----------------------------------------------------------------------------------------


class CmclNet(nn.Module):
    """CMCL-Net and its single-modality ablations (see the module docstring for the data flow)."""

    def __init__(self, spec: FeatureSpec, config: ModelConfig | None = None) -> None:
        super().__init__()
        config = config or ModelConfig()
        _check_fits(spec, config)
        self.spec = spec
        self.config = config
        d = config.d_model
        self.video_encoder = VideoEncoder(spec, config) if config.uses_video else None
        self.ecg_encoder = EcgEncoder(spec, config) if config.uses_ecg else None
        block: type[nn.Module] = CrossAttentionBlock if config.modality == "video+ecg" else SelfAttentionBlock
        self.blocks = nn.ModuleList(block(config) for _ in range(config.depth))
        parts = (1 if config.uses_video else 0) + (2 if config.uses_ecg else 0)  # ECG: wave mean + HRV token
        self.embed_dim = parts * d
        self.head = nn.Sequential(
            nn.LayerNorm(self.embed_dim), nn.Linear(self.embed_dim, d), nn.GELU(), nn.Dropout(config.dropout),
            nn.Linear(d, 1),
        )

    def encode(self, video: torch.Tensor, ecg_wave: torch.Tensor, hrv: torch.Tensor) -> torch.Tensor:
        """The fused embedding (B, embed_dim) that the triplet loss works on (not normalized)."""
        video_tokens = self.video_encoder(video) if self.video_encoder is not None else None
        ecg_tokens = self.ecg_encoder(ecg_wave, hrv) if self.ecg_encoder is not None else None
        for block in self.blocks:
            if video_tokens is not None and ecg_tokens is not None:
                video_tokens, ecg_tokens = block(video_tokens, ecg_tokens)
            elif video_tokens is not None:
                video_tokens = block(video_tokens)
            else:
                ecg_tokens = block(ecg_tokens)
        pooled: list[torch.Tensor] = []
        if video_tokens is not None:
            pooled.append(video_tokens.mean(dim=1))
        if ecg_tokens is not None:
            pooled += [ecg_tokens[:, :-1].mean(dim=1), ecg_tokens[:, -1]]
        return torch.cat(pooled, dim=1)

    def forward(self, video: torch.Tensor, ecg_wave: torch.Tensor, hrv: torch.Tensor) -> torch.Tensor:
        """Logit (B,) of "this window holds an ME"."""
        return self.head(self.encode(video, ecg_wave, hrv)).squeeze(-1)

    def example_inputs(self, batch: int = 1, *, seed: int | None = None) -> tuple[torch.Tensor, ...]:
        """Random standardized-looking inputs of the right shapes (export, tests, benchmarks)."""
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        spec = self.spec
        return (
            torch.randn(batch, spec.video_steps, spec.video_channels, generator=generator),
            torch.randn(batch, spec.ecg_steps, generator=generator),
            torch.randn(batch, len(spec.hrv_features), generator=generator),
        )


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _check_fits(spec: FeatureSpec, config: ModelConfig) -> None:
    if spec.video_channels <= 0:
        raise ValueError("spec.video_channels is 0: take the spec from the video extractor's layout")
    if spec.video_steps % config.patch_frames:
        raise ValueError(f"video_steps ({spec.video_steps}) is not a multiple of patch_frames "
                         f"({config.patch_frames})")
    if spec.ecg_steps % config.ecg_patch:
        raise ValueError(f"ecg_steps ({spec.ecg_steps}) is not a multiple of ecg_patch ({config.ecg_patch})")
    if not spec.hrv_features:
        raise ValueError("spec.hrv_features is empty")


# --- losses ---------------------------------------------------------------------------------------------


def triplet_loss(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor,
                 margin: float = DEFAULT_TRIPLET_MARGIN, reduction: str = "mean") -> torch.Tensor:
    """Triplet margin loss on L2-normalized embeddings (B, D): ``max(0, |a-p| - |a-n| + margin)``.

    Embeddings are normalized first, so distances lie in [0, 2] and the margin is scale-free. A zero
    embedding stays zero (``F.normalize`` guards the division). An empty batch gives 0 (``"mean"``).
    """
    if not anchor.shape == positive.shape == negative.shape or anchor.dim() != 2:
        raise ValueError(f"triplet_loss wants three (B, D) tensors of one shape, got {tuple(anchor.shape)}, "
                         f"{tuple(positive.shape)}, {tuple(negative.shape)}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, not {margin}")
    a, p, n = (F.normalize(x, dim=1) for x in (anchor, positive, negative))
    d_ap = ((a - p).pow(2).sum(dim=1) + _DISTANCE_EPS).sqrt()
    d_an = ((a - n).pow(2).sum(dim=1) + _DISTANCE_EPS).sqrt()
    return _reduce(F.relu(d_ap - d_an + margin), reduction)


def focal_loss(logits: torch.Tensor, targets: torch.Tensor, alpha: float | None = DEFAULT_FOCAL_ALPHA,
               gamma: float = DEFAULT_FOCAL_GAMMA, reduction: str = "mean") -> torch.Tensor:
    """Binary focal loss (Lin et al. 2017) on logits: ``-alpha_t (1 - p_t)**gamma log(p_t)``.

    For rare positives (ME windows): ``gamma`` down-weights the many easy negatives, ``alpha`` weights
    the positive class (``1 - alpha`` the negative; ``None`` = no class weight). ``gamma=0, alpha=None``
    is plain BCE. Targets are 0/1 floats of the logits' shape.
    """
    targets = _check_binary(logits, targets)
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0, not {gamma}")
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = torch.exp(-ce)  # the probability given to the true class
    loss = (1.0 - p_t).pow(gamma) * ce
    if alpha is not None:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], not {alpha}")
        loss = (alpha * targets + (1.0 - alpha) * (1.0 - targets)) * loss
    return _reduce(loss, reduction)


def weighted_bce_loss(logits: torch.Tensor, targets: torch.Tensor, pos_weight: float,
                      reduction: str = "mean") -> torch.Tensor:
    """Class-weighted BCE on logits: positives weigh ``pos_weight`` (see :func:`balanced_pos_weight`)."""
    targets = _check_binary(logits, targets)
    if pos_weight <= 0:
        raise ValueError(f"pos_weight must be > 0, not {pos_weight}")
    weight = torch.tensor(pos_weight, dtype=logits.dtype, device=logits.device)
    return _reduce(F.binary_cross_entropy_with_logits(logits, targets, pos_weight=weight, reduction="none"),
                   reduction)


def balanced_pos_weight(targets: torch.Tensor) -> float:
    """``negatives / positives`` of a label set (1.0 when either class is absent)."""
    positives = float((targets > 0.5).sum())
    negatives = float(targets.numel()) - positives
    return negatives / positives if positives and negatives else 1.0


def _check_binary(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    if logits.shape != targets.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} differ in shape")
    return targets.to(logits.dtype)


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.mean() if loss.numel() else loss.sum()  # an empty batch gives 0, not nan
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', not {reduction!r}")
