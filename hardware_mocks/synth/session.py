"""`mespot synth`: a synthetic trial written in the session format, with its ground truth.

One seed fixes everything: the face, the events, the ECG and the sensor noise. The trial is rendered
second by second and written through the same :class:`SessionWriter` the recorder uses, so the result
is indistinguishable (in format) from a lab recording.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from acquisition.readers.annotations import Interval, MecgCodingRow, write_mecg_coding_csv, write_megc_csv
from acquisition.readers.video import frame_name
from acquisition.session import EcgInfo, SessionMetadata, SessionWriter, TriggerInfo, VideoInfo
from acquisition.session._format import FRAME_INDEX_DTYPE, TRUTH_CODING_FILE, TRUTH_DIR, TRUTH_MEGC_FILE
from hardware_mocks.synth.ecg import HeartRateResponse, simulate_ecg, simulate_heart_rate
from hardware_mocks.synth.face import FaceAnimator, Placement, face_names, load_face
from hardware_mocks.synth.timeline import (
    Timeline,
    TimelineProfile,
    expression_envelope,
    make_timeline,
    step_envelope,
)

ECG_CHANNEL = "ECG"
TRIGGER_CHANNEL = "TRIGGER"
TRIGGER_HIGH_V = 5.0  # MP160 digital input level while the pulse is high
TRUTH_EVENTS_FILE = "events.csv"  # every synthetic event, distractors included (training hard negatives)
TRIAL_MARKER = 101  # MECG stimulus markers run 101-148
WALL_CLOCK_DAY = dt.datetime(2026, 1, 12, 9, 0, 0)  # synthetic sessions happen on a fixed day


@dataclass(frozen=True)
class SensorProfile:
    """Camera sensor and lighting: noise in grey levels, gains as fractions."""

    noise_sd: float = 1.5
    flicker_hz: float = 100.0  # mains-powered lights flicker at twice the line frequency
    flicker_amplitude: float = 0.004
    drift_amplitude: float = 0.02
    drift_period_s: float = 40.0
    sway_amplitude: float = 0.003  # postural sway, fraction of face width
    sway_hz: float = 0.25
    noise_bank_size: int = 8


@dataclass
class SynthConfig:
    out: Path
    minutes: float = 1.0
    seed: int = 0
    fps: float = 150.0
    ecg_rate: float = 1000.0
    frame_size: tuple[int, int] = (2040, 1080)
    face_px: int = 280  # face width in the camera frame
    roi_scale: float = 1.8  # stored face region side, in face widths
    store_full_frame: bool = False
    face: str | None = None  # None: chosen by seed
    subject: str = ""
    trial: str = "1"
    trigger_pulse_ms: float = 2.0
    frames_per_chunk: int = 150
    overwrite: bool = False
    timeline: TimelineProfile = field(default_factory=TimelineProfile)
    sensor: SensorProfile = field(default_factory=SensorProfile)


@dataclass(frozen=True)
class SynthResult:
    path: Path
    timeline: Timeline
    frame_count: int
    ecg_samples: int
    r_peaks: np.ndarray


def trigger_edges(n_frames: int, fps: float, ecg_rate: float) -> np.ndarray:
    """ECG sample index at which the MP160 first sees each frame's rising edge."""
    return np.ceil(np.arange(n_frames) * (ecg_rate / fps) - 1e-9).astype(np.int64)


def trigger_signal(edges: np.ndarray, n_samples: int, pulse_samples: int) -> np.ndarray:
    signal = np.zeros(n_samples)
    for offset in range(pulse_samples):
        idx = edges + offset
        signal[idx[idx < n_samples]] = TRIGGER_HIGH_V
    return signal


def _head_pose(t: np.ndarray, timeline: Timeline, face_px: int, sensor: SensorProfile,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame translation (px) and rotation (deg): sway + drift + discrete head moves."""
    phase = rng.uniform(0, 2 * np.pi, size=3)
    tx = sensor.sway_amplitude * face_px * np.sin(2 * np.pi * sensor.sway_hz * t + phase[0])
    ty = sensor.sway_amplitude * face_px * np.sin(2 * np.pi * sensor.sway_hz * 0.7 * t + phase[1])
    rot = np.zeros_like(t)
    for move in timeline.head_moves:
        env = step_envelope(t, move.onset_s, move.offset_s)
        tx += env * move.translation[0] * face_px
        ty += env * move.translation[1] * face_px
        rot += env * move.rotation_deg
    # head moves accumulate; pull back slowly toward the rest pose so the face stays in view
    return tx, ty, rot


def _max_shift(timeline: Timeline, face_px: int) -> int:
    total = sum(np.hypot(*m.translation) for m in timeline.head_moves)
    return int(np.ceil(min(total, 0.25) * face_px + 0.05 * face_px)) + 4


def _au_amplitudes(t: np.ndarray, timeline: Timeline) -> dict[str, np.ndarray]:
    amplitudes: dict[str, np.ndarray] = {}
    for expr in timeline.expressions:
        env = expr.amplitude * expression_envelope(t, expr.onset_s, expr.apex_s, expr.offset_s)
        for au in expr.action_units:
            amplitudes[au] = amplitudes.get(au, 0) + env
    if timeline.blinks:
        amplitudes["BLINK"] = sum(
            b.amplitude * expression_envelope(t, b.onset_s, (b.onset_s + b.offset_s) / 2, b.offset_s)
            for b in timeline.blinks
        )
    return amplitudes


def _frame_of(t_s: float, fps: float) -> int:
    return round(t_s * fps)


def _write_truth(truth_dir: Path, config: SynthConfig, meta: SessionMetadata, timeline: Timeline,
                 start: dt.datetime) -> None:
    """Ground truth in the MEGC CSV, the MECG coding-file columns, and every event for training."""
    truth_dir.mkdir(parents=True, exist_ok=True)
    video = meta.session_id
    intervals = [
        Interval(
            video=video,
            onset=_frame_of(e.onset_s, config.fps),
            offset=_frame_of(e.offset_s, config.fps),
            apex=_frame_of(e.apex_s, config.fps),
            subject=meta.subject,
            label=e.emotion,
            kind=e.kind,
            action_units=", ".join(e.action_units),
        )
        for e in timeline.expressions
    ]
    write_megc_csv(truth_dir / TRUTH_MEGC_FILE, intervals)

    seconds0 = (start - start.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds()
    date = start.strftime("%Y%m%d")
    emotions = sorted(e.emotion for e in timeline.expressions) or ["neutral"]
    stimulus = max(emotions, key=emotions.count)  # MECG names a trial's video after its stimulus emotion
    filename = f"{stimulus}_{config.trial}_{TRIAL_MARKER}_{meta.subject}_{date}.avi"
    rows = []
    for e, interval in zip(timeline.expressions, intervals, strict=True):
        onset, apex, offset = (frame_name(seconds0 + f / config.fps)
                               for f in (interval.onset, interval.apex or interval.onset, interval.offset))
        rows.append(MecgCodingRow(
            subject=meta.subject,
            filename=filename,
            marker=TRIAL_MARKER,
            onset_time=e.onset_s, apex_time=e.apex_s, offset_time=e.offset_s,
            onset_frame=onset, apex_frame=apex, offset_frame=offset,
            action_units=", ".join(e.action_units), emotion=e.emotion, date=date,
            dif=(interval.apex or interval.onset) - interval.onset,
        ))
    write_mecg_coding_csv(truth_dir / TRUTH_CODING_FILE, rows)

    with (truth_dir / TRUTH_EVENTS_FILE).open("w", newline="") as f:
        ew = csv.writer(f, lineterminator="\n")
        ew.writerow(["kind", "onset_s", "apex_s", "offset_s", "detail"])
        for e in timeline.expressions:
            detail = f"{'+'.join(e.action_units)} amp={e.amplitude:.4f} hr_response={int(e.hr_response)}"
            ew.writerow([e.kind, f"{e.onset_s:.4f}", f"{e.apex_s:.4f}", f"{e.offset_s:.4f}", detail])
        for b in timeline.blinks:
            ew.writerow(["blink", f"{b.onset_s:.4f}", f"{(b.onset_s + b.offset_s) / 2:.4f}",
                         f"{b.offset_s:.4f}", f"amp={b.amplitude:.4f}"])
        for m in timeline.head_moves:
            ew.writerow(["head_move", f"{m.onset_s:.4f}", "", f"{m.offset_s:.4f}",
                         f"dx={m.translation[0]:.4f} dy={m.translation[1]:.4f} rot={m.rotation_deg:.3f}"])
        for s in timeline.spurious_hr_s:
            ew.writerow(["hr_response", "", f"{s:.4f}", "", "spurious"])


def synthesize_session(config: SynthConfig,
                       progress: Callable[[int, int], None] | None = None) -> SynthResult:
    """Render and write one synthetic trial; ``progress(done_frames, total_frames)`` is called per second."""
    rng = np.random.default_rng(config.seed)
    duration_s = config.minutes * 60.0
    face_name = config.face or face_names()[config.seed % len(face_names())]
    face = load_face(face_name)
    placement = Placement.for_face(face, config.frame_size, config.face_px, config.roi_scale)
    timeline = make_timeline(duration_s, rng, config.timeline)

    # ECG on the 1 kHz clock, answering the MEs (and a few spurious accelerations)
    n_samples = round(duration_s * config.ecg_rate)
    responses = [
        HeartRateResponse(e.apex_s, rng.uniform(*config.timeline.hr_response_bpm))
        for e in timeline.micro_expressions
        if e.hr_response
    ] + [HeartRateResponse(s, rng.uniform(*config.timeline.hr_response_bpm)) for s in timeline.spurious_hr_s]
    heart_rate = simulate_heart_rate(duration_s, config.ecg_rate, rng, responses=responses)[:n_samples]
    ecg, r_peaks = simulate_ecg(heart_rate, config.ecg_rate, rng)
    n_frames = int(np.floor(duration_s * config.fps - 1e-9)) + 1
    edges = trigger_edges(n_frames, config.fps, config.ecg_rate)
    n_frames = int(np.searchsorted(edges, n_samples))  # every frame's edge lies inside the recording
    edges = edges[:n_frames]
    pulse_samples = max(1, round(config.trigger_pulse_ms * config.ecg_rate / 1000.0))
    samples = np.column_stack([ecg, trigger_signal(edges, n_samples, pulse_samples)])

    region = (0, 0, *config.frame_size) if config.store_full_frame else placement.roi
    subject = config.subject or f"synth{config.seed:03d}"
    start = WALL_CLOCK_DAY + dt.timedelta(minutes=config.seed % (8 * 60))
    meta = SessionMetadata(
        subject=subject,
        trial=config.trial,
        session_id=f"{subject}_trial{config.trial}",
        video=VideoInfo(
            fps=config.fps,
            resolution=config.frame_size,
            roi=None if config.store_full_frame else placement.roi,
            frames_per_chunk=config.frames_per_chunk,
        ),
        ecg=EcgInfo(config.ecg_rate, [ECG_CHANNEL, TRIGGER_CHANNEL], ["mV", "V"], ECG_CHANNEL,
                    TRIGGER_CHANNEL),
        trigger=TriggerInfo("trigger-box", config.fps, "rising", config.trigger_pulse_ms, TRIGGER_HIGH_V / 2),
        wall_clock_start=start.isoformat(timespec="microseconds"),
        devices={"camera": "synthetic", "ecg": "synthetic", "face": face_name, "seed": config.seed,
                 "face_px": config.face_px},
        source="synthetic",
    )

    t = np.arange(n_frames) / config.fps
    tx, ty, rot = _head_pose(t, timeline, config.face_px, config.sensor, rng)
    amplitudes = _au_amplitudes(t, timeline)
    sensor = config.sensor
    flicker_phase, drift_phase = rng.uniform(0, 2 * np.pi, size=2)
    gain = (1.0 + sensor.flicker_amplitude * np.sin(2 * np.pi * sensor.flicker_hz * t + flicker_phase)
            + sensor.drift_amplitude * np.sin(2 * np.pi * t / sensor.drift_period_s + drift_phase))
    animator = FaceAnimator(face, placement, region, _max_shift(timeline, config.face_px))
    h, w = region[3], region[2]
    pad = 32
    noise_bank = rng.normal(0.0, sensor.noise_sd, size=(sensor.noise_bank_size, h + pad, w + pad))
    noise_bank = noise_bank.astype(np.float32)
    noise_pick = rng.integers(0, sensor.noise_bank_size, size=n_frames)
    noise_offset = rng.integers(0, pad, size=(n_frames, 2))

    index = np.zeros(n_frames, dtype=FRAME_INDEX_DTYPE)
    index["camera_frame"] = np.arange(1, n_frames + 1)  # XIMEA's acq_nframe counts from 1
    index["camera_ts_us"] = np.round(t * 1e6).astype(np.int64)
    index["host_ns"] = np.round(t * 1e9).astype(np.int64)
    index["trigger_pulse"] = np.arange(n_frames)
    index["ecg_sample"] = edges

    block = max(1, round(config.fps))
    with SessionWriter(config.out, meta, overwrite=config.overwrite) as writer:
        _write_truth(writer.path / TRUTH_DIR, config, meta, timeline, start)
        writer.add_event(0, "trial_start", str(TRIAL_MARKER))
        frames = np.empty((block, h, w), dtype=np.uint8)
        written_samples = 0
        for first in range(0, n_frames, block):
            last = min(first + block, n_frames)
            for k in range(first, last):
                image = animator.render({au: float(a[k]) for au, a in amplitudes.items()},
                                        (tx[k], ty[k]), rot[k])
                oy, ox = noise_offset[k]
                image *= gain[k]
                image += noise_bank[noise_pick[k], oy : oy + h, ox : ox + w]
                np.clip(image, 0, 255, out=image)
                frames[k - first] = image
            writer.append_frames(frames[: last - first], index[first:last])
            upto = n_samples if last == n_frames else int(edges[last])
            writer.append_ecg(samples[written_samples:upto])
            written_samples = upto
            if progress:
                progress(last, n_frames)
        writer.add_event(n_samples - 1, "trial_end", str(TRIAL_MARKER))
        writer.close(expressions=len(timeline.expressions), micro_expressions=len(timeline.micro_expressions))
    return SynthResult(Path(config.out), timeline, n_frames, n_samples, r_peaks)
