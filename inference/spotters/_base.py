"""What every spotter is: something that turns the engine's per-frame features (and ECG) into candidates.

A :class:`Candidate` is a stretch of time that may hold an expression and an estimate of its apex; the
engine then measures its extent from the motion (:mod:`inference.extent`), calls it ME or macro, and asks
the heart (:mod:`inference.decision`). Spotters differ only in how they find candidates: CMCL-Net scores
sliding windows of video and ECG (:mod:`inference.spotters.cmcl`), the training-free spotter finds peaks of
the facial motion (:mod:`inference.spotters.flow`).

The engine calls a spotter in three steps so that the costly middle one runs outside the engine's lock:
``prepare`` (under the lock: copy what is ready), ``compute`` (no lock: the model, the peak search),
``collect`` (under the lock: record the score trace, return the new candidates).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from inference.features.spec import FeatureSpec

if TYPE_CHECKING:
    from inference.engine import SpottingEngine


@dataclass(frozen=True)
class Candidate:
    """[start_ms, end_ms) on the session clock that may hold an expression whose apex is near ``apex_ms``;
    ``peak_score`` and ``mean_score`` are the spotter's own scores over it (``windows`` of them)."""

    start_ms: float
    end_ms: float
    peak_score: float
    mean_score: float
    windows: int
    apex_ms: float


class Spotter(ABC):
    kind: ClassVar[str]
    score_label: ClassVar[str]  # what the score trace is, for plots

    def __init__(self, spec: FeatureSpec, threshold: float) -> None:
        self.spec = spec
        self.threshold = threshold  # candidates score at least this (the GUI may change it)
        self.default_threshold = threshold
        self.trace_ms: list[float] = []  # the score trace (GUI, report): times on the session clock
        self.trace: list[float] = []

    @abstractmethod
    def prepare(self, engine: SpottingEngine, final: bool) -> Any | None:
        """Under the engine's lock: the work that is ready (None: nothing)."""

    @abstractmethod
    def compute(self, work: Any) -> Any:
        """Outside the lock: score the work."""

    @abstractmethod
    def collect(self, work: Any, result: Any, final: bool) -> list[Candidate]:
        """Under the lock: record the scores, return the candidates they complete."""

    def flush(self) -> list[Candidate]:
        """Candidates still open when the session ends."""
        return []

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """What this spotter is, for summaries and reports."""
