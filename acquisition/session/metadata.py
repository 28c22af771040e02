"""Session metadata: what was recorded, by which devices, at which rates."""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from acquisition._checks import ECG_RATE_HZ
from acquisition.errors import InputFileError
from acquisition.session._format import PIXEL_FORMATS, SCHEMA_NAME, SCHEMA_VERSION


def software_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mespot")
    except PackageNotFoundError:
        return "unknown"


def _number(name: str, value: Any, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ValueError(f"{name} must be a number from {low:g} to {high:g}, got {value!r}")


def _integer(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, got {value!r}")


@dataclass
class VideoInfo:
    fps: float
    resolution: tuple[int, int]  # sensor (width, height)
    pixel_format: str = "MONO8"
    roi: tuple[int, int, int, int] | None = None  # stored region (x, y, width, height); None = full frame
    frames_per_chunk: int = 150

    @property
    def frame_shape(self) -> tuple[int, int]:
        """(height, width) of a stored frame."""
        if self.roi is None:
            return (self.resolution[1], self.resolution[0])
        return (self.roi[3], self.roi[2])

    def validate(self) -> None:
        _number("video.fps", self.fps, 1.0, 1000.0)
        if not (isinstance(self.resolution, tuple) and len(self.resolution) == 2):
            raise ValueError(f"video.resolution must be [width, height], got {self.resolution!r}")
        for value in self.resolution:
            _integer("video.resolution", value, 1, 16384)
        if self.roi is not None:
            if not (isinstance(self.roi, tuple) and len(self.roi) == 4):
                raise ValueError(f"video.roi must be [x, y, width, height], got {self.roi!r}")
            for value in self.roi:
                _integer("video.roi", value, -(2**31), 2**31)
        _integer("video.frames_per_chunk", self.frames_per_chunk, 1, 10**6)
        if self.pixel_format not in PIXEL_FORMATS:
            raise ValueError(f"pixel format {self.pixel_format!r} is not one of {sorted(PIXEL_FORMATS)}")
        width, height = self.resolution
        if self.roi is not None:
            x, y, w, h = self.roi
            if x < 0 or y < 0 or w <= 0 or h <= 0 or x + w > width or y + h > height:
                raise ValueError(f"roi {self.roi} does not fit a {width}x{height} frame")
        if self.frames_per_chunk <= 0:
            raise ValueError("frames_per_chunk must be positive")


@dataclass
class EcgInfo:
    sampling_rate: float
    channels: list[str]
    units: list[str]
    ecg_channel: str
    trigger_channel: str | None

    def validate(self) -> None:
        _number("ecg.sampling_rate", self.sampling_rate, *ECG_RATE_HZ)
        if not (isinstance(self.channels, list) and self.channels and all(isinstance(c, str)
                                                                           for c in self.channels)):
            raise ValueError(f"ecg.channels must be a list of channel names, got {self.channels!r}")
        if not isinstance(self.units, list) or len(self.channels) != len(self.units):
            raise ValueError("one unit per ECG channel is required")
        if self.ecg_channel not in self.channels:
            raise ValueError(f"ECG channel {self.ecg_channel!r} is not among {self.channels}")
        if self.trigger_channel is not None and self.trigger_channel not in self.channels:
            raise ValueError(f"trigger channel {self.trigger_channel!r} is not among {self.channels}")


@dataclass
class TriggerInfo:
    source: str = "trigger-box"  # "trigger-box" (hardware pulses) or "free-run"
    rate_hz: float = 150.0
    edge: str = "rising"
    pulse_width_ms: float = 2.0
    threshold: float = 2.5  # volts on the MP160 digital input that count as "high"


@dataclass
class SessionMetadata:
    subject: str
    trial: str
    video: VideoInfo
    ecg: EcgInfo
    trigger: TriggerInfo = field(default_factory=TriggerInfo)
    session_id: str = ""
    wall_clock_start: str = ""  # local wall-clock time (ISO 8601) of ECG sample 0
    devices: dict[str, Any] = field(default_factory=dict)
    source: str = "live"  # "live", "synthetic", "replay", "import"
    software_version: str = field(default_factory=software_version)
    schema: str = SCHEMA_NAME
    schema_version: int = SCHEMA_VERSION
    created_utc: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    closed: bool = False
    summary: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.session_id:
            self.session_id = f"{self.subject}_{self.trial}"
        if not self.wall_clock_start:
            self.wall_clock_start = dt.datetime.now().isoformat(timespec="microseconds")

    def validate(self) -> None:
        self.video.validate()
        self.ecg.validate()

    @property
    def samples_per_frame(self) -> float:
        return self.ecg.sampling_rate / self.video.fps

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionMetadata:
        video = dict(data["video"])
        video["resolution"] = tuple(video["resolution"])
        if video.get("roi") is not None:
            video["roi"] = tuple(video["roi"])
        fields = {k: v for k, v in data.items() if k not in ("video", "ecg", "trigger")}
        return cls(
            video=VideoInfo(**video),
            ecg=EcgInfo(**data["ecg"]),
            trigger=TriggerInfo(**data.get("trigger", {})),
            **fields,
        )

    def write(self, path: Path, mode: int = 0o600) -> None:
        """Atomic replace: a reader sees the old or the new file, never half of one (``mode``: its
        permissions, from the start)."""
        tmp = path.with_suffix(".json.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            with os.fdopen(fd, "w") as out:
                os.fchmod(out.fileno(), mode)
                out.write(self.to_json())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)  # no stray temporary file (a full disk, say)
            raise

    @classmethod
    def read(cls, path: Path) -> SessionMetadata:
        if not path.exists():
            raise InputFileError(path.parent, f"not a mespot session: {path.name} is missing")
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputFileError(path, f"session metadata is not valid JSON ({exc})") from None
        if not isinstance(data, dict) or data.get("schema") != SCHEMA_NAME:
            raise InputFileError(path, "not a mespot session metadata file")
        version = data.get("schema_version", 0)
        if isinstance(version, bool) or not isinstance(version, int):
            raise InputFileError(path, f"schema_version must be a whole number, got {version!r}")
        if data.get("schema_version", 0) > SCHEMA_VERSION:
            raise InputFileError(
                path,
                f"session schema version {data['schema_version']} is newer than this mespot reads "
                f"({SCHEMA_VERSION}); update mespot",
            )
        try:
            meta = cls.from_dict(data)
            meta.validate()
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputFileError(path, f"session metadata is incomplete or invalid ({exc})") from None
        return meta
