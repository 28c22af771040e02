"""Where the mock trigger box's pulses go: listeners that stand in for the TTL lines."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Protocol


class PulseListener(Protocol):
    """Receives the mock trigger box's pulse train (the mock camera and mock MP160 implement this).

    Rising edge n (1-based) of a run is at `t_start + (n - 1) / rate_hz`: the first comes at start.
    """

    def trigger_started(self, rate_hz: float, pulse_width_us: int) -> None:
        """The box started pulsing now."""
        ...

    def trigger_stopped(self) -> None:
        """The box stopped pulsing now."""
        ...

    def pulses_so_far(self) -> int:
        """Rising edges emitted since the last start (frozen once stopped)."""
        ...


class TimedPulses:
    """A standalone listener that derives the pulse count from a clock (`time.monotonic` by default)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._rate_hz = 0.0
        self._started_at: float | None = None
        self._frozen_count = 0

    def _count_at(self, now: float) -> int:
        assert self._started_at is not None
        return math.floor(max(0.0, now - self._started_at) * self._rate_hz) + 1

    def trigger_started(self, rate_hz: float, pulse_width_us: int) -> None:
        with self._lock:
            self._rate_hz = rate_hz
            self._started_at = self._clock()
            self._frozen_count = 0

    def trigger_stopped(self) -> None:
        with self._lock:
            if self._started_at is not None:
                self._frozen_count = self._count_at(self._clock())
                self._started_at = None

    def pulses_so_far(self) -> int:
        with self._lock:
            if self._started_at is None:
                return self._frozen_count
            return self._count_at(self._clock())


class FanoutPulses:
    """Forwards start/stop to several listeners; the first one (`counter`) answers `pulses_so_far()`."""

    def __init__(self, counter: PulseListener, *followers: PulseListener) -> None:
        self._counter = counter
        self._listeners = (counter, *followers)

    def trigger_started(self, rate_hz: float, pulse_width_us: int) -> None:
        for listener in self._listeners:
            listener.trigger_started(rate_hz, pulse_width_us)

    def trigger_stopped(self) -> None:
        for listener in self._listeners:
            listener.trigger_stopped()

    def pulses_so_far(self) -> int:
        return self._counter.pulses_so_far()
