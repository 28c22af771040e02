"""`mespot synth`: a synthetic trial written in the session format, with its ground truth.

One seed fixes everything: the face and its drawn shape, pose, distance and lighting, the events, the ECG
and the sensor noise (each from its own stream, so that e.g. a different heart-response fraction changes no
face event). The trial is rendered second by second and written through the same :class:`SessionWriter`
the recorder uses, so the result is indistinguishable (in format) from a lab recording.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from acquisition.readers.annotations import Interval, MecgCodingRow, write_mecg_coding_csv, write_megc_csv
from acquisition.readers.video import frame_name
from acquisition.session import EcgInfo, SessionMetadata, SessionWriter, TriggerInfo, VideoInfo
from acquisition.session._format import FRAME_INDEX_DTYPE, TRUTH_CODING_FILE, TRUTH_DIR, TRUTH_MEGC_FILE
from hardware_mocks.synth.ecg import simulate_ecg, simulate_heart_rate
from hardware_mocks.synth.face import Placement, face_names, load_face
from hardware_mocks.synth.pose import PoseTrack, draw_head_moves, pose_track
from hardware_mocks.synth.render import FOLD_LIMIT, FaceRenderer, gain_field
from hardware_mocks.synth.timeline import (
    Timeline,
    TimelineProfile,
    blink_envelope,
    expression_envelope,
    make_timeline,
)
from hardware_mocks.synth.variation import SessionVariation, VariationProfile, draw_variation

ECG_CHANNEL = "ECG"
TRIGGER_CHANNEL = "TRIGGER"
TRIGGER_HIGH_V = 5.0  # MP160 digital input level while the pulse is high
TRUTH_EVENTS_FILE = "events.csv"  # every synthetic event, distractors included (training hard negatives)
TRUTH_VARIATION_FILE = "variation.json"  # what the session drew (face, shape, pose, lighting, face size)
TRUTH_LANDMARKS_FILE = "landmarks.npy"  # optional: (frames, 68, 2) float32 true landmarks in the frame
TRIAL_MARKER = 101  # MECG stimulus markers run 101-148
WALL_CLOCK_DAY = dt.datetime(2026, 1, 12, 9, 0, 0)  # synthetic sessions happen on a fixed day

# Independent random streams of one seed: np.random.default_rng([seed, stream])
STREAM_VARIATION, STREAM_TIMELINE, STREAM_POSE, STREAM_HEART, STREAM_LIGHT = range(5)


@dataclass(frozen=True)
class SensorProfile:
    """Camera sensor facts that do not vary between sessions (the amounts do: ``VariationProfile``)."""

    flicker_hz: float = 100.0  # mains-powered lights flicker at twice the line frequency
    noise_bank_size: int = 8  # noise frames drawn once, reused at random offsets
    noise_pad: int = 32  # px of extra noise frame for those offsets


@dataclass
class SynthConfig:
    out: Path
    minutes: float = 1.0
    seed: int = 0
    fps: float = 150.0
    ecg_rate: float = 1000.0
    frame_size: tuple[int, int] = (2040, 1080)
    face_px: int = 280  # nominal face width in the camera frame (each session draws its own around it)
    roi_scale: float = 1.8  # stored face region side, in nominal face widths
    store_full_frame: bool = False
    face: str | None = None  # None: chosen by seed
    subject: str = ""
    trial: str = "1"
    trigger_pulse_ms: float = 2.0
    frames_per_chunk: int = 150
    overwrite: bool = False
    timeline: TimelineProfile = field(default_factory=TimelineProfile)
    sensor: SensorProfile = field(default_factory=SensorProfile)
    variation: VariationProfile = field(default_factory=VariationProfile)
    store_landmarks: bool = False  # write truth/landmarks.npy


@dataclass(frozen=True)
class SynthResult:
    path: Path
    timeline: Timeline
    frame_count: int
    ecg_samples: int
    r_peaks: np.ndarray
    variation: SessionVariation | None = None


def trigger_edges(n_frames: int, fps: float, ecg_rate: float) -> np.ndarray:
    """ECG sample index at which the MP160 first sees each frame's rising edge."""
    return np.ceil(np.arange(n_frames) * (ecg_rate / fps) - 1e-9).astype(np.int64)


def trigger_signal(edges: np.ndarray, n_samples: int, pulse_samples: int) -> np.ndarray:
    signal = np.zeros(n_samples)
    for offset in range(pulse_samples):
        idx = edges + offset
        signal[idx[idx < n_samples]] = TRIGGER_HIGH_V
    return signal


def combination_scale(renderer: FaceRenderer, action_units: tuple[str, ...],
                      weights: tuple[float, ...]) -> float:
    """Factor making the combination's most-moved landmark move 1 px (each AU alone is already so)."""
    weights = weights or (1.0,) * len(action_units)
    moved = sum(w * renderer.actions[au].landmarks for au, w in zip(action_units, weights, strict=True))
    return 1.0 / float(np.max(np.linalg.norm(moved, axis=1)))


def cap_amplitudes(timeline: Timeline, renderer: FaceRenderer) -> Timeline:
    """Expressions whose drawn amplitude would fold the skin (strain above ``FOLD_LIMIT``) are made as large
    as the face allows; the truth then records the amplitude rendered."""
    capped = []
    for e in timeline.expressions:
        weights = e.au_weights or (1.0,) * len(e.action_units)
        scale = combination_scale(renderer, e.action_units, weights)
        strain = e.amplitude * scale * sum(w * renderer.strain[au] for au, w in zip(e.action_units, weights,
                                                                                     strict=True))
        capped.append(replace(e, amplitude=e.amplitude * min(1.0, FOLD_LIMIT / strain)) if strain else e)
    return replace(timeline, expressions=tuple(capped))


def au_amplitudes(t: np.ndarray, timeline: Timeline, renderer: FaceRenderer) -> dict[str, np.ndarray]:
    """Per-AU displacement scale (px of its most-moved landmark) at each frame time."""
    amplitudes: dict[str, np.ndarray] = {}
    for e in timeline.expressions:
        env = e.amplitude * expression_envelope(t, e.onset_s, e.apex_s, e.offset_s, e.hold_s, e.rise_shape,
                                                e.fall_shape, e.residual, e.release_s)
        weights = e.au_weights or (1.0,) * len(e.action_units)
        scale = combination_scale(renderer, e.action_units, weights)
        for au, w in zip(e.action_units, weights, strict=True):
            amplitudes[au] = amplitudes.get(au, 0.0) + scale * w * env
    return amplitudes


def blink_closure(t: np.ndarray, timeline: Timeline) -> np.ndarray:
    closure = np.zeros_like(t)
    for b in timeline.blinks:
        np.maximum(closure, blink_envelope(t, b), out=closure)
    return closure


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
            detail = (f"{'+'.join(e.action_units)} amp={e.amplitude:.4f} hr_response={int(e.hr_response)}"
                      f" hold={e.hold_s:.3f} residual={e.residual:.3f}")
            ew.writerow([e.kind, f"{e.onset_s:.4f}", f"{e.apex_s:.4f}", f"{e.offset_s:.4f}", detail])
        for b in timeline.blinks:
            ew.writerow(["blink", f"{b.onset_s:.4f}", f"{b.apex_s:.4f}", f"{b.offset_s:.4f}",
                         f"amp={b.amplitude:.4f}"])
        for m in timeline.head_moves:
            ew.writerow(["head_move", f"{m.onset_s:.4f}", "", f"{m.offset_s:.4f}",
                         f"dx={m.translation[0]:.4f} dy={m.translation[1]:.4f} rot={m.rotation_deg:.3f}"
                         f" yaw={m.yaw_deg:.3f} pitch={m.pitch_deg:.3f}"])
        spurious = {id(r) for r in timeline.spurious_responses}
        for r in timeline.hr_responses:
            detail = "spurious" if id(r) in spurious else "expression"
            detail += f" bpm={r.amplitude_bpm:.2f} orienting_bpm={r.deceleration_bpm:.2f}"
            ew.writerow(["hr_response", f"{r.onset_s:.4f}", f"{r.peak_time_s:.4f}", f"{r.end_s:.4f}", detail])


def _write_variation(truth_dir: Path, variation: SessionVariation, config: SynthConfig) -> None:
    record = {"nominal_face_px": config.face_px, **variation.to_json()}
    (truth_dir / TRUTH_VARIATION_FILE).write_text(json.dumps(record, indent=1) + "\n")


def _frame_count(duration_s: float, fps: float, ecg_rate: float, n_samples: int) -> tuple[int, np.ndarray]:
    n_frames = int(np.floor(duration_s * fps - 1e-9)) + 1
    edges = trigger_edges(n_frames, fps, ecg_rate)
    n_frames = int(np.searchsorted(edges, n_samples))  # every frame's edge lies inside the recording
    return n_frames, edges[:n_frames]


def _lighting_gain(t: np.ndarray, variation: SessionVariation, sensor: SensorProfile,
                   rng: np.random.Generator) -> np.ndarray:
    """Per-frame scalar gain: slow drift and mains flicker (the static gradient is ``gain_field``)."""
    light = variation.lighting
    flicker_phase, drift_phase = rng.uniform(0, 2 * np.pi, size=2)
    return (1.0 + light.flicker * np.sin(2 * np.pi * sensor.flicker_hz * t + flicker_phase)
            + light.drift * np.sin(2 * np.pi * t / light.drift_period_s + drift_phase)).astype(np.float32)


@dataclass(frozen=True)
class SessionPlan:
    """Everything a session draws before rendering: its variation, its events and its head pose."""

    face: str
    variation: SessionVariation
    timeline: Timeline
    poses: PoseTrack
    times_s: np.ndarray  # frame times
    n_frames: int
    edges: np.ndarray  # ECG sample of each frame's trigger edge
    n_samples: int


def _stream(seed: int, k: int) -> np.random.Generator:
    return np.random.default_rng([seed, k])


def plan_session(config: SynthConfig) -> SessionPlan:
    """Draw a session's variation, timeline and pose track from its seed (cheap: no rendering)."""
    duration_s = config.minutes * 60.0
    names = face_names()
    face_name = config.face or names[config.seed % len(names)]
    variation = draw_variation(_stream(config.seed, STREAM_VARIATION), config.variation, face_name,
                               config.face_px)
    timeline = make_timeline(duration_s, _stream(config.seed, STREAM_TIMELINE), config.timeline,
                             face_px=variation.face_px, frame_period_s=1.0 / config.fps)
    pose_rng = _stream(config.seed, STREAM_POSE)
    margin = min(config.timeline.margin_s, duration_s / 4)
    head_moves = draw_head_moves(duration_s, pose_rng, variation.pose, config.variation.pose, margin)
    n_samples = round(duration_s * config.ecg_rate)
    n_frames, edges = _frame_count(duration_s, config.fps, config.ecg_rate, n_samples)
    t = np.arange(n_frames) / config.fps
    poses = pose_track(t, variation.pose, head_moves, variation.face_px, variation.distance_drift,
                       variation.distance_band_hz, pose_rng)
    return SessionPlan(face_name, variation, replace(timeline, head_moves=head_moves), poses, t, n_frames,
                       edges, n_samples)


def synthesize_session(config: SynthConfig,
                       progress: Callable[[int, int], None] | None = None) -> SynthResult:
    """Render and write one synthetic trial; ``progress(done_frames, total_frames)`` is called per second."""
    plan = plan_session(config)
    face_name, variation, timeline, poses = plan.face, plan.variation, plan.timeline, plan.poses
    face = load_face(face_name)
    duration_s = config.minutes * 60.0
    n_frames, edges, n_samples, t = plan.n_frames, plan.edges, plan.n_samples, plan.times_s

    # ECG on the 1 kHz clock, answering the expressions (and a few spurious responses)
    heart_rng = _stream(config.seed, STREAM_HEART)
    heart_rate = simulate_heart_rate(duration_s, config.ecg_rate, heart_rng,
                                     base_bpm=variation.heart_rate_bpm, rsa_amplitude_bpm=variation.rsa_bpm,
                                     responses=timeline.hr_responses)[:n_samples]
    ecg, r_peaks = simulate_ecg(heart_rate, config.ecg_rate, heart_rng)
    pulse_samples = max(1, round(config.trigger_pulse_ms * config.ecg_rate / 1000.0))
    samples = np.column_stack([ecg, trigger_signal(edges, n_samples, pulse_samples)])

    placement = Placement.for_face(face, config.frame_size, config.face_px, config.roi_scale)
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
                 "face_px": round(variation.face_px, 1), "nominal_face_px": config.face_px,
                 "shape": {k: round(v, 4) for k, v in variation.shape.items()},
                 "max_pose_deg": [config.variation.pose.max_yaw_deg, config.variation.pose.max_pitch_deg,
                                  config.variation.pose.max_roll_deg],
                 "lighting": {"gradient": round(variation.lighting.gradient, 4),
                              "gain": round(variation.lighting.gain, 4),
                              "gamma": round(variation.lighting.gamma, 4),
                              "noise_sd": round(variation.lighting.noise_sd, 4)}},
        source="synthetic",
    )

    renderer = FaceRenderer(face, variation.shape, variation.face_px, region, placement.face_center,
                            variation.lighting.gamma)
    timeline = cap_amplitudes(timeline, renderer)
    amplitudes = au_amplitudes(t, timeline, renderer)
    closure = blink_closure(t, timeline)
    light_rng = _stream(config.seed, STREAM_LIGHT)
    sensor = config.sensor
    gain = _lighting_gain(t, variation, sensor, light_rng)
    static_gain = gain_field(region, placement.face_center, variation.face_px, variation.lighting)
    h, w = region[3], region[2]
    pad = sensor.noise_pad
    noise_bank = light_rng.normal(0.0, variation.lighting.noise_sd,
                                  size=(sensor.noise_bank_size, h + pad, w + pad)).astype(np.float32)
    noise_pick = light_rng.integers(0, sensor.noise_bank_size, size=n_frames)
    noise_offset = light_rng.integers(0, pad, size=(n_frames, 2))

    index = np.zeros(n_frames, dtype=FRAME_INDEX_DTYPE)
    index["camera_frame"] = np.arange(1, n_frames + 1)  # XIMEA's acq_nframe counts from 1
    index["camera_ts_us"] = np.round(t * 1e6).astype(np.int64)
    index["host_ns"] = np.round(t * 1e9).astype(np.int64)
    index["trigger_pulse"] = np.arange(n_frames)
    index["ecg_sample"] = edges
    landmarks = np.zeros((n_frames, 68, 2), np.float32) if config.store_landmarks else None

    block = max(1, round(config.fps))
    with SessionWriter(config.out, meta, overwrite=config.overwrite) as writer:
        truth_dir = writer.path / TRUTH_DIR
        _write_truth(truth_dir, config, meta, timeline, start)
        _write_variation(truth_dir, variation, config)
        writer.add_event(0, "trial_start", str(TRIAL_MARKER))
        frames = np.empty((block, h, w), dtype=np.uint8)
        written_samples = 0
        for first in range(0, n_frames, block):
            last = min(first + block, n_frames)
            for k in range(first, last):
                pose = poses.at(k)
                active = {au: float(a[k]) for au, a in amplitudes.items() if a[k]}
                image = renderer.render(pose, active, float(closure[k]))
                oy, ox = noise_offset[k]
                lit = cv2.multiply(image, static_gain, scale=float(gain[k]))
                noise = noise_bank[noise_pick[k], oy : oy + h, ox : ox + w]
                frames[k - first] = cv2.add(lit, noise, dtype=cv2.CV_8U)  # rounds and saturates to 0..255
                if landmarks is not None:
                    landmarks[k] = renderer.landmarks_at(pose, active, float(closure[k]))
            writer.append_frames(frames[: last - first], index[first:last])
            upto = n_samples if last == n_frames else int(edges[last])
            writer.append_ecg(samples[written_samples:upto])
            written_samples = upto
            if progress:
                progress(last, n_frames)
        if landmarks is not None:
            np.save(truth_dir / TRUTH_LANDMARKS_FILE, landmarks)
        writer.add_event(n_samples - 1, "trial_end", str(TRIAL_MARKER))
        writer.close(expressions=len(timeline.expressions), micro_expressions=len(timeline.micro_expressions))
    return SynthResult(Path(config.out), timeline, n_frames, n_samples, r_peaks, variation)
