"""What the mock lab plays: a recorded (or synthetic) session, or a video file with an ECG file.

A source is a trial on its own clock: ECG rows (ECG lead + trigger channel) at the ECG rate, with sample 0
at pulse 0, the sample of every trigger pulse, and the camera frame exposed at each pulse (None where the
recording lost it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from acquisition.errors import InputFileError
from acquisition.readers.ecg_files import read_ecg
from acquisition.readers.video import VideoSource, open_frame_folder, open_video
from acquisition.session import SessionReader

TRIGGER_HIGH_V = 5.0  # the MP160 digital input's "high"
DEFAULT_PULSE_WIDTH_S = 0.002
BACKGROUND_GREY = 40  # sensor area outside a stored face region (a dim lab wall)


class LabSource(ABC):
    """A trial for the mock devices to play back."""

    fps: float
    ecg_rate: float
    sensor_shape: tuple[int, int]  # (height, width) of the frames the mock camera emits
    ecg_units: str = "mV"

    @property
    @abstractmethod
    def n_samples(self) -> int: ...

    @property
    @abstractmethod
    def edges(self) -> np.ndarray:
        """ECG sample of each trigger pulse's rising edge (pulse 0 at sample 0)."""

    @abstractmethod
    def ecg_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start..stop-1`` as (n, 2): ECG lead, trigger channel (V)."""

    @abstractmethod
    def frame(self, pulse: int) -> np.ndarray | None:
        """The sensor frame exposed at ``pulse`` (None: the recording lost it); valid until the next call."""

    @property
    def n_pulses(self) -> int:
        return len(self.edges)

    def has_frame(self, pulse: int) -> bool:
        """False where the recording lost the frame of ``pulse``."""
        return 0 <= pulse < self.n_pulses

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.ecg_rate

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release files."""


def pulse_edges(pulses: np.ndarray, stamps: np.ndarray) -> np.ndarray:
    """ECG sample of every pulse from the first to the last stored frame: each stored frame's stamp (the
    edge the recorder resolved, or predicted where the ECG was lost), pulses whose frame was lost placed
    between their neighbours. The session's pulses end with its last frame: trigger pulses recorded after
    it (capture stopped or failed first) had no frame, and replay counts them as dropped at the end."""
    n = int(pulses.max()) + 1
    every = np.arange(n)
    return np.ceil(np.interp(every, pulses, stamps.astype(np.float64)) - 1e-9).astype(np.int64)


class SessionSource(LabSource):
    """A session directory (recorded, replayed or synthetic). A stored face region is pasted into a full
    sensor frame at its place, so that the recorder crops exactly the same pixels again."""

    def __init__(self, path: str | Path) -> None:
        self.reader = SessionReader(path)
        meta = self.reader.metadata
        if meta.ecg.trigger_channel is None:
            raise InputFileError(self.reader.path, "session has no trigger channel to replay")
        if len(self.reader) == 0 or self.reader.ecg_sample_count == 0:
            raise InputFileError(self.reader.path, "session holds no frames or no ECG to replay")
        self.fps = meta.video.fps
        self.ecg_rate = meta.ecg.sampling_rate
        self.ecg_units = meta.ecg.units[meta.ecg.channels.index(meta.ecg.ecg_channel)]
        width, height = meta.video.resolution
        self.sensor_shape = (height, width)
        self.roi = meta.video.roi
        self._ecg_col = meta.ecg.channels.index(meta.ecg.ecg_channel)
        self._trig_col = meta.ecg.channels.index(meta.ecg.trigger_channel)
        pulses = np.asarray(self.reader.index["trigger_pulse"], dtype=np.int64)
        self._edges = pulse_edges(pulses, np.asarray(self.reader.index["ecg_sample"], dtype=np.int64))
        self._frame_of_pulse = np.full(len(self._edges), -1, dtype=np.int64)
        self._frame_of_pulse[pulses] = np.arange(len(pulses))
        self._canvas = np.full(self.sensor_shape, BACKGROUND_GREY, dtype=np.uint8)

    @property
    def n_samples(self) -> int:
        return self.reader.ecg_sample_count

    @property
    def edges(self) -> np.ndarray:
        return self._edges

    def ecg_rows(self, start: int, stop: int) -> np.ndarray:
        return np.asarray(self.reader.ecg[start:stop][:, [self._ecg_col, self._trig_col]])

    def has_frame(self, pulse: int) -> bool:
        return 0 <= pulse < len(self._frame_of_pulse) and self._frame_of_pulse[pulse] >= 0

    def frame(self, pulse: int) -> np.ndarray | None:
        if not self.has_frame(pulse):
            return None
        stored = self.reader.frame(int(self._frame_of_pulse[pulse]))
        if self.roi is None:
            return stored
        x, y, w, h = self.roi
        self._canvas[y : y + h, x : x + w] = stored
        return self._canvas


class VideoEcgSource(LabSource):
    """A video file (or frame folder) with an ECG file; the trigger channel is made from the video's fps."""

    def __init__(self, video: str | Path, ecg: str | Path, *, fps: float | None = None,
                 ecg_rate: float | None = None) -> None:
        video = Path(video)
        self.video: VideoSource = open_frame_folder(video, fps) if video.is_dir() and fps else open_video(
            video, fps)
        recording = read_ecg(ecg, sampling_rate=ecg_rate)
        self.fps = float(self.video.fps)
        self.ecg_rate = float(recording.sampling_rate)
        self.ecg_units = recording.units
        self.sensor_shape = (self.video.height, self.video.width)
        n_pulses = min(self.video.frame_count, int(len(recording.signal) / self.ecg_rate * self.fps))
        if n_pulses <= 0:
            raise InputFileError(Path(ecg), "the ECG file is shorter than one video frame")
        self._edges = np.ceil(np.arange(n_pulses) * self.ecg_rate / self.fps - 1e-9).astype(np.int64)
        self._signal = np.asarray(recording.signal, dtype=np.float64)
        width = max(1, round(DEFAULT_PULSE_WIDTH_S * self.ecg_rate))
        self._trigger = np.zeros(len(self._signal))
        for offset in range(width):
            idx = self._edges + offset
            self._trigger[idx[idx < len(self._trigger)]] = TRIGGER_HIGH_V
        self._frames = iter(self.video)
        self._next_pulse = 0

    @property
    def n_samples(self) -> int:
        return len(self._signal)

    @property
    def edges(self) -> np.ndarray:
        return self._edges

    def ecg_rows(self, start: int, stop: int) -> np.ndarray:
        return np.column_stack([self._signal[start:stop], self._trigger[start:stop]])

    def frame(self, pulse: int) -> np.ndarray | None:
        """Frames are decoded in order; asking for an earlier pulse again is not supported."""
        if pulse >= self.n_pulses:
            return None
        image = None
        while self._next_pulse <= pulse:
            image = next(self._frames, None)
            self._next_pulse += 1
        return image

    def close(self) -> None:
        self.video.close()


class _WrappedSource(LabSource):
    """A source made from another (offset, looped, truncated): the same camera and ECG geometry."""

    base: LabSource

    def _take_geometry(self, base: LabSource) -> None:
        self.fps = base.fps
        self.ecg_rate = base.ecg_rate
        self.ecg_units = base.ecg_units
        self.sensor_shape = base.sensor_shape
        self.roi = getattr(base, "roi", None)

    def close(self) -> None:
        self.base.close()


class OffsetSource(_WrappedSource):
    """``base`` from trigger pulse ``first_pulse`` on, re-timed so that this pulse is pulse 0, sample 0
    (a replay that starts part-way: the acquisition side sees an ordinary trial)."""

    def __init__(self, base: LabSource, first_pulse: int) -> None:
        if not 0 <= first_pulse < base.n_pulses:
            raise ValueError(f"pulse {first_pulse} is outside the source (0..{base.n_pulses - 1})")
        self.base = base
        self.first_pulse = first_pulse
        self.first_row = int(base.edges[first_pulse])
        self._take_geometry(base)
        self._edges = np.asarray(base.edges[first_pulse:], dtype=np.int64) - self.first_row

    @property
    def n_samples(self) -> int:
        return self.base.n_samples - self.first_row

    @property
    def edges(self) -> np.ndarray:
        return self._edges

    def ecg_rows(self, start: int, stop: int) -> np.ndarray:
        return self.base.ecg_rows(start + self.first_row, stop + self.first_row)

    def has_frame(self, pulse: int) -> bool:
        return self.base.has_frame(pulse + self.first_pulse)

    def frame(self, pulse: int) -> np.ndarray | None:
        return self.base.frame(pulse + self.first_pulse)


class LoopSource(_WrappedSource):
    """``base`` played ``loops`` times back to back (a long mock session from a short recording: soak runs).
    Each pass starts ``base.n_samples`` after the one before, on one continuous trigger and ECG clock; frames
    are read anew each pass (frame readers must support going back: a session source does)."""

    def __init__(self, base: LabSource, loops: int) -> None:
        if loops < 1:
            raise ValueError(f"loops must be at least 1, not {loops}")
        self.base = base
        self.loops = loops
        self._take_geometry(base)
        self._pass_samples = base.n_samples
        base_edges = np.asarray(base.edges, dtype=np.int64)
        self._base_pulses = len(base_edges)
        self._edges = (base_edges[None, :] + self._pass_samples * np.arange(loops)[:, None]).ravel()

    @property
    def n_samples(self) -> int:
        return self._pass_samples * self.loops

    @property
    def edges(self) -> np.ndarray:
        return self._edges

    def ecg_rows(self, start: int, stop: int) -> np.ndarray:
        stop = min(stop, self.n_samples)
        parts = []
        while start < stop:
            offset = start % self._pass_samples
            take = min(stop - start, self._pass_samples - offset)
            parts.append(self.base.ecg_rows(offset, offset + take))
            start += take
        return np.concatenate(parts) if parts else np.empty((0, 2))

    def has_frame(self, pulse: int) -> bool:
        return 0 <= pulse < self.n_pulses and self.base.has_frame(pulse % self._base_pulses)

    def frame(self, pulse: int) -> np.ndarray | None:
        return self.base.frame(pulse % self._base_pulses) if 0 <= pulse < self.n_pulses else None


class TruncatedSource(_WrappedSource):
    """The first ``n_samples`` of ``base`` (a replay of part of a recording): the pulses up to there."""

    def __init__(self, base: LabSource, n_samples: int) -> None:
        if n_samples < 1:
            raise ValueError(f"n_samples must be at least 1, not {n_samples}")
        self.base = base
        self._take_geometry(base)
        self._n_samples = min(int(n_samples), base.n_samples)
        base_edges = np.asarray(base.edges, dtype=np.int64)
        self._edges = base_edges[base_edges < self._n_samples]

    @property
    def n_samples(self) -> int:
        return self._n_samples

    @property
    def edges(self) -> np.ndarray:
        return self._edges

    def ecg_rows(self, start: int, stop: int) -> np.ndarray:
        return self.base.ecg_rows(start, min(stop, self._n_samples))

    def has_frame(self, pulse: int) -> bool:
        return 0 <= pulse < self.n_pulses and self.base.has_frame(pulse)

    def frame(self, pulse: int) -> np.ndarray | None:
        return self.base.frame(pulse) if 0 <= pulse < self.n_pulses else None
