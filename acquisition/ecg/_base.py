"""The interface every live ECG source implements, and the block of samples it hands out.

Time is the hardware sample index at the acquisition's base rate, counted from the start of the
acquisition (sample 0 = the first sample AcqKnowledge acquired after mespot started it). A block's rows
are at the ECG channel's own rate: row ``k`` is hardware sample ``first_sample + k * step``.

Faults never kill the process: a source records them and :meth:`EcgSource.read` raises a
:class:`~acquisition.errors.DeviceError` once the samples received before the fault have been handed out,
so the caller (video capture) can log it and keep going.
"""

from __future__ import annotations

import math
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

import numpy as np

from acquisition.errors import DeviceError

SourceState = Literal["new", "running", "stopped", "closed"]


class EcgStallError(DeviceError):
    """No data arrived for longer than the stall timeout; the source keeps waiting and may recover."""


@dataclass(frozen=True)
class EcgBlock:
    """Consecutive samples of the requested channels at the ECG channel's rate.

    ``first_sample``: hardware sample index (base rate, from acquisition start) of row 0.
    ``data``: float64 array (n, n_channels), columns in the order of :attr:`EcgSource.channels`.
    ``step``: hardware samples between rows (the ECG channel's downsampling divider; 1 when the ECG
    channel runs at the base rate).
    """

    first_sample: int
    data: np.ndarray
    step: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.first_sample, bool) or not isinstance(self.first_sample, int | np.integer):
            raise TypeError(f"first_sample must be an int, got {type(self.first_sample).__name__}")
        if self.first_sample < 0:
            raise ValueError(f"first_sample must be >= 0, got {self.first_sample}")
        if isinstance(self.step, bool) or not isinstance(self.step, int | np.integer) or self.step < 1:
            raise ValueError(f"step must be an int >= 1, got {self.step!r}")
        if not isinstance(self.data, np.ndarray) or self.data.ndim != 2:
            raise ValueError("data must be a 2-D numpy array (n_samples, n_channels)")
        if self.data.dtype != np.float64:
            raise ValueError(f"data must be float64, got {self.data.dtype}")
        object.__setattr__(self, "first_sample", int(self.first_sample))
        object.__setattr__(self, "step", int(self.step))

    @property
    def n_samples(self) -> int:
        return int(self.data.shape[0])

    @property
    def end_sample(self) -> int:
        """Hardware sample index just after the last row (the next block's ``first_sample``)."""
        return self.first_sample + self.n_samples * self.step

    def sample_indices(self) -> np.ndarray:
        """Hardware sample index of every row (int64)."""
        return self.first_sample + self.step * np.arange(self.n_samples, dtype=np.int64)


class EcgSource(ABC):
    """A live ECG source: ``start()``, then ``read()`` blocks until ``stop()``/``close()``.

    Subclasses implement the ``_start``/``_read``/``_stop``/``_close``/``_insert_event`` hooks; the public
    methods validate arguments and the call order. ``samples_received`` counts rows handed to the read
    queue, ``samples_lost`` rows dropped because the consumer fell behind (the gap shows as a jump in
    ``first_sample``). Used as a context manager, the source is closed on exit (not started on entry).
    """

    def __init__(self) -> None:
        self._state: SourceState = "new"
        self._stats_lock = threading.Lock()
        self._samples_received = 0
        self._samples_lost = 0

    # --- what the source delivers --------------------------------------------------------------------

    @property
    @abstractmethod
    def channels(self) -> list[str]:
        """Labels of the columns of every block (the ECG channel first)."""

    @property
    @abstractmethod
    def sampling_rate(self) -> float:
        """Rate of the ECG channel (and of the blocks' rows), in Hz."""

    @property
    def state(self) -> SourceState:
        return self._state

    @property
    def samples_received(self) -> int:
        with self._stats_lock:
            return self._samples_received

    @property
    def samples_lost(self) -> int:
        with self._stats_lock:
            return self._samples_lost

    @property
    def fault(self) -> DeviceError | None:
        """The fault that ended the stream, if any (``read`` raises it once the queue is drained)."""
        return None

    # --- life cycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Configure the device, start the acquisition and the reader; raises DeviceError on failure."""
        if self._state != "new":
            raise RuntimeError(f"start() needs a new source, this one is {self._state}")
        try:
            self._start()
        except BaseException:
            self._state = "stopped"  # a failed start leaves nothing running; only close() is left to do
            raise
        self._state = "running"

    def read(self, timeout_s: float) -> EcgBlock | None:
        """The next block, waiting at most ``timeout_s`` seconds; None when nothing arrived in time.

        After a fault, the blocks received before it are returned first, then DeviceError is raised
        (again on every later call). :class:`EcgStallError` is raised once per stall and is transient.
        """
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float):
            raise TypeError(f"timeout_s must be a number, got {type(timeout_s).__name__}")
        if not math.isfinite(timeout_s) or timeout_s < 0:
            raise ValueError(f"timeout_s must be a finite number >= 0, got {timeout_s}")
        if self._state in ("new", "closed"):
            raise RuntimeError(f"read() needs a started source, this one is {self._state}")
        return self._read(float(timeout_s))

    def stop(self) -> None:
        """Stop the acquisition and the reader; blocks already received stay readable. Idempotent."""
        if self._state == "running":
            try:
                self._stop()
            finally:
                self._state = "stopped"

    def close(self) -> None:
        """Stop if needed and release every resource. Idempotent."""
        if self._state == "closed":
            return
        try:
            self.stop()
        finally:
            try:
                self._close()
            finally:
                self._state = "closed"

    def insert_event(self, label: str, sample: int | None = None) -> None:
        """Mark an event in the device's recording at hardware sample ``sample`` (None: now)."""
        if not isinstance(label, str) or not label.strip():
            raise ValueError("event label must be a non-empty string")
        if sample is not None and (
            isinstance(sample, bool) or not isinstance(sample, int | np.integer) or sample < 0
        ):
            raise ValueError(f"event sample must be an int >= 0 or None, got {sample!r}")
        if self._state != "running":
            raise RuntimeError(f"insert_event() needs a running source, this one is {self._state}")
        self._insert_event(label, None if sample is None else int(sample))

    def __enter__(self) -> EcgSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- for subclasses ------------------------------------------------------------------------------

    def _count_received(self, n: int) -> None:
        with self._stats_lock:
            self._samples_received += n

    def _count_lost(self, n: int) -> None:
        with self._stats_lock:
            self._samples_lost += n

    @abstractmethod
    def _start(self) -> None: ...

    @abstractmethod
    def _read(self, timeout_s: float) -> EcgBlock | None: ...

    @abstractmethod
    def _stop(self) -> None: ...

    @abstractmethod
    def _close(self) -> None: ...

    @abstractmethod
    def _insert_event(self, label: str, sample: int | None) -> None: ...
