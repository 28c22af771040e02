"""What happens in a synthetic trial, in seconds: expressions, blinks, head moves, heart-rate responses.

Rates and durations follow the real MECG coding file (see ../shared/data/SOURCES.md): AU combinations
are drawn with the frequencies seen there, MEs last 130-500 ms with onset-apex 60-250 ms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# AU combination -> count in the MECG coding file (944 rows). AUs the file lists too rarely to be counted
# in SOURCES.md (AU9, AU15, AU17) get a small weight so that every modelled region moves now and then.
AU_COMBINATION_COUNTS: dict[tuple[str, ...], int] = {
    ("AU4",): 330,
    ("AU12",): 100,
    ("AU1",): 52,
    ("AU4", "AU7"): 50,
    ("AU1", "AU2"): 29,
    ("AU14",): 24,
    ("AU7",): 24,
    ("AU2",): 19,
    ("AU10",): 18,
    ("AU9",): 10,
    ("AU15",): 10,
    ("AU17",): 10,
}

# Most likely emotion a coder would write for each AU combination (the file's "Estimated Emotion").
AU_EMOTION: dict[tuple[str, ...], str] = {
    ("AU4",): "angry",
    ("AU12",): "happy",
    ("AU1",): "sad",
    ("AU4", "AU7"): "disgust",
    ("AU1", "AU2"): "surprise",
    ("AU14",): "tense",
    ("AU7",): "fear",
    ("AU2",): "surprise",
    ("AU10",): "disgust",
    ("AU9",): "disgust",
    ("AU15",): "sad",
    ("AU17",): "sad",
}


@dataclass(frozen=True)
class TimelineProfile:
    """Rates (per minute), durations (s) and amplitudes (fraction of the face width)."""

    me_per_minute: float = 8.0
    me_onset_apex_s: tuple[float, float] = (0.06, 0.25)
    me_onset_offset_s: tuple[float, float] = (0.13, 0.50)
    me_amplitude: tuple[float, float] = (0.002, 0.012)  # 0.5-3 px at a 256 px face

    macro_per_minute: float = 2.0
    macro_onset_apex_s: tuple[float, float] = (0.30, 1.50)
    macro_onset_offset_s: tuple[float, float] = (0.60, 4.00)
    macro_amplitude: tuple[float, float] = (0.025, 0.06)

    blinks_per_minute: float = 15.0
    blink_duration_s: tuple[float, float] = (0.10, 0.40)
    blink_amplitude: tuple[float, float] = (0.035, 0.05)  # upper lid travel

    head_moves_per_minute: float = 4.0
    head_move_duration_s: tuple[float, float] = (0.15, 0.60)
    head_move_amplitude: tuple[float, float] = (0.01, 0.05)  # translation
    head_move_rotation_deg: tuple[float, float] = (0.2, 1.5)

    hr_response_fraction: float = 0.8  # of MEs followed by a heart-rate acceleration
    spurious_hr_per_minute: float = 1.0  # accelerations with no expression
    hr_response_bpm: tuple[float, float] = (10.0, 16.0)

    min_gap_s: float = 0.4  # between two expressions (ground truth intervals never overlap)
    margin_s: float = 1.0  # nothing starts in the first/last second of the trial


@dataclass(frozen=True)
class Expression:
    kind: str  # "ME" or "macro"
    onset_s: float
    apex_s: float
    offset_s: float
    action_units: tuple[str, ...]
    emotion: str
    amplitude: float  # fraction of the face width at the apex
    hr_response: bool


@dataclass(frozen=True)
class Blink:
    onset_s: float
    offset_s: float
    amplitude: float


@dataclass(frozen=True)
class HeadMove:
    onset_s: float
    offset_s: float
    translation: tuple[float, float]  # (dx, dy), fraction of the face width
    rotation_deg: float


@dataclass(frozen=True)
class Timeline:
    duration_s: float
    expressions: tuple[Expression, ...]
    blinks: tuple[Blink, ...]
    head_moves: tuple[HeadMove, ...]
    spurious_hr_s: tuple[float, ...]  # apex times of heart-rate accelerations without an expression

    @property
    def micro_expressions(self) -> list[Expression]:
        return [e for e in self.expressions if e.kind == "ME"]


def _count(rng: np.random.Generator, per_minute: float, duration_s: float) -> int:
    return int(rng.poisson(per_minute * duration_s / 60.0))


def _overlaps(onset: float, offset: float, taken: Sequence[tuple[float, float]], gap: float) -> bool:
    return any(onset < b + gap and offset > a - gap for a, b in taken)


def _expression(rng: np.random.Generator, kind: str, start: float, profile: TimelineProfile) -> Expression:
    combos = list(AU_COMBINATION_COUNTS)
    weights = np.array([AU_COMBINATION_COUNTS[c] for c in combos], dtype=float)
    combo = combos[rng.choice(len(combos), p=weights / weights.sum())]
    if kind == "ME":
        total = rng.uniform(*profile.me_onset_offset_s)
        rise = rng.uniform(profile.me_onset_apex_s[0], min(profile.me_onset_apex_s[1], total * 0.7))
        amplitude = rng.uniform(*profile.me_amplitude)
        hr_response = bool(rng.random() < profile.hr_response_fraction)
    else:
        total = rng.uniform(*profile.macro_onset_offset_s)
        rise = rng.uniform(profile.macro_onset_apex_s[0], min(profile.macro_onset_apex_s[1], total * 0.7))
        amplitude = rng.uniform(*profile.macro_amplitude)
        hr_response = False
    return Expression(
        kind=kind,
        onset_s=start,
        apex_s=start + rise,
        offset_s=start + total,
        action_units=combo,
        emotion=AU_EMOTION[combo],
        amplitude=amplitude,
        hr_response=hr_response,
    )


def make_timeline(duration_s: float, rng: np.random.Generator, profile: TimelineProfile) -> Timeline:
    """Draw a trial's events; expressions never overlap each other (nor the trial's first/last second)."""
    margin = min(profile.margin_s, duration_s / 4)  # very short trials still get a few events
    lo, hi = margin, duration_s - margin
    expressions: list[Expression] = []
    taken: list[tuple[float, float]] = []
    plan = ["macro"] * _count(rng, profile.macro_per_minute, duration_s)
    plan += ["ME"] * _count(rng, profile.me_per_minute, duration_s)
    for kind in plan:  # macros first: they are longest and hardest to place
        for _ in range(100):
            candidate = _expression(rng, kind, rng.uniform(lo, hi), profile)
            if candidate.offset_s < hi and not _overlaps(
                candidate.onset_s, candidate.offset_s, taken, profile.min_gap_s
            ):
                expressions.append(candidate)
                taken.append((candidate.onset_s, candidate.offset_s))
                break
    expressions.sort(key=lambda e: e.onset_s)

    blinks = []
    for _ in range(_count(rng, profile.blinks_per_minute, duration_s)):
        onset = rng.uniform(lo, hi)
        blinks.append(Blink(onset, onset + rng.uniform(*profile.blink_duration_s),
                            rng.uniform(*profile.blink_amplitude)))
    head_moves = []
    for _ in range(_count(rng, profile.head_moves_per_minute, duration_s)):
        onset = rng.uniform(lo, hi)
        angle = rng.uniform(0, 2 * np.pi)
        size = rng.uniform(*profile.head_move_amplitude)
        head_moves.append(
            HeadMove(
                onset,
                onset + rng.uniform(*profile.head_move_duration_s),
                (size * np.cos(angle), size * np.sin(angle)),
                float(rng.choice([-1, 1]) * rng.uniform(*profile.head_move_rotation_deg)),
            )
        )
    spurious = tuple(
        sorted(rng.uniform(lo, hi) for _ in range(_count(rng, profile.spurious_hr_per_minute, duration_s)))
    )
    return Timeline(
        duration_s=duration_s,
        expressions=tuple(expressions),
        blinks=tuple(sorted(blinks, key=lambda b: b.onset_s)),
        head_moves=tuple(sorted(head_moves, key=lambda m: m.onset_s)),
        spurious_hr_s=spurious,
    )


def expression_envelope(t: np.ndarray, onset: float, apex: float, offset: float) -> np.ndarray:
    """0 -> 1 -> 0 raised-cosine profile: rises onset->apex, decays apex->offset."""
    t = np.asarray(t, dtype=float)
    out = np.zeros_like(t)
    rising = (t >= onset) & (t < apex)
    falling = (t >= apex) & (t <= offset)
    out[rising] = 0.5 - 0.5 * np.cos(np.pi * (t[rising] - onset) / (apex - onset))
    out[falling] = 0.5 + 0.5 * np.cos(np.pi * (t[falling] - apex) / (offset - apex))
    return out


def step_envelope(t: np.ndarray, onset: float, offset: float) -> np.ndarray:
    """0 -> 1 smooth step (a head move that stays where it went)."""
    t = np.asarray(t, dtype=float)
    x = np.clip((t - onset) / (offset - onset), 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * x)
