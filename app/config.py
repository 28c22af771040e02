"""One configuration object for a lab setup: a TOML file plus ``--set section.key=value`` overrides.

Every device setting lives here (documented in ``lab.example.toml``); code takes its numbers from this
object, never from literals of its own.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, get_args, get_type_hints

from acquisition._checks import ECG_RATE_HZ, check_name
from acquisition.errors import ConfigError

MAX_RATE_MISMATCH_HZ = 0.5  # the trigger box runs at whole hertz; a 29.97 fps source plays at 30 Hz


@dataclass(frozen=True)
class CameraConfig:
    driver: str = "xiapipy"  # "xiapipy" (XIMEA's driver) or "mock" (hardware_mocks.ximea, same API)
    serial: str = ""  # open by serial number when set, else by index
    index: int = 0
    pixel_format: str = "MONO8"
    width: int = 2040
    height: int = 1080
    fps: float = 150.0
    exposure_us: float = 3000.0
    gain_db: float = 0.0
    trigger: str = "hardware"  # "hardware" (GPI port 1, rising edge, frame start) or "free-run"
    buffer_queue_size: int = 16
    timeout_ms: int = 200
    timeout_burst_limit: int = 25  # consecutive timeouts after which capture gives up
    readout: str = "full"  # "full" sensor, or "roi": the camera sends recording.roi only (store = "roi")


@dataclass(frozen=True)
class EcgConfig:
    host: str = "127.0.0.1"  # the PC running AcqKnowledge with Network Data Transfer enabled
    rpc_port: int = 15010
    data_port: int = 15020
    ecg_label: str = "ECG"
    trigger_label: str = "TRIGGER"
    sampling_rate: float = 1000.0  # expected; checked against AcqKnowledge's
    trigger_threshold_v: float = 2.5
    stall_timeout_s: float = 2.0
    rpc_timeout_s: float = 5.0


@dataclass(frozen=True)
class TriggerConfig:
    port: str = "/dev/ttyACM0"
    baudrate: int = 115200
    rate_hz: float = 150.0
    pulse_width_us: int = 2000
    timeout_s: float = 1.0
    boot_wait_s: float = 2.5  # an Arduino Uno resets when its port opens


@dataclass(frozen=True)
class BufferConfig:
    frame_seconds: float = 4.0  # ring buffer memory is set in seconds of data
    ecg_seconds: float = 120.0


@dataclass(frozen=True)
class RecordingConfig:
    out_dir: str = "sessions"
    subject: str = "S01"
    trial: str = "1"
    store: str = "roi"  # "roi" (the face region below) or "full"
    roi: tuple[int, int, int, int] = (768, 234, 504, 504)  # x, y, width, height in the sensor frame
    frames_per_chunk: int = 150
    fsync_interval_s: float = 5.0
    access: str = "private"  # "private": session folders 0700, files 0600; "group": 0750 / 0640 (shared)


@dataclass(frozen=True)
class LslConfig:
    """The alert marker stream (Lab Streaming Layer)."""

    scope: str = "machine"  # "machine": seen and served on this computer only; "network": the lab's network
    identify_subject: bool = False  # put the session id (subject_trial) in the stream and its alerts


@dataclass(frozen=True)
class MockConfig:
    """Mock devices: used when ``camera.driver = "mock"``; they are fed from one source."""

    source: str = "synthetic"  # "synthetic", "session" or "video+ecg"
    session: str = ""  # a recorded session directory (source = "session")
    video: str = ""  # a video file or frame folder (source = "video+ecg")
    ecg: str = ""  # an .acq / .csv / .npy ECG file (source = "video+ecg")
    ecg_rate: float = 0.0  # sampling rate of a CSV/NPY ECG file
    speed: str = "1"  # "1" (real time) or "max" (as fast as the acquisition side reads)
    synth_seed: int = 7
    synth_minutes: float = 1.0
    loops: int = 1  # the source played this many times back to back (long sessions from a short source)
    serial: str = "MOCK0001"
    # device faults to inject, in seconds from the first trigger pulse (0 = never)
    fault_ecg_drop_after_s: float = 0.0
    fault_ecg_stall_after_s: float = 0.0
    fault_ecg_stall_s: float = 0.0
    fault_camera_timeouts_after_s: float = 0.0
    fault_camera_timeouts: int = 0
    fault_camera_disconnect_after_s: float = 0.0
    fault_trigger_unplug_after_s: float = 0.0
    fault_trigger_mute_after_s: float = 0.0


@dataclass(frozen=True)
class LabConfig:
    camera: CameraConfig = field(default_factory=CameraConfig)
    ecg: EcgConfig = field(default_factory=EcgConfig)
    trigger: TriggerConfig = field(default_factory=TriggerConfig)
    buffer: BufferConfig = field(default_factory=BufferConfig)
    recording: RecordingConfig = field(default_factory=RecordingConfig)
    lsl: LslConfig = field(default_factory=LslConfig)
    mock: MockConfig = field(default_factory=MockConfig)

    def validate(self) -> LabConfig:
        choices = {
            ("camera", "driver"): ("xiapipy", "mock"),
            ("camera", "pixel_format"): ("MONO8", "RAW8"),
            ("camera", "trigger"): ("hardware", "free-run"),
            ("camera", "readout"): ("full", "roi"),
            ("recording", "store"): ("roi", "full"),
            ("recording", "access"): ("private", "group"),
            ("lsl", "scope"): ("machine", "network"),
            ("mock", "source"): ("synthetic", "session", "video+ecg"),
            ("mock", "speed"): ("1", "max"),
        }
        for (section, key), allowed in choices.items():
            value = getattr(getattr(self, section), key)
            if value not in allowed:
                raise ConfigError(f"{section}.{key} = {value!r}; expected one of {', '.join(allowed)}")
        for (section, key), (low, high) in PHYSICAL_RANGES.items():
            value = getattr(getattr(self, section), key)
            if not (math.isfinite(value) and low <= value <= high) and not (
                    (section, key) in ZERO_MEANS_UNSET and value == 0):
                raise ConfigError(f"{section}.{key} = {value!r}: must lie between {low:g} and {high:g}")
        period_us = 1e6 / self.trigger.rate_hz
        if self.trigger.pulse_width_us >= period_us:
            raise ConfigError(f"trigger.pulse_width_us = {self.trigger.pulse_width_us}: must be shorter than "
                              f"the pulse period ({period_us:.0f} us at {self.trigger.rate_hz:g} Hz)")
        ring_bytes = self.buffer.frame_seconds * self.camera.fps * self.camera.width * self.camera.height
        available = available_memory_bytes()
        if available and ring_bytes > RING_MEMORY_SHARE * available:
            raise ConfigError(f"buffer.frame_seconds = {self.buffer.frame_seconds:g}: the frame ring would "
                              f"take {ring_bytes / 2**30:.1f} GiB, more than {RING_MEMORY_SHARE:.0%} of the "
                              f"{available / 2**30:.1f} GiB of memory available")
        check_name(self.recording.subject, "recording.subject")
        check_name(self.recording.trial, "recording.trial")
        x, y, w, h = self.recording.roi
        if self.recording.store == "roi" and (
            x < 0 or y < 0 or w <= 0 or h <= 0 or x + w > self.camera.width or y + h > self.camera.height
        ):
            raise ConfigError(
                f"recording.roi {self.recording.roi} does not fit the "
                f"{self.camera.width}x{self.camera.height} frame"
            )
        if self.camera.readout == "roi" and self.recording.store != "roi":
            raise ConfigError('camera.readout = "roi" (recording.roi only) needs recording.store = "roi"')
        mismatch = abs(self.trigger.rate_hz - self.camera.fps)
        if self.camera.trigger == "hardware" and mismatch > MAX_RATE_MISMATCH_HZ:
            raise ConfigError(
                f"trigger.rate_hz ({self.trigger.rate_hz}) must equal camera.fps ({self.camera.fps}) "
                "when the camera is hardware-triggered"
            )
        return self


# physical (and sane) ranges of the numeric settings, in their own units; the one place they are checked
PHYSICAL_RANGES: dict[tuple[str, str], tuple[float, float]] = {
    ("camera", "index"): (0, 63), ("camera", "width"): (1, 16384), ("camera", "height"): (1, 16384),
    ("camera", "fps"): (1, 1000), ("camera", "exposure_us"): (1, 1e6), ("camera", "gain_db"): (0, 48),
    ("camera", "buffer_queue_size"): (1, 4096), ("camera", "timeout_ms"): (1, 60000),
    ("camera", "timeout_burst_limit"): (1, 1e6),
    ("ecg", "rpc_port"): (1, 65535), ("ecg", "data_port"): (0, 65535),
    ("ecg", "sampling_rate"): ECG_RATE_HZ,
    ("ecg", "trigger_threshold_v"): (0.01, 50), ("ecg", "stall_timeout_s"): (0.05, 3600),
    ("ecg", "rpc_timeout_s"): (0.05, 3600),
    ("trigger", "baudrate"): (300, 4000000), ("trigger", "rate_hz"): (1, 1000),
    ("trigger", "pulse_width_us"): (1, 1e6), ("trigger", "timeout_s"): (0.01, 3600),
    ("trigger", "boot_wait_s"): (0, 60),
    ("buffer", "frame_seconds"): (0.1, 3600), ("buffer", "ecg_seconds"): (1, 86400),
    ("recording", "frames_per_chunk"): (1, 100000), ("recording", "fsync_interval_s"): (0.01, 3600),
    ("mock", "ecg_rate"): ECG_RATE_HZ, ("mock", "synth_seed"): (0, 2**32 - 1),
    ("mock", "synth_minutes"): (0.001, 600), ("mock", "loops"): (1, 1e6),
    ("mock", "fault_ecg_drop_after_s"): (0, 86400), ("mock", "fault_ecg_stall_after_s"): (0, 86400),
    ("mock", "fault_ecg_stall_s"): (0, 3600), ("mock", "fault_camera_timeouts_after_s"): (0, 86400),
    ("mock", "fault_camera_timeouts"): (0, 1e9), ("mock", "fault_camera_disconnect_after_s"): (0, 86400),
    ("mock", "fault_trigger_unplug_after_s"): (0, 86400), ("mock", "fault_trigger_mute_after_s"): (0, 86400),
}
ZERO_MEANS_UNSET = {("mock", "ecg_rate")}  # 0: take it from the file
RING_MEMORY_SHARE = 0.5  # the frame ring may take at most this share of the memory available


def available_memory_bytes() -> int:
    """Memory available for new allocations (Linux: MemAvailable), 0 where unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _coerce(value: Any, kind: Any, where: str) -> Any:
    """Convert a TOML value or an override string to the field's type."""
    try:
        if kind is bool:
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                return value.lower() in ("true", "1", "yes")
            return bool(value)
        if kind in (int, float):
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise ValueError(value)
            number = float(value)
            if not math.isfinite(number):
                raise ValueError(value)
            if kind is int:
                if not number.is_integer():
                    raise ValueError(value)
                return int(number)
            return number
        if kind is str:
            if not isinstance(value, str):
                raise ValueError(value)
            return value
        if str(kind).startswith("tuple"):
            if not isinstance(value, str | list | tuple):
                raise ValueError(value)
            items = value.strip("()[] ").split(",") if isinstance(value, str) else list(value)
            wanted = len(get_args(kind)) if Ellipsis not in get_args(kind) else len(items)
            if len(items) != wanted or any(isinstance(v, bool | float) for v in items):
                raise ValueError(value)
            return tuple(int(v) for v in items)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: cannot use {value!r} as {getattr(kind, '__name__', kind)}") from None
    return value


def _section(cls: type, values: Any, where: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{where} = {values!r}: must be a [{where}] table of settings")
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}")
    return cls(**{k: _coerce(v, hints[k], f"{where}.{k}") for k, v in values.items()})


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> LabConfig:
    """Read a lab TOML file (or the defaults) and apply ``section.key=value`` overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path}: configuration file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the configuration ({exc})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    for item in overrides:
        key, sep, value = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        values = data.setdefault(section, {})
        if not isinstance(values, dict):
            where = f"{path}: " if path is not None else ""
            raise ConfigError(f"{where}{section} = {values!r}: must be a [{section}] table of settings")
        values[name] = value.strip()
    hints = get_type_hints(LabConfig)
    unknown = set(data) - set(hints)
    if unknown:
        where = f"{path}: " if path is not None else ""
        raise ConfigError(f"{where}unknown configuration section(s): {', '.join(sorted(unknown))}")
    try:
        sections = {name: _section(hints[name], values, name) for name, values in data.items()}
        return replace(LabConfig(), **sections).validate()
    except ConfigError as exc:
        if path is None:
            raise
        raise ConfigError(f"{path}: {exc}") from None


def as_dict(config: Any) -> dict[str, Any]:
    """The configuration as plain data (for session metadata and logs)."""
    if is_dataclass(config):
        return {f.name: as_dict(getattr(config, f.name)) for f in fields(config)}
    return list(config) if isinstance(config, tuple) else config
