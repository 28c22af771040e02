"""The trigger box: the abstract device that paces the camera and marks every frame on the ECG clock."""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import TracebackType
from typing import ClassVar, Self

from acquisition.errors import ConfigError

MICROS_PER_SECOND = 1_000_000
DEFAULT_RATE_HZ = 150
DEFAULT_PULSE_WIDTH_US = 2000
"""2 ms: at least two samples of the MP160's 1 kHz digital input see every pulse."""


@dataclass(frozen=True, slots=True)
class TriggerStatus:
    """What the box reports: whether it pulses, its settings, and rising edges since the last start."""

    running: bool
    rate_hz: int
    pulse_width_us: int
    pulse_count: int


class TriggerBox(ABC):
    """A pulse generator: TTL pulses at `rate_hz`, each `pulse_width_us` high, counted from `start()`.

    Use as a context manager (`with box: ...` opens and closes it). Subclasses implement the device
    operations; `configure()` validates here, before anything reaches the device.
    """

    MIN_RATE_HZ: ClassVar[int] = 1
    MAX_RATE_HZ: ClassVar[int] = 1000
    MIN_PULSE_WIDTH_US: ClassVar[int] = 10
    MIN_LOW_TIME_US: ClassVar[int] = 10
    """The output must stay low at least this long in every period."""

    @abstractmethod
    def open(self) -> None:
        """Connect to the box and check that it is one; opening an open box does nothing."""

    @abstractmethod
    def close(self) -> None:
        """Stop pulsing if possible and disconnect; never raises for a box already gone."""

    def configure(self, rate_hz: float, pulse_width_us: int = DEFAULT_PULSE_WIDTH_US) -> None:
        """Set the pulse rate (whole Hz) and width; raises ConfigError before touching the device."""
        rate, width = self.validate_config(rate_hz, pulse_width_us)
        self._configure(rate, width)

    @abstractmethod
    def _configure(self, rate_hz: int, pulse_width_us: int) -> None:
        """Send validated settings to the device."""

    @abstractmethod
    def start(self) -> None:
        """Reset the pulse count and start pulsing; the first rising edge comes at once."""

    @abstractmethod
    def stop(self) -> int:
        """Stop pulsing; return the rising edges emitted since `start()`."""

    @abstractmethod
    def status(self) -> TriggerStatus:
        """The box's current state."""

    @abstractmethod
    def pulse_count(self) -> int:
        """Rising edges since the last `start()` (frozen after `stop()`)."""

    @classmethod
    def validate_config(cls, rate_hz: float, pulse_width_us: int) -> tuple[int, int]:
        """Return `(rate_hz, pulse_width_us)` as ints, or raise ConfigError saying what is wrong."""
        rate = cls._whole_number("trigger rate", rate_hz, "Hz")
        width = cls._whole_number("trigger pulse width", pulse_width_us, "µs")
        if not cls.MIN_RATE_HZ <= rate <= cls.MAX_RATE_HZ:
            raise ConfigError(
                f"trigger rate {rate} Hz is out of range: the trigger box pulses at "
                f"{cls.MIN_RATE_HZ}-{cls.MAX_RATE_HZ} Hz"
            )
        if width < cls.MIN_PULSE_WIDTH_US:
            raise ConfigError(
                f"trigger pulse width {width} µs is too short: at least {cls.MIN_PULSE_WIDTH_US} µs"
            )
        period_us = MICROS_PER_SECOND // rate
        if width + cls.MIN_LOW_TIME_US > period_us:
            raise ConfigError(
                f"trigger pulse width {width} µs does not fit a {rate} Hz period of {period_us} µs: "
                f"it must be at most {period_us - cls.MIN_LOW_TIME_US} µs"
            )
        return rate, width

    @staticmethod
    def _whole_number(what: str, value: object, unit: str) -> int:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ConfigError(f"{what} must be a number of {unit}, got {value!r}")
        if isinstance(value, numbers.Integral):
            return int(value)
        as_float = float(value)
        if not (math.isfinite(as_float) and as_float.is_integer()):
            raise ConfigError(f"{what} must be a whole number of {unit}, got {value!r}")
        return int(as_float)

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
