"""Training and evaluation data: per-session features (computed once, cached) and labelled windows.

A window [start, start + window_ms) is an ME window when an ME's apex lies in its middle half; windows
that touch an ME otherwise are ambiguous and left out of training. Windows over blinks, head moves and
macro-expressions are the hard negatives.
"""

from __future__ import annotations

import csv
import hashlib
import json
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from acquisition.errors import InputFileError
from acquisition.readers.annotations import Interval, read_megc_csv
from acquisition.session import SessionReader
from inference.features.ecg import ecg_wave_window, hrv_features
from inference.features.spec import FeatureSpec
from inference.features.video import extract_session_features, hold_features, video_window
from inference.signal.causal import CausalHeartRate
from inference.signal.ecg import ecg_peaks

EVENTS_FILE = "events.csv"  # synthetic sessions list their distractors here (truth/events.csv)
KINDS = ("none", "me", "macro", "blink", "head")
LABEL_IGNORE = -1
APEX_ZONE = (0.25, 0.75)  # an ME window has the apex in this part of the window
CACHE_VERSION = 2
CACHE_FORMAT = 2  # of SessionData.save (2: arrays and JSON, no pickle)
HEART_BLOCK_S = 1.0  # ECG pushed through the live heart-rate detector in blocks this long (any size: same)


@dataclass
class SessionData:
    session_id: str
    subject: str
    face: str
    fps: float
    ecg_rate: float
    video: np.ndarray  # (n_frames, channels) per-frame motion features
    frame_ms: np.ndarray  # each frame's time on the session clock
    ecg: np.ndarray  # raw ECG lead (the window function filters its own segment)
    r_peaks: np.ndarray  # offline R-peaks (NeuroKit2 on the whole ECG): the HRV features' beats
    truth: list[Interval]
    distractors: list[tuple[str, float, float]] = field(default_factory=list)  # (kind, onset_ms, offset_ms)
    _heart: CausalHeartRate | None = field(default=None, repr=False, compare=False)

    @property
    def duration_ms(self) -> float:
        return len(self.ecg) / self.ecg_rate * 1000.0

    def held_video(self, spec: FeatureSpec) -> np.ndarray:
        """The per-frame features as the engine's extractor gives them under ``spec`` (held between
        measurements; the cache may hold them measured on every frame)."""
        return hold_features(self.video, self.fps, spec)

    def heart(self) -> CausalHeartRate:
        """The session's ECG through the live engine's causal R-peak detector (computed once): the HRS
        filter decides on it offline exactly as it does live."""
        if self._heart is None:
            heart = CausalHeartRate(self.ecg_rate)
            block = max(1, round(HEART_BLOCK_S * self.ecg_rate))
            for first in range(0, len(self.ecg), block):
                heart.push(self.ecg[first : first + block])
            self._heart = heart
        return self._heart

    def save(self, path: Path) -> None:
        """Everything training and evaluation need, without the frames (a few MB per session). Arrays and
        one JSON text: nothing pickled, so a cache file cannot run code when loaded."""
        described = {
            "format": CACHE_FORMAT,
            "session_id": self.session_id, "subject": self.subject, "face": self.face, "fps": self.fps,
            "ecg_rate": self.ecg_rate,
            "truth": [asdict(t) for t in self.truth],
            "distractors": [list(d) for d in self.distractors],
        }
        np.savez_compressed(path, described=np.array(json.dumps(described)), video=self.video,
                            frame_ms=self.frame_ms, ecg=self.ecg, r_peaks=self.r_peaks)

    @classmethod
    def load(cls, path: Path) -> SessionData:
        try:
            with np.load(path, allow_pickle=False) as data:
                described = json.loads(str(data["described"]))
                if described.get("format") != CACHE_FORMAT:
                    raise ValueError(f"cache format {described.get('format')}, not {CACHE_FORMAT}")
                arrays = {k: data[k] for k in ("video", "frame_ms", "ecg", "r_peaks")}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise InputFileError(path, f"not a mespot feature cache ({exc}); delete it to rebuild") from None
        return cls(
            described["session_id"], described["subject"], described["face"], float(described["fps"]),
            float(described["ecg_rate"]), arrays["video"], arrays["frame_ms"], arrays["ecg"],
            arrays["r_peaks"],
            [Interval(**t) for t in described["truth"]],
            [(str(k), float(a), float(b)) for k, a, b in described["distractors"]],
        )


def _cache_key(reader: SessionReader, spec: FeatureSpec) -> str:
    text = f"{CACHE_VERSION}|{reader.path.resolve()}|{len(reader)}|{reader.ecg_sample_count}|{spec.to_json()}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _distractors(path: Path) -> list[tuple[str, float, float]]:
    events = path / "truth" / EVENTS_FILE
    if not events.exists():
        return []
    out = []
    with events.open() as f:
        for row in csv.DictReader(f):
            kind = {"blink": "blink", "head_move": "head", "macro": "macro"}.get(row["kind"])
            if kind and row["onset_s"] and row["offset_s"]:
                out.append((kind, float(row["onset_s"]) * 1000.0, float(row["offset_s"]) * 1000.0))
    return out


def load_session_data(
    path: str | Path,
    spec: FeatureSpec,
    cache_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    *,
    require_truth: bool = True,
) -> SessionData:
    """Features of one annotated session (video features are cached under ``cache_dir``); with
    ``require_truth`` off, a session without annotations has no truth (all its spotted intervals are
    false)."""
    reader = SessionReader(path)
    if reader.truth_megc_path is None and require_truth:
        raise InputFileError(reader.path, "session has no ground truth (truth/megc.csv) to train on")
    meta = reader.metadata
    video = None
    cache = cache_dir / f"{reader.path.name}-{_cache_key(reader, spec)}.npy" if cache_dir else None
    if cache is not None and cache.exists():
        video = np.load(cache)
    if video is None:
        video = extract_session_features(reader, reader.fps, spec, progress=progress)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.save(cache, video)
    ecg = np.asarray(reader.ecg_channel(), dtype=float)  # NaN where samples were lost
    rate = reader.ecg_rate
    peaks = ecg_peaks(np.nan_to_num(ecg), rate)
    return SessionData(
        session_id=meta.session_id,
        subject=meta.subject,
        face=str(meta.devices.get("face", meta.subject)),
        fps=reader.fps,
        ecg_rate=rate,
        video=video,
        frame_ms=reader.frame_samples() / rate * 1000.0,
        ecg=ecg,
        r_peaks=peaks,
        truth=read_megc_csv(reader.truth_megc_path) if reader.truth_megc_path is not None else [],
        distractors=_distractors(reader.path),
    )


@dataclass
class Windows:
    video: np.ndarray  # (n, video_steps, channels)
    ecg: np.ndarray  # (n, ecg_steps)
    hrv: np.ndarray  # (n, n_hrv)
    label: np.ndarray  # 1 ME, 0 not, -1 ambiguous
    kind: np.ndarray  # index into KINDS
    event: np.ndarray  # which ME (global id) a positive window belongs to, -1 otherwise
    group: np.ndarray  # session index
    start_ms: np.ndarray

    def __len__(self) -> int:
        return len(self.label)

    def subset(self, mask: np.ndarray) -> Windows:
        return Windows(*(getattr(self, f)[mask] for f in self.__dataclass_fields__))

    @staticmethod
    def concat(parts: list[Windows]) -> Windows:
        return Windows(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in Windows.__dataclass_fields__)
        )


def window_starts(duration_ms: float, spec: FeatureSpec) -> np.ndarray:
    return np.arange(0.0, duration_ms - spec.window_ms - spec.ecg_post_ms + 1e-9, spec.stride_ms)


def session_windows(data: SessionData, spec: FeatureSpec, group: int = 0, event_offset: int = 0) -> Windows:
    """Every window of a session (stride ``spec.stride_ms``) with its label and kind."""
    starts = window_starts(data.duration_ms, spec)
    n = len(starts)
    to_ms = 1000.0 / data.fps
    held = data.held_video(spec)
    video = (
        np.stack([video_window(held, data.frame_ms, s, spec) for s in starts])
        if n
        else np.zeros((0, spec.video_steps, data.video.shape[1]), np.float32)
    )
    ecg = np.zeros((n, spec.ecg_steps), np.float32)
    hrv = np.zeros((n, len(spec.hrv_features)), np.float32)
    heart = data.heart()
    for i, s in enumerate(starts):
        start_sample = round(s * data.ecg_rate / 1000.0)
        ecg[i] = ecg_wave_window(data.ecg, data.ecg_rate, start_sample, spec)
        at = start_sample + spec.samples(spec.window_ms + spec.ecg_post_ms, data.ecg_rate)
        # the beats the live engine's detector had confirmed when the window's last sample arrived
        hrv[i] = hrv_features(heart.peaks_confirmed_by(at), data.ecg_rate, at, spec)
    label = np.zeros(n, np.int8)
    kind = np.zeros(n, np.int8)
    event = np.full(n, -1, np.int64)
    ends = starts + spec.window_ms
    frame0 = data.frame_ms[0] if len(data.frame_ms) else 0.0
    for j, interval in enumerate(data.truth):
        onset = frame0 + interval.onset * to_ms
        offset = frame0 + interval.offset * to_ms
        apex = (
            frame0
            + (interval.apex if interval.apex is not None else (interval.onset + interval.offset) / 2) * to_ms
        )
        touching = (starts < offset) & (ends > onset)
        if interval.kind == "ME":
            zone_lo = starts + APEX_ZONE[0] * spec.window_ms
            zone_hi = starts + APEX_ZONE[1] * spec.window_ms
            positive = (apex >= zone_lo) & (apex < zone_hi)
            label[touching & ~positive & (label != 1)] = LABEL_IGNORE
            label[positive] = 1
            kind[touching] = KINDS.index("me")
            event[positive] = event_offset + j
        else:
            kind[touching & (kind == 0)] = KINDS.index("macro")
    for name, onset, offset in data.distractors:
        touching = (starts < offset) & (ends > onset) & (kind == 0)
        kind[touching] = KINDS.index(name)
    return Windows(video.astype(np.float32), ecg, hrv, label, kind, event, np.full(n, group), starts)
