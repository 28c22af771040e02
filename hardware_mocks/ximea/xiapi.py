"""A stand-in for ``xiapipy.xiapi``: ``Camera``, ``Image`` and ``Xi_error`` without XIMEA's driver.

Same method names, signatures, parameter strings, return types (bytes for strings, float32-rounded floats)
and status codes as the real package, for the subset a driver needs.  Cameras are "plugged in" with
:func:`register_device`, which returns the :class:`MockDevice` that tests use to inject faults::

    device = register_device("MOCK0001", ArrayFeeder(frames))
    cam = Camera(); cam.open_device_by_SN("MOCK0001")
    device.inject_drops(2)      # the next 2 frames are exposed but lost in transport
    device.inject_timeouts(1)   # the next get_image times out (status 10) after its timeout
    device.disconnect()         # every call from now on fails (see MockDevice.disconnect)

Frames are produced when ``get_image`` asks for them (no transport thread): a slow caller slows the
"camera" rather than losing frames, so skipped frames happen only when injected.  ``Image.bp`` points at
the frame's bytes (``height`` rows of ``width + padding_x`` bytes), valid until the next ``get_image``, as
with the real driver's default (unsafe) buffer policy.
"""

from __future__ import annotations

import ctypes
import threading
import time
from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np
from numpy.typing import NDArray

from hardware_mocks.ximea import _defs as d
from hardware_mocks.ximea.feeders import FrameFeeder

__all__ = [
    "Camera",
    "Image",
    "MockDevice",
    "Xi_error",
    "clear_devices",
    "register_device",
    "registered_devices",
    "unregister_device",
]

DEFAULT_DEVICE_NAME: Final = "MQ022MG-CM (mock)"
_US_PER_S: Final = 1_000_000
_MS_PER_S: Final = 1000.0
_FIRST_BUS_ADDRESS: Final = 1

CounterName = Literal["transport", "api"]
_SKIP_COUNTERS: Final[dict[str, str]] = {
    "transport": "XI_CNT_SEL_TRANSPORT_SKIPPED_FRAMES",
    "api": "XI_CNT_SEL_API_SKIPPED_FRAMES",
}


class Xi_error(Exception):
    """A non-zero xiAPI status, as the real package raises it (``status``, ``descr``)."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.descr = d.ERROR_CODES.get(status, "Unknown error")

    def __str__(self) -> str:
        return "ERROR %i: %s" % (self.status, self.descr)  # noqa: UP031 -- same text as the real package


class Image:
    """Image data and metadata filled by ``Camera.get_image`` (the real one is a ctypes XI_IMG)."""

    def __init__(self) -> None:
        self.size = 0
        self.bp: int | None = None
        self.bp_size = 0
        self.frm = 0
        self.width = 0
        self.height = 0
        self.nframe = 0
        self.tsSec = 0
        self.tsUSec = 0
        self.GPI_level = 0
        self.black_level = 0
        self.padding_x = 0
        self.exposure_time_us = 0
        self.gain_db = 0.0
        self.acq_nframe = 0
        self._buffer: NDArray[np.uint8] | None = None

    def get_bytes_per_pixel(self) -> int:
        """Bytes per pixel of the current format (1: the mock emits 8-bit formats only)."""
        return 1

    def get_channel_count(self) -> int:
        """Channels per pixel (1)."""
        return 1

    def get_image_data_raw(self) -> bytes:
        """The image bytes including row padding, like the real method."""
        return bytes(self._rows())

    def get_image_data_numpy(self, invert_rgb_order: bool = False) -> NDArray[np.uint8]:
        """A new HxW uint8 array with the image (padding removed): a copy, as in the real package."""
        rows = self._rows().reshape(self.height, self.width + self.padding_x)
        return rows[:, :self.width].copy()

    def _rows(self) -> NDArray[np.uint8]:
        if self._buffer is None or not self.bp:
            raise RuntimeError("No image data available (call get_image() first)")
        return self._buffer.reshape(-1)


@dataclass
class MockDevice:
    """A plugged-in mock camera; fault injection for tests.  Use :func:`register_device` to create one."""

    serial: str
    feeder: FrameFeeder
    name: str = DEFAULT_DEVICE_NAME
    padding_x: int = 0
    params: dict[str, int | float | str] = field(default_factory=dict)
    """Current parameter values (what the driver configured), by xiAPI parameter name."""
    gpi_modes: dict[str, str] = field(default_factory=dict)
    """GPI port -> mode, as set through gpi_selector + gpi_mode."""
    counters: dict[str, int] = field(default_factory=dict)
    """Counter selector name -> value since acquisition start."""
    acq_nframe: int = 0
    nframe: int = 0
    is_open: bool = False
    is_acquiring: bool = False
    connected: bool = True
    lost_status: int | None = None
    _pending_drops: dict[str, int] = field(default_factory=dict)
    _pending_timeouts: int = 0
    _generation: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.padding_x < 0:
            raise ValueError("padding_x must be >= 0")
        self.reset_params()

    def reset_params(self) -> None:
        """Parameters back to their power-up defaults (opening a camera does this)."""
        self.params = {name: spec.default for name, spec in d.PARAMS.items()}
        self.params["width"] = self.feeder.frame_shape[1]
        self.params["height"] = self.feeder.frame_shape[0]
        self.params["device_sn"] = self.serial
        self.params["device_name"] = self.name
        self.gpi_modes = {}
        self.counters = dict.fromkeys(d.XI_COUNTER_SELECTOR, 0)

    @property
    def inst_path(self) -> str:
        """The device's instance path (what XI_OPEN_BY_INST_PATH matches)."""
        return f"mock://{self.serial}"

    @property
    def triggered(self) -> bool:
        """True when the configuration waits for hardware triggers."""
        return self.params["trigger_source"] in d.HARDWARE_TRIGGER_SOURCES

    @property
    def trigger_port(self) -> str | None:
        """The GPI port set to trigger mode (None: hardware triggers would never arrive)."""
        ports = [port for port, mode in self.gpi_modes.items() if mode == "XI_GPI_TRIGGER"]
        return ports[0] if ports else None

    def inject_drops(self, n: int, counter: CounterName = "transport") -> None:
        """The next ``n`` frames are exposed (``acq_nframe`` counts them) but never delivered.

        They are taken from the feeder (in its time) and counted by the transport (default) or API
        skipped-frames counter.
        """
        if n < 0 or counter not in _SKIP_COUNTERS:
            raise ValueError(f"inject_drops: n must be >= 0 and counter one of {tuple(_SKIP_COUNTERS)}")
        with self._lock:
            self._pending_drops[counter] = self._pending_drops.get(counter, 0) + n

    def inject_timeouts(self, n: int) -> None:
        """The next ``n`` get_image calls wait their whole timeout and fail with status 10 (XI_TIMEOUT)."""
        if n < 0:
            raise ValueError("inject_timeouts: n must be >= 0")
        with self._lock:
            self._pending_timeouts += n

    def disconnect(self, status: int | None = None) -> None:
        """Unplug: every later call on a camera that has it open fails with ``status``.

        xiAPI has no dedicated "device lost" status.  By default ``get_image`` fails with 46
        (XI_ACQUISITION_STOPED_WERR, "Acquisition has been stopped with an error.") while acquiring and every
        other call with 1 (XI_INVALID_HANDLE); ``close_device`` still succeeds, and opening it again fails
        with 56 (XI_NO_DEVICES_FOUND) until :meth:`reconnect`.
        """
        with self._lock:
            self.connected = False
            self.lost_status = status

    def reconnect(self) -> None:
        """Plug back in: the device can be opened again; cameras that had it open stay invalid."""
        with self._lock:
            self.connected = True
            self.lost_status = None
            self.is_open = False
            self.is_acquiring = False
            self._generation += 1

    def _take_faults(self) -> tuple[bool, dict[str, int]]:
        with self._lock:
            timeout = self._pending_timeouts > 0
            if timeout:
                self._pending_timeouts -= 1
                return True, {}
            drops, self._pending_drops = self._pending_drops, {}
            return False, drops


_registry: dict[str, MockDevice] = {}
_registry_lock = threading.Lock()


def register_device(serial: str, feeder: FrameFeeder, *, name: str = DEFAULT_DEVICE_NAME,
                    padding_x: int = 0) -> MockDevice:
    """Plug in a mock camera with serial number ``serial`` fed by ``feeder``; returns its MockDevice.

    ``padding_x`` adds that many bytes at the end of each image row (as some real transports do).
    """
    if not isinstance(serial, str) or not serial:
        raise ValueError("serial must be a non-empty string")
    shape = feeder.frame_shape
    if len(shape) != 2 or min(shape) <= 0:
        raise ValueError(f"feeder.frame_shape must be (height, width) > 0, not {shape!r}")
    with _registry_lock:
        if serial in _registry:
            raise ValueError(f"a mock camera with serial {serial!r} is already registered")
        device = MockDevice(serial=serial, feeder=feeder, name=name, padding_x=padding_x)
        _registry[serial] = device
        return device


def unregister_device(serial: str) -> None:
    """Unplug the mock camera ``serial`` (as :meth:`MockDevice.disconnect` for cameras that have it open)."""
    with _registry_lock:
        device = _registry.pop(serial, None)
    if device is None:
        raise KeyError(f"no mock camera with serial {serial!r}")
    device.disconnect()


def registered_devices() -> list[MockDevice]:
    """The plugged-in mock cameras, in enumeration (registration) order."""
    with _registry_lock:
        return list(_registry.values())


def clear_devices() -> None:
    """Unplug every mock camera."""
    for device in registered_devices():
        unregister_device(device.serial)


class Camera:
    """A mock XIMEA camera handle with the real ``xiapi.Camera`` methods the driver needs."""

    def __init__(self, dev_id: int = 0) -> None:
        self.CAM_OPEN = False
        self.dev_id = dev_id
        self.handle = 0
        self._device: MockDevice | None = None
        self._generation = -1

    # -- connection --------------------------------------------------------------------------------------

    def get_number_devices(self) -> int:
        """Number of plugged-in cameras."""
        return len(registered_devices())

    def open_device(self) -> None:
        """Connect the camera at enumeration index ``dev_id``."""
        if self.CAM_OPEN:
            raise RuntimeError("Camera already open. Create new instance to open next camera")
        devices = registered_devices()
        if not 0 <= self.dev_id < len(devices):
            raise Xi_error(d.XI_NO_DEVICES_FOUND)
        self._attach(devices[self.dev_id])

    def open_device_by(self, open_type: str, val: str) -> None:
        """Connect the camera matched by ``open_type`` (XI_OPEN_BY_SN or XI_OPEN_BY_INST_PATH here)."""
        if self.CAM_OPEN:
            raise RuntimeError("Camera already open. Create new instance to open next camera")
        if open_type not in d.XI_OPEN_BY:
            raise RuntimeError("invalid value")
        for device in registered_devices():
            if (open_type == "XI_OPEN_BY_SN" and device.serial == val) or \
                    (open_type == "XI_OPEN_BY_INST_PATH" and device.inst_path == val):
                self._attach(device)
                return
        raise Xi_error(d.XI_NO_DEVICES_FOUND)

    def open_device_by_SN(self, serial_number: str) -> None:
        """Connect the camera with this serial number (a string)."""
        if not isinstance(serial_number, str):
            raise TypeError("serial_number must be a string")
        self.open_device_by("XI_OPEN_BY_SN", serial_number)

    def close_device(self) -> None:
        """Disconnect (succeeds for an unplugged camera too)."""
        device = self._device
        if device is not None and self._generation == device._generation:
            with device._lock:
                device.is_open = False
                device.is_acquiring = False
            _call_hook(device.feeder, "stop")
        self._device = None
        self.handle = 0
        self.CAM_OPEN = False

    def get_device_info_string(self, param: str) -> bytes:
        """Info about the camera at ``dev_id`` without opening it (device_sn, device_name, ...)."""
        devices = registered_devices()
        if not 0 <= self.dev_id < len(devices):
            raise Xi_error(d.XI_NO_DEVICES_FOUND)
        if param not in d.DEVICE_INFO_KEYS:
            raise Xi_error(d.XI_UNKNOWN_PARAM)
        device = devices[self.dev_id]
        info = {"device_sn": device.serial, "device_name": device.name, "device_inst_path": device.inst_path,
                "device_loc_path": f"mock-bus/{self.dev_id + _FIRST_BUS_ADDRESS}", "device_type": "USB3.0"}
        return info[param].encode()

    # -- acquisition -------------------------------------------------------------------------------------

    def start_acquisition(self) -> None:
        """Start exposing frames; resets acq_nframe, nframe and the counters."""
        device = self._live_device()
        with device._lock:
            if device.is_acquiring:
                raise Xi_error(d.XI_ACQUISITION_ALREADY_UP)
            device.is_acquiring = True
            device.acq_nframe = 0
            device.nframe = 0
            device.counters = dict.fromkeys(d.XI_COUNTER_SELECTOR, 0)
            free_run_rate = device.params["acq_timing_mode"] in d.FRAME_RATE_TIMING_MODES
            fps = float(device.params["framerate"]) if free_run_rate and not device.triggered else None
        _call_hook(device.feeder, "start", fps)

    def stop_acquisition(self) -> None:
        """Stop exposing frames (no error when already stopped, as xiAPI ignores it)."""
        device = self._live_device()
        with device._lock:
            was_acquiring, device.is_acquiring = device.is_acquiring, False
        if was_acquiring:
            _call_hook(device.feeder, "stop")

    def get_image(self, image: Image, timeout: int = 5000) -> None:
        """Wait up to ``timeout`` ms for the next frame and fill ``image``; Xi_error(10) when none came."""
        device = self._live_device(acquiring=True)
        if not isinstance(timeout, int):
            raise TypeError(f"int expected instead of {type(timeout).__name__}")  # as ctypes DWORD(timeout)
        timeout_s = timeout / _MS_PER_S
        deadline = time.monotonic() + timeout_s
        injected_timeout, drops = device._take_faults()
        if injected_timeout or (device.triggered and device.trigger_port is None):
            time.sleep(timeout_s)
            raise Xi_error(d.XI_TIMEOUT)
        triggered = device.triggered
        for counter, n in drops.items():
            for done in range(n):
                try:
                    self._expose(device, deadline, triggered)
                except Xi_error:
                    device.inject_drops(n - done, counter)  # still to come
                    raise
                with device._lock:
                    device.counters[_SKIP_COUNTERS[counter]] += 1
        frame, ts_us = self._expose(device, deadline, triggered)
        self._live_device(acquiring=True)  # unplugged while waiting?
        with device._lock:
            device.nframe += 1
            device.counters["XI_CNT_SEL_TRANSPORT_TRANSFERRED_FRAMES"] += 1
            self._fill(image, device, frame, ts_us)

    # -- parameters --------------------------------------------------------------------------------------

    def set_param(self, param: str, val: int | float | str) -> None:
        """Set a parameter by its xiAPI name (prefer the named setters)."""
        spec = _spec(param)
        value = _coerce(param, spec, val)
        device = self._live_device()
        if spec.read_only:
            raise Xi_error(d.XI_READ_ONLY_PARAM)
        with device._lock:
            if device.is_acquiring and not spec.live:
                raise Xi_error(d.XI_NOT_SUPPORTED_PARAM_WHILE_ACQ)
            self._apply(device, param, value)

    def get_param(self, param: str, buffer_size: int = 256) -> int | float | str | bytes:
        """A parameter's value: str for enumerators, bytes for strings, float32-rounded for floats."""
        spec = _spec(param)
        device = self._live_device()
        with device._lock:
            if param == "counter_value":
                return device.counters[str(device.params["counter_selector"])]
            if ":" in param:
                return _roi_limit(device, param)
            value = device.params[param]
        if spec.kind == "str":
            return str(value).encode()[:buffer_size]
        if spec.kind == "float":
            return ctypes.c_float(float(value)).value
        return value

    def set_exposure(self, exposure: float) -> None:
        """Exposure time in microseconds."""
        self.set_param("exposure", exposure)

    def get_exposure(self) -> float:
        """Exposure time in microseconds."""
        return self.get_param("exposure")  # type: ignore[return-value]

    def set_gain(self, gain: float) -> None:
        """Gain in dB."""
        self.set_param("gain", gain)

    def get_gain(self) -> float:
        """Gain in dB."""
        return self.get_param("gain")  # type: ignore[return-value]

    def set_imgdataformat(self, imgdataformat: str) -> None:
        """Output data format (XI_MONO8, XI_RAW8)."""
        self.set_param("imgdataformat", imgdataformat)

    def get_imgdataformat(self) -> str:
        """Output data format."""
        return self.get_param("imgdataformat")  # type: ignore[return-value]

    def set_framerate(self, framerate: float) -> None:
        """Frame rate in Hz (used in the frame-rate timing modes)."""
        self.set_param("framerate", framerate)

    def get_framerate(self) -> float:
        """Frame rate in Hz."""
        return self.get_param("framerate")  # type: ignore[return-value]

    def set_acq_timing_mode(self, acq_timing_mode: str) -> None:
        """Type of sensor frames timing."""
        self.set_param("acq_timing_mode", acq_timing_mode)

    def get_acq_timing_mode(self) -> str:
        """Type of sensor frames timing."""
        return self.get_param("acq_timing_mode")  # type: ignore[return-value]

    def set_trigger_source(self, trigger_source: str) -> None:
        """Source of trigger (XI_TRG_OFF: free run)."""
        self.set_param("trigger_source", trigger_source)

    def get_trigger_source(self) -> str:
        """Source of trigger."""
        return self.get_param("trigger_source")  # type: ignore[return-value]

    def set_trigger_selector(self, trigger_selector: str) -> None:
        """What a trigger does (XI_TRG_SEL_FRAME_START: start one frame)."""
        self.set_param("trigger_selector", trigger_selector)

    def get_trigger_selector(self) -> str:
        """What a trigger does."""
        return self.get_param("trigger_selector")  # type: ignore[return-value]

    def set_gpi_selector(self, gpi_selector: str) -> None:
        """Select the GPI port that gpi_mode applies to."""
        self.set_param("gpi_selector", gpi_selector)

    def get_gpi_selector(self) -> str:
        """The selected GPI port."""
        return self.get_param("gpi_selector")  # type: ignore[return-value]

    def set_gpi_mode(self, gpi_mode: str) -> None:
        """Function of the selected GPI port (XI_GPI_TRIGGER: trigger input)."""
        self.set_param("gpi_mode", gpi_mode)

    def get_gpi_mode(self) -> str:
        """Function of the selected GPI port."""
        return self.get_param("gpi_mode")  # type: ignore[return-value]

    def set_buffers_queue_size(self, buffers_queue_size: int) -> None:
        """Number of frame buffers in the acquisition queue."""
        self.set_param("buffers_queue_size", buffers_queue_size)

    def get_buffers_queue_size(self) -> int:
        """Number of frame buffers in the acquisition queue."""
        return self.get_param("buffers_queue_size")  # type: ignore[return-value]

    def set_buffer_policy(self, buffer_policy: str) -> None:
        """Data move policy (XI_BP_UNSAFE: image points into the driver's buffer)."""
        self.set_param("buffer_policy", buffer_policy)

    def get_buffer_policy(self) -> str:
        """Data move policy."""
        return self.get_param("buffer_policy")  # type: ignore[return-value]

    def set_counter_selector(self, counter_selector: str) -> None:
        """Select the counter that get_counter_value reads."""
        self.set_param("counter_selector", counter_selector)

    def get_counter_selector(self) -> str:
        """The selected counter."""
        return self.get_param("counter_selector")  # type: ignore[return-value]

    def get_counter_value(self) -> int:
        """Value of the selected counter."""
        return self.get_param("counter_value")  # type: ignore[return-value]

    def get_width(self) -> int:
        """Width of the images (pixels)."""
        return self.get_param("width")  # type: ignore[return-value]

    def set_width(self, width: int) -> None:
        """Width of the images (pixels): the readout region's width."""
        self.set_param("width", width)

    def get_height(self) -> int:
        """Height of the images (pixels)."""
        return self.get_param("height")  # type: ignore[return-value]

    def set_height(self, height: int) -> None:
        """Height of the images (pixels): the readout region's height."""
        self.set_param("height", height)

    def get_width_maximum(self) -> int:
        """Largest width at the current horizontal offset."""
        return self.get_param("width:max")  # type: ignore[return-value]

    def get_width_increment(self) -> int:
        """Step of the width."""
        return self.get_param("width:inc")  # type: ignore[return-value]

    def get_height_maximum(self) -> int:
        """Largest height at the current vertical offset."""
        return self.get_param("height:max")  # type: ignore[return-value]

    def get_height_increment(self) -> int:
        """Step of the height."""
        return self.get_param("height:inc")  # type: ignore[return-value]

    def get_offsetX(self) -> int:
        """Horizontal offset of the readout region (pixels)."""
        return self.get_param("offsetX")  # type: ignore[return-value]

    def set_offsetX(self, offsetX: int) -> None:
        """Horizontal offset of the readout region (pixels)."""
        self.set_param("offsetX", offsetX)

    def get_offsetX_increment(self) -> int:
        """Step of the horizontal offset."""
        return self.get_param("offsetX:inc")  # type: ignore[return-value]

    def get_offsetY(self) -> int:
        """Vertical offset of the readout region (pixels)."""
        return self.get_param("offsetY")  # type: ignore[return-value]

    def set_offsetY(self, offsetY: int) -> None:
        """Vertical offset of the readout region (pixels)."""
        self.set_param("offsetY", offsetY)

    def get_offsetY_increment(self) -> int:
        """Step of the vertical offset."""
        return self.get_param("offsetY:inc")  # type: ignore[return-value]

    def get_device_sn(self, buffer_size: int = 256) -> bytes:
        """Serial number (bytes, as the real package returns strings)."""
        return self.get_param("device_sn", buffer_size)  # type: ignore[return-value]

    def get_device_name(self, buffer_size: int = 256) -> bytes:
        """Model name (bytes)."""
        return self.get_param("device_name", buffer_size)  # type: ignore[return-value]

    # -- internals ---------------------------------------------------------------------------------------

    def _attach(self, device: MockDevice) -> None:
        with device._lock:
            if not device.connected:
                raise Xi_error(d.XI_NO_DEVICES_FOUND)
            if device.is_open:
                raise Xi_error(d.XI_RESOURCE_OR_FUNCTION_LOCKED)
            device.is_open = True
            device.is_acquiring = False
            device.reset_params()
            self._device = device
            self._generation = device._generation
        self.handle = id(device)
        self.CAM_OPEN = True

    def _live_device(self, *, acquiring: bool = False) -> MockDevice:
        device = self._device
        if device is None or self._generation != device._generation:
            raise Xi_error(d.XI_INVALID_HANDLE)
        if not device.connected:
            if device.lost_status is not None:
                raise Xi_error(device.lost_status)
            lost_in_acquisition = acquiring and device.is_acquiring
            raise Xi_error(d.XI_ACQUISITION_STOPED_WERR if lost_in_acquisition else d.XI_INVALID_HANDLE)
        if acquiring and not device.is_acquiring:
            raise Xi_error(d.XI_ACQUISITION_STOPED)
        return device

    @staticmethod
    def _expose(device: MockDevice, deadline: float, triggered: bool) -> tuple[NDArray[np.uint8], int]:
        got = device.feeder.next_frame(max(deadline - time.monotonic(), 0.0), triggered)
        if got is None:
            raise Xi_error(d.XI_TIMEOUT)
        frame, ts_us = got
        if frame.dtype != np.uint8 or frame.shape != device.feeder.frame_shape:
            raise ValueError(f"mock camera {device.serial}: feeder gave {frame.dtype} {frame.shape}, "
                             f"expected uint8 {device.feeder.frame_shape}")
        with device._lock:
            device.acq_nframe += 1
            x, y = int(device.params["offsetX"]), int(device.params["offsetY"])
            width, height = int(device.params["width"]), int(device.params["height"])
        if (height, width) != frame.shape:  # the readout region only
            frame = frame[y : y + height, x : x + width]
        return frame, int(ts_us)

    @staticmethod
    def _fill(image: Image, device: MockDevice, frame: NDArray[np.uint8], ts_us: int) -> None:
        height, width = frame.shape
        if device.padding_x:
            buffer = np.zeros((height, width + device.padding_x), dtype=np.uint8)
            buffer[:, :width] = frame
        else:
            buffer = np.ascontiguousarray(frame)
        image._buffer = buffer
        image.bp = buffer.ctypes.data
        image.bp_size = buffer.nbytes
        image.frm = d.XI_IMG_FORMAT[str(device.params["imgdataformat"])]
        image.width = width
        image.height = height
        image.padding_x = device.padding_x
        image.nframe = device.nframe
        image.acq_nframe = device.acq_nframe
        image.tsSec, image.tsUSec = divmod(ts_us, _US_PER_S)
        image.exposure_time_us = round(float(device.params["exposure"]))
        image.gain_db = ctypes.c_float(float(device.params["gain"])).value

    @staticmethod
    def _apply(device: MockDevice, param: str, value: int | float | str) -> None:
        if param in d.ROI_PARAMS:
            low, high = _roi_limit(device, param + ":min"), _roi_limit(device, param + ":max")
            aligned = int(value) % d.ROI_INCREMENTS[param] == 0 or int(value) == high  # the whole sensor
            if not low <= int(value) <= high or not aligned:
                raise Xi_error(d.XI_WRONG_PARAM_VALUE)
        if param == "imgdataformat" and value not in d.EIGHT_BIT_FORMATS:
            raise Xi_error(d.XI_NOT_SUPPORTED_DATA_FORMAT)
        if param in ("exposure", "framerate", "buffers_queue_size") and not float(value) > 0:
            raise Xi_error(d.XI_WRONG_PARAM_VALUE)
        device.params[param] = value
        if param == "gpi_mode":
            device.gpi_modes[str(device.params["gpi_selector"])] = str(value)


def _spec(param: str) -> d.ParamSpec:
    name, _, info = param.partition(":")
    if name not in d.PARAMS:
        raise RuntimeError("invalid parameter")  # what the real package raises for an unknown name
    if info and (name not in d.ROI_PARAMS or info not in ("min", "max", "inc")):
        raise Xi_error(d.XI_PARAM_INFO_NOT_SUPPORTED)
    return d.PARAMS[name]


def _roi_limit(device: MockDevice, query: str) -> int:
    """``width:max`` and the like: the sensor less the rest of the region, as on a real camera."""
    name, _, info = query.partition(":")
    if info == "inc":
        return d.ROI_INCREMENTS[name]
    if info == "min":
        return 0 if name.startswith("offset") else d.ROI_INCREMENTS[name]
    sensor_h, sensor_w = device.feeder.frame_shape
    p = device.params
    return {
        "width": sensor_w - int(p["offsetX"]),
        "height": sensor_h - int(p["offsetY"]),
        "offsetX": sensor_w - int(p["width"]),
        "offsetY": sensor_h - int(p["height"]),
    }[name]


def _coerce(param: str, spec: d.ParamSpec, val: object) -> int | float | str:
    """Check ``val`` the way the real package's ctypes conversion would (TypeError / KeyError)."""
    if spec.kind == "enum":
        assert spec.enum is not None
        if not isinstance(val, str) or val not in spec.enum:
            raise KeyError(val)  # ASSOC_ENUM[param][val] in the real package
        return val
    if spec.kind == "int":
        if not isinstance(val, int):
            raise TypeError(f"int expected instead of {type(val).__name__}")  # c_int(val)
        return int(val)
    if spec.kind == "float":
        if not isinstance(val, int | float):
            raise TypeError(f"must be real number, not {type(val).__name__}")  # c_float(val)
        return float(val)
    if not isinstance(val, str):
        raise TypeError(f"{param} expects a string")
    return val


def _call_hook(feeder: FrameFeeder, name: str, *args: object) -> None:
    hook = getattr(feeder, name, None)
    if callable(hook):
        hook(*args)
