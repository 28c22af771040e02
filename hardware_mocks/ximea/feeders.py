"""Frame feeders: where a mock XIMEA camera's frames come from.

The mock camera asks its feeder for one frame per exposure, in the thread that calls ``get_image``:
``next_frame(timeout_s, triggered)`` returns ``(image, ts_us)`` -- a uint8 HxW image of ``frame_shape``
and the time of its exposure in µs on the camera's clock (what becomes ``tsSec``/``tsUSec``) -- or ``None``
when no frame came within ``timeout_s`` (the camera then reports a timeout).  ``triggered`` is True when
the camera waits for a hardware trigger, False in free run.

A feeder may also have ``start(fps)`` and ``stop()``: the camera calls them at acquisition start and stop,
with its frame rate when it runs in a frame-rate timing mode (None otherwise).

* :class:`ArrayFeeder` cycles through frames in memory, as fast as asked, on a virtual clock.
* :class:`VideoFileFeeder` reads a video file (OpenCV), grayscale, fitted to a size if asked.
* :class:`TimedFeeder` wraps either to emit in real time at a frame rate (free run).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Final, Literal, Protocol, Self, runtime_checkable

import cv2
import numpy as np
from numpy.typing import NDArray

from acquisition.errors import InputFileError

__all__ = [
    "SENSOR_SHAPE",
    "ArrayFeeder",
    "FrameFeeder",
    "TimedFeeder",
    "VideoFileFeeder",
]

SENSOR_SHAPE: Final = (1080, 2040)
"""(height, width) of the lab camera's MONO8 frames."""

DEFAULT_FEEDER_FPS: Final = 150.0
"""Rate of the virtual clock when neither the caller nor the video says otherwise."""

_US_PER_S: Final = 1_000_000
_NS_PER_S: Final = 1_000_000_000
_NS_PER_US: Final = 1000

Frame = NDArray[np.uint8]


@runtime_checkable
class FrameFeeder(Protocol):
    """What a mock camera takes its frames from (see the module docstring)."""

    frame_shape: tuple[int, int]

    def next_frame(self, timeout_s: float, triggered: bool) -> tuple[Frame, int] | None:
        """(image, exposure timestamp in µs on the camera clock), or None when none came in time."""
        ...


def _check_frame(image: NDArray[np.generic], what: str) -> Frame:
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"{what} must be uint8 HxW, not {image.dtype} {image.shape}")
    return np.ascontiguousarray(image)


class ArrayFeeder:
    """Frames from memory, cycled (or played once), delivered at once on a virtual clock.

    Frame ``k`` (from 0) is stamped ``start_ts_us + k * 1e6 / fps``.  Triggered or not, every request is
    answered at once: it models a trigger that always comes.  With ``loop=False`` the feeder runs dry after
    the last frame, and then answers ``None`` after waiting the timeout.  Frames are not copied.
    """

    def __init__(self, frames: NDArray[np.uint8] | Sequence[NDArray[np.uint8]], *,
                 fps: float = DEFAULT_FEEDER_FPS, start_ts_us: int = 0, loop: bool = True) -> None:
        items = [_check_frame(np.asarray(f), "ArrayFeeder frame") for f in frames]
        if not items:
            raise ValueError("ArrayFeeder needs at least one frame")
        shapes = {f.shape for f in items}
        if len(shapes) != 1:
            raise ValueError(f"ArrayFeeder frames differ in shape: {sorted(shapes)}")
        if not fps > 0:
            raise ValueError(f"fps must be > 0, not {fps!r}")
        self._frames = tuple(items)
        self.frame_shape: tuple[int, int] = (int(items[0].shape[0]), int(items[0].shape[1]))
        self._period_us = _US_PER_S / fps
        self._start_ts_us = int(start_ts_us)
        self._loop = loop
        self._emitted = 0

    @property
    def frames_emitted(self) -> int:
        """Frames handed out so far."""
        return self._emitted

    def next_frame(self, timeout_s: float, triggered: bool) -> tuple[Frame, int] | None:
        """The next frame and its virtual timestamp; None (after ``timeout_s``) once a one-shot run ended."""
        k = self._emitted
        if not self._loop and k >= len(self._frames):
            time.sleep(max(timeout_s, 0.0))
            return None
        self._emitted += 1
        return self._frames[k % len(self._frames)], self._start_ts_us + round(k * self._period_us)


FitMode = Literal["pad", "stretch"]
"""How a video frame is fitted to another size: scaled to fit and padded with black (aspect kept), or
stretched."""


class VideoFileFeeder:
    """Frames from a video file, as MONO8, optionally fitted to ``frame_shape`` (e.g. :data:`SENSOR_SHAPE`).

    Delivered as fast as asked, stamped on a virtual clock at ``fps`` (default: the file's rate).  At the end
    of the file it starts over (``loop=True``) or runs dry (answers None after the timeout).  Raises
    InputFileError when the file cannot be read.
    """

    def __init__(self, path: str | Path, *, frame_shape: tuple[int, int] | None = None, fit: FitMode = "pad",
                 loop: bool = True, fps: float | None = None, start_ts_us: int = 0) -> None:
        self._path = Path(path)
        if fit not in ("pad", "stretch"):
            raise ValueError(f"fit must be 'pad' or 'stretch', not {fit!r}")
        if frame_shape is not None and (len(frame_shape) != 2 or min(frame_shape) <= 0):
            raise ValueError(f"frame_shape must be (height, width) > 0, not {frame_shape!r}")
        self._fit: FitMode = fit
        self._loop = loop
        self._capture = self._open()
        first = self._read_raw()
        if first is None:
            self._capture.release()
            raise InputFileError(self._path, "video has no frames")
        self._pending: Frame | None = first
        self.native_shape: tuple[int, int] = (int(first.shape[0]), int(first.shape[1]))
        self.frame_shape: tuple[int, int] = (
            (int(frame_shape[0]), int(frame_shape[1])) if frame_shape is not None else self.native_shape)
        file_fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)
        rate = fps if fps is not None else (file_fps if file_fps > 0 else DEFAULT_FEEDER_FPS)
        if not rate > 0:
            raise ValueError(f"fps must be > 0, not {fps!r}")
        self._period_us = _US_PER_S / rate
        self._start_ts_us = int(start_ts_us)
        self._emitted = 0
        self._exhausted = False

    @property
    def frames_emitted(self) -> int:
        """Frames handed out so far (over all loops)."""
        return self._emitted

    def next_frame(self, timeout_s: float, triggered: bool) -> tuple[Frame, int] | None:
        """The next video frame (fitted) and its virtual timestamp; None after ``timeout_s`` once run dry."""
        raw = self._next_raw()
        if raw is None:
            time.sleep(max(timeout_s, 0.0))
            return None
        k = self._emitted
        self._emitted += 1
        return self._fitted(raw), self._start_ts_us + round(k * self._period_us)

    def close(self) -> None:
        """Release the video file."""
        self._capture.release()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _open(self) -> cv2.VideoCapture:
        if not self._path.is_file():
            raise InputFileError(self._path, "video file not found")
        capture = cv2.VideoCapture(str(self._path))
        if not capture.isOpened():
            raise InputFileError(self._path, "OpenCV cannot open this video")
        return capture

    def _read_raw(self) -> Frame | None:
        ok, frame = self._capture.read()
        if not ok or frame is None:
            return None
        if frame.ndim == 3:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2GRAY if frame.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
        return np.ascontiguousarray(frame, dtype=np.uint8)

    def _next_raw(self) -> Frame | None:
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        if self._exhausted:
            return None
        frame = self._read_raw()
        if frame is None and self._loop:
            self._capture.release()
            self._capture = self._open()
            frame = self._read_raw()
        if frame is None:
            self._exhausted = True
        return frame

    def _fitted(self, frame: Frame) -> Frame:
        height, width = self.frame_shape
        if frame.shape == self.frame_shape:
            return frame
        if self._fit == "stretch":
            return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
        scale = min(height / frame.shape[0], width / frame.shape[1])
        new_h = max(1, min(height, round(frame.shape[0] * scale)))
        new_w = max(1, min(width, round(frame.shape[1] * scale)))
        scaled = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_AREA)
        out = np.zeros(self.frame_shape, dtype=np.uint8)
        top, left = (height - new_h) // 2, (width - new_w) // 2
        out[top:top + new_h, left:left + new_w] = scaled
        return out


class TimedFeeder:
    """Paces another feeder in real time: one frame every ``1/fps`` s, stamped on a real camera clock.

    The camera clock counts µs from the feeder's creation (the camera's power-up).  Frame ``k`` after
    acquisition start is due at ``start + (k + 1) / fps``; a caller that asks late gets the frames already
    due at once (as if buffered), still stamped with the time they were due.  ``fps=None`` takes the rate the
    camera passes to :meth:`start` (its ``framerate`` in a frame-rate timing mode).  The inner feeder's own
    timestamps are dropped.
    """

    def __init__(self, inner: FrameFeeder, fps: float | None = None) -> None:
        if fps is not None and not fps > 0:
            raise ValueError(f"fps must be > 0, not {fps!r}")
        self._inner = inner
        self._fps = fps
        self.frame_shape: tuple[int, int] = inner.frame_shape
        self._origin_ns = time.monotonic_ns()
        self._period_ns: int | None = None
        self._next_due_ns = 0

    @property
    def inner(self) -> FrameFeeder:
        """The feeder whose frames are paced."""
        return self._inner

    def start(self, fps: float | None) -> None:
        """Restart the schedule at now; use ``fps`` unless the feeder was given its own."""
        rate = self._fps if self._fps is not None else fps
        if rate is None or not rate > 0:
            raise ValueError("TimedFeeder needs a frame rate: give fps, or run the camera in a frame-rate "
                             "timing mode")
        self._period_ns = round(_NS_PER_S / rate)
        self._next_due_ns = time.monotonic_ns() + self._period_ns
        inner_start = getattr(self._inner, "start", None)
        if callable(inner_start):
            inner_start(rate)

    def stop(self) -> None:
        """Forget the schedule (the next start begins a new one)."""
        self._period_ns = None
        inner_stop = getattr(self._inner, "stop", None)
        if callable(inner_stop):
            inner_stop()

    def next_frame(self, timeout_s: float, triggered: bool) -> tuple[Frame, int] | None:
        """The next frame when it is due, or None after ``timeout_s`` if it is not due by then."""
        if self._period_ns is None:
            self.start(None)
        assert self._period_ns is not None
        wait_ns = self._next_due_ns - time.monotonic_ns()
        if wait_ns > timeout_s * _NS_PER_S:
            time.sleep(max(timeout_s, 0.0))
            return None
        if wait_ns > 0:
            time.sleep(wait_ns / _NS_PER_S)
        remaining_s = max(timeout_s - max(wait_ns, 0) / _NS_PER_S, 0.0)
        got = self._inner.next_frame(remaining_s, triggered)
        if got is None:
            return None
        due_ns = self._next_due_ns
        self._next_due_ns += self._period_ns
        return got[0], (due_ns - self._origin_ns) // _NS_PER_US
