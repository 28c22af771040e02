"""The camera interface: validated settings, the captured frame, and the abstract :class:`Camera`.

A camera is used as ``open() -> start() -> grab()... -> stop() -> close()`` (or as a context manager,
which opens on entry and stops and closes on exit).  :meth:`Camera.grab` raises :class:`CameraTimeout` when
no frame came in time (a missing trigger, a slow camera) and :class:`~acquisition.errors.DeviceError` when
the camera faulted or is gone; programming errors (grab before start, a wrong ``out`` buffer) raise
``RuntimeError``/``ValueError``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Literal, Self, get_args

import numpy as np
from numpy.typing import NDArray

from acquisition.errors import ConfigError, DeviceError

__all__ = [
    "DEFAULT_BUFFER_QUEUE_SIZE",
    "DEFAULT_EXPOSURE_US",
    "DEFAULT_FPS",
    "DEFAULT_TIMEOUT_MS",
    "Camera",
    "CameraSettings",
    "CameraTimeout",
    "CapturedFrame",
    "PixelFormat",
    "TriggerMode",
    "check_out_buffer",
]

PixelFormat = Literal["MONO8", "RAW8"]
"""8-bit output formats: MONO8 (processed intensity) or RAW8 (sensor data; the same on a mono sensor)."""

TriggerMode = Literal["hardware", "free-run"]
"""``hardware``: a frame per rising edge on GPI port 1 (frame start); ``free-run``: the camera's own rate."""

DEFAULT_FPS: Final = 150.0
"""The lab's frame rate: the trigger box's rate in hardware mode, the camera's own rate in free run."""

DEFAULT_EXPOSURE_US: Final = 4000.0
"""Exposure time (µs); must stay below the frame period (6667 µs at 150 fps)."""

DEFAULT_BUFFER_QUEUE_SIZE: Final = 32
"""Frames the driver may queue before it skips (about 0.2 s at 150 fps)."""

DEFAULT_TIMEOUT_MS: Final = 1000
"""How long :meth:`Camera.grab` waits for a frame by default."""

MAX_FPS: Final = 10_000.0
"""Sanity bound on the frame rate (no XIMEA camera of this resolution goes near it)."""

MIN_GAIN_DB: Final = -24.0
MAX_GAIN_DB: Final = 48.0
"""Sanity bounds on the gain; the camera enforces its own (model-dependent) range on top."""

MAX_BUFFER_QUEUE_SIZE: Final = 4096
MAX_TIMEOUT_MS: Final = 3_600_000
"""One hour: xiAPI takes a 32-bit millisecond timeout, anything longer is surely a unit mistake."""

_US_PER_S: Final = 1_000_000.0
_MS_PER_S: Final = 1000.0


class CameraTimeout(DeviceError):
    """No frame arrived within the timeout (no trigger, or the camera stalled)."""


@dataclass(frozen=True, slots=True)
class CameraSettings:
    """What to open and how to configure it; validated on construction (raises ConfigError).

    The camera is chosen by ``serial`` (preferred: stable across USB ports) or by ``index`` (enumeration
    order); giving both is an error, giving neither opens index 0.
    """

    serial: str | None = None
    index: int | None = None
    pixel_format: PixelFormat = "MONO8"
    exposure_us: float = DEFAULT_EXPOSURE_US
    gain_db: float = 0.0
    fps: float = DEFAULT_FPS
    trigger: TriggerMode = "hardware"
    buffer_queue_size: int = DEFAULT_BUFFER_QUEUE_SIZE
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    roi: tuple[int, int, int, int] | None = None
    """Read out only this region of the sensor (x, y, width, height), or the smallest one the camera can
    take that contains it: fewer bytes per frame. None reads out the whole sensor."""

    def __post_init__(self) -> None:
        if self.serial is not None and self.index is not None:
            raise ConfigError("camera: give a serial number or an index, not both")
        if self.serial is not None and (not isinstance(self.serial, str) or not self.serial.strip()):
            raise ConfigError(f"camera.serial must be a non-empty string, not {self.serial!r}")
        if self.index is not None and (_not_int(self.index) or self.index < 0):
            raise ConfigError(f"camera.index must be an integer >= 0, not {self.index!r}")
        if self.pixel_format not in get_args(PixelFormat):
            raise ConfigError(f"camera.pixel_format must be one of {get_args(PixelFormat)}, "
                              f"not {self.pixel_format!r}")
        if self.trigger not in get_args(TriggerMode):
            raise ConfigError(f"camera.trigger must be one of {get_args(TriggerMode)}, not {self.trigger!r}")
        if not _finite(self.fps) or not 0.0 < self.fps <= MAX_FPS:
            raise ConfigError(f"camera.fps must be in (0, {MAX_FPS:g}], not {self.fps!r}")
        if not _finite(self.exposure_us) or self.exposure_us <= 0.0:
            raise ConfigError(f"camera.exposure_us must be > 0, not {self.exposure_us!r}")
        if self.exposure_us >= self.frame_period_us:
            raise ConfigError(f"camera.exposure_us ({self.exposure_us:g} µs) must be shorter than the frame "
                              f"period ({self.frame_period_us:.0f} µs at {self.fps:g} fps)")
        if not _finite(self.gain_db) or not MIN_GAIN_DB <= self.gain_db <= MAX_GAIN_DB:
            raise ConfigError(f"camera.gain_db must be in [{MIN_GAIN_DB:g}, {MAX_GAIN_DB:g}], "
                              f"not {self.gain_db!r}")
        if _not_int(self.buffer_queue_size) or not 1 <= self.buffer_queue_size <= MAX_BUFFER_QUEUE_SIZE:
            raise ConfigError(f"camera.buffer_queue_size must be an integer in [1, {MAX_BUFFER_QUEUE_SIZE}], "
                              f"not {self.buffer_queue_size!r}")
        if _not_int(self.timeout_ms) or not 0 < self.timeout_ms <= MAX_TIMEOUT_MS:
            raise ConfigError(f"camera.timeout_ms must be an integer in [1, {MAX_TIMEOUT_MS}], "
                              f"not {self.timeout_ms!r}")
        if self.roi is not None and (
            len(self.roi) != 4 or any(_not_int(v) for v in self.roi) or min(self.roi[:2]) < 0
            or min(self.roi[2:]) <= 0
        ):
            raise ConfigError(f"camera roi must be four integers x, y >= 0 and width, height > 0, "
                              f"not {self.roi!r}")
        if self.timeout_ms <= self.frame_period_us / _MS_PER_S:
            raise ConfigError(f"camera.timeout_ms ({self.timeout_ms} ms) must be longer than the frame "
                              f"period ({self.frame_period_us / _MS_PER_S:.2f} ms): grabs would time out")

    @property
    def frame_period_us(self) -> float:
        """The frame period in µs (1e6 / fps)."""
        return _US_PER_S / self.fps

    @property
    def device_index(self) -> int:
        """The enumeration index to open when no serial number is given."""
        return 0 if self.index is None else self.index

    def describe_device(self) -> str:
        """``SN 12345678`` or ``index 0``, for messages."""
        return f"SN {self.serial}" if self.serial is not None else f"index {self.device_index}"


@dataclass(frozen=True, slots=True, eq=False)
class CapturedFrame:
    """One frame as it came from the camera.

    ``image`` is uint8 HxW, owned by the caller (a fresh array, or the ``out`` buffer given to grab);
    ``camera_frame`` counts frames exposed since acquisition start (from 1; a gap means frames were lost);
    ``camera_ts_us`` is the camera's timestamp of the frame (µs on the camera's clock); ``host_ns`` is
    ``time.monotonic_ns()`` when the frame reached the host.
    """

    image: NDArray[np.uint8]
    camera_frame: int
    camera_ts_us: int
    host_ns: int


def check_out_buffer(out: NDArray[np.uint8], frame_shape: tuple[int, int]) -> None:
    """Raise ValueError unless ``out`` is a writable uint8 array of ``frame_shape`` that grab can fill."""
    if not isinstance(out, np.ndarray):
        raise ValueError(f"out must be a numpy array, not {type(out).__name__}")
    if out.dtype != np.uint8 or out.shape != frame_shape:
        raise ValueError(f"out must be uint8 {frame_shape}, not {out.dtype} {out.shape}")
    if not out.flags.writeable:
        raise ValueError("out must be writable")


class Camera(ABC):
    """A frame source configured by :class:`CameraSettings`.

    Counters: :attr:`timeouts` (grabs that raised CameraTimeout since start), :attr:`lost_frames` (gaps in
    ``camera_frame`` seen by grab since start) and :meth:`skipped_frames` (what the camera itself reports).
    """

    def __init__(self, settings: CameraSettings) -> None:
        if not isinstance(settings, CameraSettings):
            raise TypeError(f"settings must be CameraSettings, not {type(settings).__name__}")
        self._settings = settings
        self._is_open = False
        self._is_acquiring = False
        self._timeouts = 0
        self._lost_frames = 0

    @property
    def settings(self) -> CameraSettings:
        """The settings the camera was (or will be) configured with."""
        return self._settings

    @property
    def is_open(self) -> bool:
        """True between open() and close()."""
        return self._is_open

    @property
    def is_acquiring(self) -> bool:
        """True between start() and stop()."""
        return self._is_acquiring

    @property
    def timeouts(self) -> int:
        """Grabs that timed out since the last start()."""
        return self._timeouts

    @property
    def lost_frames(self) -> int:
        """Frames missing between consecutive grabbed frames (gaps in ``camera_frame``) since start()."""
        return self._lost_frames

    @property
    def frame_origin(self) -> tuple[int, int]:
        """(x, y) of the frames' top-left pixel on the sensor: the readout region's corner, else (0, 0)."""
        return (0, 0)

    @property
    @abstractmethod
    def frame_shape(self) -> tuple[int, int]:
        """(height, width) of the frames grab returns; available once open."""

    @abstractmethod
    def open(self) -> None:
        """Connect to the camera and apply the settings; raises DeviceError when it cannot."""

    @abstractmethod
    def start(self) -> None:
        """Start acquisition (frames are exposed from now on); resets the counters."""

    @abstractmethod
    def grab(self, timeout_ms: int | None = None, out: NDArray[np.uint8] | None = None) -> CapturedFrame:
        """The next frame, waiting up to ``timeout_ms`` (default: the settings').

        With ``out`` (uint8, :attr:`frame_shape`) the image is written into it and returned as
        ``CapturedFrame.image``, avoiding an allocation per frame.  Raises CameraTimeout or DeviceError.
        """

    @abstractmethod
    def stop(self) -> None:
        """Stop acquisition; no-op when not acquiring."""

    @abstractmethod
    def close(self) -> None:
        """Stop if needed and disconnect; never raises for a camera that is already gone."""

    @abstractmethod
    def skipped_frames(self) -> int:
        """Frames the camera reports as exposed but not delivered since start (its own counters)."""

    def _require_open(self) -> None:
        if not self._is_open:
            raise RuntimeError(f"{type(self).__name__}: camera is not open")

    def _require_acquiring(self) -> None:
        if not self._is_acquiring:
            raise RuntimeError(f"{type(self).__name__}: acquisition is not started")

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _not_int(value: object) -> bool:
    return not isinstance(value, int) or isinstance(value, bool)
