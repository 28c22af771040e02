"""XIMEA camera driver over xiAPI's Python package (``xiapipy``), or over the mock with the same API.

``XimeaCamera(settings, api)`` takes the API module: the real ``xiapipy.xiapi`` (loaded lazily by
:func:`load_xiapi`, because importing it loads XIMEA's driver library and raises OSError where that is not
installed) or :mod:`hardware_mocks.ximea`.  The driver code is the same for both.

Grabbing costs one copy per frame and no per-frame allocation with ``out``: one ``Image`` is reused, and the
pixels are copied once, straight from the driver's buffer (``Image.bp``, ``height`` rows of ``width +
padding_x`` bytes, valid until the next ``get_image``) into the result.  The package's own
``get_image_data_numpy()`` is not used: it allocates a new zero-filled ctypes array every call, has C copy
the pixels into it (dropping the row padding) and wraps that without copying again -- a fresh copy, but
with an allocation and a memset per frame.

This module talks to the API only through ``api.<name>``, ``self._cam``/``cam`` and ``self._img``/``img``
and with literal (or module-constant) parameter strings, so that ``tests/test_ximea_contract.py`` can
collect every name it uses and check it against the real package.
"""

from __future__ import annotations

import ctypes
import importlib
import logging
import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any, Final, NamedTuple, Protocol

import numpy as np
from numpy.typing import NDArray

from acquisition.camera._base import Camera, CameraSettings, CameraTimeout, CapturedFrame, check_out_buffer
from acquisition.errors import DeviceError

__all__ = [
    "DRIVER_LIBRARY_MISSING",
    "PACKAGE_MISSING",
    "XIAPI_MODULES",
    "SkippedFrames",
    "XiApi",
    "XimeaCamera",
    "load_xiapi",
]

log = logging.getLogger(__name__)

XIAPI_MODULES: Final = ("xiapipy.xiapi", "ximea.xiapi")
"""Where xiAPI's Python wrapper lives: the PyPI package ``xiapipy``, or ``ximea`` as XIMEA's Software
Package installs it (same API)."""

DRIVER_LIBRARY_MISSING: Final = ("XIMEA driver library not found (libm3api.so.2): install XIMEA's software "
                                 'package, or use camera.driver = "mock"')
PACKAGE_MISSING: Final = ("XIMEA Python package not found (xiapipy): pip install 'mespot[ximea]', or use "
                          'camera.driver = "mock"')

XI_TIMEOUT: Final = 10
"""xiAPI status of a get_image that got no frame in time."""

XI_STATUS_NAMES: Final[dict[int, str]] = {
    1: "XI_INVALID_HANDLE", 10: "XI_TIMEOUT", 11: "XI_INVALID_ARG", 12: "XI_NOT_SUPPORTED",
    41: "XI_ACQUISITION_ALREADY_UP", 45: "XI_ACQUISITION_STOPED", 46: "XI_ACQUISITION_STOPED_WERR",
    49: "XI_DEVICE_NOT_READY", 56: "XI_NO_DEVICES_FOUND", 57: "XI_RESOURCE_OR_FUNCTION_LOCKED",
    100: "XI_UNKNOWN_PARAM", 101: "XI_WRONG_PARAM_VALUE", 108: "XI_NOT_SUPPORTED_DATA_FORMAT",
    109: "XI_READ_ONLY_PARAM", 114: "XI_PARAM_NOT_SETTABLE", 121: "XI_NOT_SUPPORTED_PARAM_WHILE_ACQ",
}
"""xiApi.h names of the statuses worth naming in messages (the Python package has only descriptions)."""

XI_PIXEL_FORMATS: Final[dict[str, str]] = {"MONO8": "XI_MONO8", "RAW8": "XI_RAW8"}
XI_BUFFER_POLICY: Final = "XI_BP_UNSAFE"
"""The driver's default, stated: ``Image.bp`` points into the driver's queue buffer (no copy in xiAPI);
grab copies out of it before the next get_image."""
XI_TRIGGER_PORT: Final = "XI_GPI_PORT1"
XI_GPI_TRIGGER_MODE: Final = "XI_GPI_TRIGGER"
XI_TRIGGER_EDGE: Final = "XI_TRG_EDGE_RISING"
XI_TRIGGER_OFF: Final = "XI_TRG_OFF"
XI_TRIGGER_FRAME_START: Final = "XI_TRG_SEL_FRAME_START"
XI_TIMING_FREE_RUN: Final = "XI_ACQ_TIMING_MODE_FREE_RUN"
"""Timing in hardware-trigger mode: each trigger starts a frame (xiAPI's ``FREE_RUN`` mode)."""
XI_TIMING_FRAME_RATE: Final = "XI_ACQ_TIMING_MODE_FRAME_RATE"
"""Timing in free run: the sensor runs at ``framerate``."""
XI_COUNTER_TRANSPORT_SKIPPED: Final = "XI_CNT_SEL_TRANSPORT_SKIPPED_FRAMES"
XI_COUNTER_API_SKIPPED: Final = "XI_CNT_SEL_API_SKIPPED_FRAMES"

_BYTES_PER_PIXEL: Final = 1
_US_PER_S: Final = 1_000_000


class XiApi(Protocol):
    """What the driver needs of an API module (``xiapipy.xiapi`` or ``hardware_mocks.ximea``)."""

    Camera: Callable[..., Any]
    Image: Callable[[], Any]
    Xi_error: type[Exception]


class SkippedFrames(NamedTuple):
    """The camera's skipped-frame counters since acquisition start."""

    transport: int
    """Frames lost between camera and host (bandwidth, cable)."""
    api: int
    """Frames dropped by xiAPI because the application did not take them in time (queue full)."""


def _aligned(start: int, size: int, start_step: int, size_step: int, limit: int) -> tuple[int, int]:
    """The smallest [start, start + size) on the camera's steps that contains the given span, within
    ``limit`` (the full sensor side is always allowed)."""
    first = start - start % max(start_step, 1)
    span = start + size - first
    span += -span % max(size_step, 1)
    return first, min(span, limit - first)


def load_xiapi(importer: Callable[[str], ModuleType] = importlib.import_module) -> ModuleType:
    """Import xiAPI's Python module (``xiapipy.xiapi``, else ``ximea.xiapi``); DeviceError if impossible.

    Importing it loads XIMEA's driver library (``/usr/lib/libm3api.so.2`` on Linux), and fails with
    OSError where XIMEA's software package is not installed.
    """
    missing: ImportError | None = None
    for name in XIAPI_MODULES:
        try:
            return importer(name)
        except OSError as exc:
            raise DeviceError(DRIVER_LIBRARY_MISSING) from exc
        except ImportError as exc:
            if missing is None:
                missing = exc
    raise DeviceError(f"{PACKAGE_MISSING} ({missing})") from missing


class XimeaCamera(Camera):
    """A XIMEA camera (MONO8/RAW8) in hardware-trigger or free-run mode, through xiAPI or the mock.

    Not thread-safe, except :meth:`skipped_frames`: grab, stop and close belong to one thread.
    """

    def __init__(self, settings: CameraSettings, api: XiApi | ModuleType | None = None) -> None:
        super().__init__(settings)
        self._api: Any = api
        self._cam: Any = None
        self._img: Any = None
        self._shape: tuple[int, int] | None = None
        self._origin = (0, 0)
        self._serial_number = ""
        self._last_acq_nframe: int | None = None
        self._counter_lock = threading.Lock()
        self._buffer_types: dict[int, type[ctypes.Array[ctypes.c_ubyte]]] = {}

    @property
    def frame_shape(self) -> tuple[int, int]:
        """(height, width) as the camera reports it after configuration."""
        if self._shape is None:
            raise RuntimeError("XimeaCamera: frame_shape is known once the camera is open")
        return self._shape

    @property
    def serial_number(self) -> str:
        """The opened camera's serial number ('' before open)."""
        return self._serial_number

    def open(self) -> None:
        """Open the camera (by serial number, else by index) and apply the settings."""
        if self._is_open:
            return
        if self._api is None:
            self._api = load_xiapi()
        api = self._api
        settings = self._settings
        cam = api.Camera(settings.device_index)
        try:
            if settings.serial is not None:
                cam.open_device_by_SN(settings.serial)
            else:
                cam.open_device()
        except api.Xi_error as err:
            raise self._device_error("cannot open", err) from err
        self._cam = cam
        try:
            self._configure()
            self._shape = (int(cam.get_height()), int(cam.get_width()))
            self._serial_number = _text(cam.get_device_sn())
        except api.Xi_error as err:
            self._close_quietly()
            raise self._device_error("cannot configure", err) from err
        except BaseException:
            self._close_quietly()
            raise
        self._img = api.Image()
        self._is_open = True
        log.info("XIMEA camera %s open: %dx%d %s, %s", self._serial_number or settings.describe_device(),
                 self._shape[1], self._shape[0], settings.pixel_format, settings.trigger)

    def _configure(self) -> None:
        """Apply the settings (the camera is open, acquisition stopped)."""
        settings = self._settings
        self._cam.set_imgdataformat(XI_PIXEL_FORMATS[settings.pixel_format])
        # Whole µs: an int suits both xiAPI versions that take exposure as an integer and as a float.
        self._cam.set_exposure(max(1, round(settings.exposure_us)))
        self._cam.set_gain(float(settings.gain_db))
        self._cam.set_buffer_policy(XI_BUFFER_POLICY)
        self._cam.set_buffers_queue_size(int(settings.buffer_queue_size))
        if settings.trigger == "hardware":
            self._cam.set_acq_timing_mode(XI_TIMING_FREE_RUN)
            self._cam.set_gpi_selector(XI_TRIGGER_PORT)
            self._cam.set_gpi_mode(XI_GPI_TRIGGER_MODE)
            self._cam.set_trigger_source(XI_TRIGGER_EDGE)
            self._cam.set_trigger_selector(XI_TRIGGER_FRAME_START)
        else:
            self._cam.set_trigger_source(XI_TRIGGER_OFF)
            self._cam.set_acq_timing_mode(XI_TIMING_FRAME_RATE)
            self._cam.set_framerate(float(settings.fps))
        if settings.roi is not None:
            self._configure_roi(settings.roi)

    def _configure_roi(self, roi: tuple[int, int, int, int]) -> None:
        """Read out the smallest region the camera can take (its corner and size come in model-specific
        steps) that contains ``roi``."""
        cam = self._cam
        x, y, width, height = roi
        cam.set_offsetX(0)  # the offsets limit the size: at (0, 0) the maxima are the sensor's
        cam.set_offsetY(0)
        sensor_w, sensor_h = int(cam.get_width_maximum()), int(cam.get_height_maximum())
        if x + width > sensor_w or y + height > sensor_h:
            raise DeviceError(f"XIMEA camera {self._name()}: readout region {roi} does not fit the "
                              f"{sensor_w}x{sensor_h} sensor")
        x0, width = _aligned(x, width, int(cam.get_offsetX_increment()), int(cam.get_width_increment()),
                             sensor_w)
        y0, height = _aligned(y, height, int(cam.get_offsetY_increment()), int(cam.get_height_increment()),
                              sensor_h)
        cam.set_width(width)
        cam.set_height(height)
        cam.set_offsetX(x0)
        cam.set_offsetY(y0)
        self._origin = (x0, y0)

    @property
    def frame_origin(self) -> tuple[int, int]:
        """(x, y) of the frames' top-left pixel on the sensor (the readout region's corner once open)."""
        return self._origin

    def start(self) -> None:
        """Start acquisition; resets timeouts, lost_frames and the camera's counters."""
        self._require_open()
        if self._is_acquiring:
            return
        try:
            self._cam.start_acquisition()
        except self._api.Xi_error as err:
            raise self._device_error("cannot start acquisition", err) from err
        self._is_acquiring = True
        self._timeouts = 0
        self._lost_frames = 0
        self._last_acq_nframe = None

    def grab(self, timeout_ms: int | None = None, out: NDArray[np.uint8] | None = None) -> CapturedFrame:
        """The next frame (see :meth:`Camera.grab`); CameraTimeout when none came, DeviceError on a fault."""
        self._require_acquiring()
        wait_ms = self._settings.timeout_ms if timeout_ms is None else timeout_ms
        if not isinstance(wait_ms, int) or isinstance(wait_ms, bool) or wait_ms <= 0:
            raise ValueError(f"timeout_ms must be a positive int, not {timeout_ms!r}")
        assert self._shape is not None
        if out is not None:
            check_out_buffer(out, self._shape)
        img = self._img
        try:
            self._cam.get_image(img, wait_ms)
        except self._api.Xi_error as err:
            if getattr(err, "status", None) == XI_TIMEOUT:
                self._timeouts += 1
                raise CameraTimeout(f"XIMEA camera {self._name()}: no frame within {wait_ms} ms "
                                    f"({self._timeouts} timeouts since start)") from err
            raise self._device_error("failed while waiting for a frame", err) from err
        host_ns = time.monotonic_ns()
        height, width, padding = int(img.height), int(img.width), int(img.padding_x)
        if (height, width) != self._shape or img.get_bytes_per_pixel() != _BYTES_PER_PIXEL or not img.bp:
            raise DeviceError(f"XIMEA camera {self._name()}: unexpected frame {width}x{height} "
                              f"({img.get_bytes_per_pixel()} bytes/pixel), expected "
                              f"{self._shape[1]}x{self._shape[0]} 8-bit")
        rows = self._rows_view(int(img.bp), height, width + padding)
        pixels = rows[:, :width] if padding else rows
        if out is None:
            image = pixels.copy()
        else:
            np.copyto(out, pixels)
            image = out
        acq_nframe = int(img.acq_nframe)
        if self._last_acq_nframe is not None and acq_nframe > self._last_acq_nframe + 1:
            self._lost_frames += acq_nframe - self._last_acq_nframe - 1
        self._last_acq_nframe = acq_nframe
        camera_ts_us = int(img.tsSec) * _US_PER_S + int(img.tsUSec)
        return CapturedFrame(image=image, camera_frame=acq_nframe, camera_ts_us=camera_ts_us, host_ns=host_ns)

    def stop(self) -> None:
        """Stop acquisition (no-op when stopped); DeviceError if the camera fails to."""
        if not self._is_acquiring:
            return
        self._is_acquiring = False
        try:
            self._cam.stop_acquisition()
        except self._api.Xi_error as err:
            raise self._device_error("cannot stop acquisition", err) from err

    def close(self) -> None:
        """Stop and disconnect; device errors (e.g. an unplugged camera) are logged, not raised."""
        if not self._is_open:
            return
        try:
            self.stop()
        except DeviceError as exc:
            log.warning("%s", exc)
        self._close_quietly()
        self._is_open = False
        self._img = None

    def skipped_frames(self) -> int:
        """Frames skipped since start, transport plus API (the camera's counters)."""
        counts = self.skipped_frame_counts()
        return counts.transport + counts.api

    def skipped_frame_counts(self) -> SkippedFrames:
        """The camera's transport and API skipped-frame counters since start (thread-safe)."""
        self._require_open()
        with self._counter_lock:
            try:
                transport = self._read_counter(XI_COUNTER_TRANSPORT_SKIPPED)
                api = self._read_counter(XI_COUNTER_API_SKIPPED)
            except self._api.Xi_error as err:
                raise self._device_error("cannot read its counters", err) from err
        return SkippedFrames(transport=transport, api=api)

    def _read_counter(self, selector: str) -> int:
        self._cam.set_counter_selector(selector)
        return int(self._cam.get_counter_value())

    def _rows_view(self, address: int, height: int, stride: int) -> NDArray[np.uint8]:
        """The driver buffer at ``address`` as a (height, stride) uint8 array, without copying."""
        nbytes = height * stride
        buffer_type = self._buffer_types.get(nbytes)
        if buffer_type is None:
            buffer_type = self._buffer_types.setdefault(nbytes, ctypes.c_ubyte * nbytes)
        return np.frombuffer(buffer_type.from_address(address), dtype=np.uint8).reshape(height, stride)

    def _close_quietly(self) -> None:
        cam, self._cam = self._cam, None
        if cam is None:
            return
        try:
            cam.close_device()
        except self._api.Xi_error as err:
            log.warning("XIMEA camera %s: close failed: %s", self._name(), _describe(err))

    def _device_error(self, action: str, err: BaseException) -> DeviceError:
        return DeviceError(f"XIMEA camera {self._name()}: {action}: {_describe(err)}")

    def _name(self) -> str:
        return f"SN {self._serial_number}" if self._serial_number else self._settings.describe_device()


def _describe(err: BaseException) -> str:
    """``xiAPI error 46 XI_ACQUISITION_STOPED_WERR (Acquisition has been stopped with an error.)``."""
    status = getattr(err, "status", None)
    if not isinstance(status, int):
        return str(err)
    name = XI_STATUS_NAMES.get(status, "")
    descr = getattr(err, "descr", "") or str(err)
    return f"xiAPI error {status}{' ' + name if name else ''} ({descr})"


def _text(value: bytes | str) -> str:
    """xiAPI returns strings as bytes."""
    return value.decode(errors="replace").strip("\x00 ") if isinstance(value, bytes) else str(value).strip()
