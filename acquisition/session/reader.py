"""Memory-mapped, random-access session reader. Never loads a whole session into memory.

A session cut short (writer killed, disk full) opens with every complete record: the frame count is the
smaller of the complete index records and the complete frames in the chunk files, and a torn last line
of the events file is ignored.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from acquisition.errors import InputFileError
from acquisition.session._format import (
    ECG_DTYPE,
    ECG_FILE,
    EVENTS_FILE,
    FRAME_INDEX_DTYPE,
    FRAME_INDEX_FILE,
    FRAMES_DIR,
    METADATA_FILE,
    PIXEL_FORMATS,
    TRUTH_CODING_FILE,
    TRUTH_DIR,
    TRUTH_MEGC_FILE,
    chunk_file_name,
)
from acquisition.session.metadata import SessionMetadata

log = logging.getLogger(__name__)

MAPPED_CHUNKS = 4  # chunk files kept mapped (the most recently read); older maps are released


def _memmap(path: Path, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """The file mapped read-only, as a plain ndarray view (np.memmap's slices cost a Python-level
    ``__array_finalize__`` each: too slow for a replay at many times real time)."""
    if shape[0] == 0:
        return np.empty(shape, dtype=dtype)
    return np.asarray(np.memmap(path, dtype=dtype, mode="r", shape=shape))


class SessionReader:
    """Opens a session directory written by :class:`~acquisition.session.writer.SessionWriter`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise InputFileError(self.path, "session directory does not exist")
        self.metadata = SessionMetadata.read(self.path / METADATA_FILE)
        video = self.metadata.video
        self.frame_shape = video.frame_shape
        self.frame_dtype = PIXEL_FORMATS[video.pixel_format]
        self._frame_bytes = self.frame_shape[0] * self.frame_shape[1] * self.frame_dtype.itemsize
        self._frames_per_chunk = video.frames_per_chunk
        self._chunks: OrderedDict[int, np.ndarray] = OrderedDict()
        self.warnings: list[str] = []  # what an unclosed (cut short) session is missing
        self.frame_count = min(self._complete_index_records(), self._complete_frames_on_disk())
        self.index = self._read_index()
        self.ecg_channels = list(self.metadata.ecg.channels)
        self.ecg = self._read_ecg()
        self._check()

    # -- integrity ------------------------------------------------------------------------------------
    def _damaged(self, file: str, problem: str) -> None:
        """A closed session must hold what its summary says; an unclosed one opens with what is complete."""
        if self.metadata.closed:
            raise InputFileError(self.path / file, f"damaged session: {problem}")
        self.warnings.append(f"{file}: {problem}")
        log.warning("%s: unclosed session (cut short?): %s: %s; opened with its complete records",
                    self.path, file, problem)

    def _check(self) -> None:
        if not self.metadata.closed:
            self.warnings.append("session.json: not closed (the recording was cut short: killed, power lost "
                                 "or a write error); opened with its complete records")
            log.warning("%s: %s", self.path, self.warnings[-1])
        summary = self.metadata.summary if isinstance(self.metadata.summary, dict) else {}
        frames_dir = self.path / FRAMES_DIR
        index_records = self._complete_index_records()
        chunk_frames = self._chunk_frame_counts()
        on_disk = sum(chunk_frames)
        expected_frames = summary.get("frame_count")
        if self.metadata.closed and not isinstance(summary.get("frame_count"), int):
            raise InputFileError(self.path / METADATA_FILE,
                                 "closed session without a frame count in its summary")
        if not (self.path / FRAME_INDEX_FILE).exists() and (expected_frames or on_disk):
            self._damaged(FRAME_INDEX_FILE, "missing")
        for chunk, n in enumerate(chunk_frames[:-1]):
            if n != self._frames_per_chunk:
                self._damaged(f"{FRAMES_DIR}/{chunk_file_name(chunk)}",
                              f"holds {n} frames, not {self._frames_per_chunk} (truncated, or a wrong "
                              "frames_per_chunk)")
        present = {chunk_file_name(c) for c in range(len(chunk_frames))}
        later = sorted(p.name for p in frames_dir.glob("chunk-*") if p.name not in present) \
            if frames_dir.exists() else []
        if later:
            self._damaged(f"{FRAMES_DIR}/{chunk_file_name(len(chunk_frames))}",
                          f"missing, with {len(later)} chunk file(s) after it")
        if isinstance(expected_frames, int):
            if index_records != expected_frames:
                self._damaged(FRAME_INDEX_FILE,
                              f"{index_records} index records, the summary says {expected_frames} frames")
            if on_disk != expected_frames:
                self._damaged(FRAMES_DIR, f"{on_disk} frames in the chunk files, the summary says "
                              f"{expected_frames}")
        ecg_path = self.path / ECG_FILE
        row_bytes = ECG_DTYPE.itemsize * len(self.ecg_channels)
        size = ecg_path.stat().st_size if ecg_path.exists() else 0
        expected_ecg = summary.get("ecg_sample_count")
        if not ecg_path.exists() and (expected_ecg or not self.metadata.closed):
            self._damaged(ECG_FILE, "missing")
        elif size % row_bytes:
            self._damaged(ECG_FILE, f"{size % row_bytes} bytes of a torn last sample")
        if isinstance(expected_ecg, int) and len(self.ecg) != expected_ecg:
            self._damaged(ECG_FILE, f"{len(self.ecg)} samples, the summary says {expected_ecg}")
        if self.frame_count:
            pulses = np.asarray(self.index["trigger_pulse"])
            stamps = np.asarray(self.index["ecg_sample"])
            if pulses[0] < 0 or np.any(np.diff(pulses) <= 0) or np.any(np.diff(stamps) < 0):
                raise InputFileError(self.path / FRAME_INDEX_FILE, "damaged session: index records out of "
                                     "order (pulse numbers must rise, ECG stamps must not fall)")

    def _chunk_frame_counts(self) -> list[int]:
        counts, chunk = [], 0
        while (path := self.path / FRAMES_DIR / chunk_file_name(chunk)).exists():
            counts.append(path.stat().st_size // self._frame_bytes)
            chunk += 1
        return counts

    # -- sizes ----------------------------------------------------------------------------------------
    def _complete_index_records(self) -> int:
        path = self.path / FRAME_INDEX_FILE
        return path.stat().st_size // FRAME_INDEX_DTYPE.itemsize if path.exists() else 0

    def _complete_frames_on_disk(self) -> int:
        total = 0
        chunk = 0
        while (path := self.path / FRAMES_DIR / chunk_file_name(chunk)).exists():
            in_chunk = path.stat().st_size // self._frame_bytes
            total += in_chunk
            if in_chunk < self._frames_per_chunk:
                break
            chunk += 1
        return total

    def _read_index(self) -> np.ndarray:
        return _memmap(self.path / FRAME_INDEX_FILE, FRAME_INDEX_DTYPE, (self.frame_count,))

    def _read_ecg(self) -> np.ndarray:
        path = self.path / ECG_FILE
        n_channels = len(self.ecg_channels)
        size = path.stat().st_size if path.exists() else 0
        n_samples = size // (ECG_DTYPE.itemsize * n_channels)
        return _memmap(path, ECG_DTYPE, (n_samples, n_channels))

    @property
    def fps(self) -> float:
        return self.metadata.video.fps

    @property
    def ecg_rate(self) -> float:
        return self.metadata.ecg.sampling_rate

    @property
    def ecg_sample_count(self) -> int:
        return len(self.ecg)

    def __len__(self) -> int:
        return self.frame_count

    # -- frames ---------------------------------------------------------------------------------------
    def _chunk(self, chunk: int) -> np.ndarray:
        """A chunk file's frames, mapped. Only the last MAPPED_CHUNKS stay mapped, so that reading a long
        session through holds a few chunks, not all (a view handed out keeps its own map alive)."""
        mapped = self._chunks.get(chunk)
        if mapped is not None:
            self._chunks.move_to_end(chunk)
            return mapped
        first = chunk * self._frames_per_chunk
        n = min(self._frames_per_chunk, self.frame_count - first)
        path = self.path / FRAMES_DIR / chunk_file_name(chunk)
        mapped = self._chunks[chunk] = _memmap(path, self.frame_dtype, (n, *self.frame_shape))
        while len(self._chunks) > MAPPED_CHUNKS:
            self._chunks.popitem(last=False)
        return mapped

    def frame(self, i: int) -> np.ndarray:
        """Frame ``i`` (a read-only memory-mapped view)."""
        if i < 0:
            i += self.frame_count
        if not 0 <= i < self.frame_count:
            raise IndexError(f"frame {i} is outside 0..{self.frame_count - 1}")
        chunk, offset = divmod(i, self._frames_per_chunk)
        return self._chunk(chunk)[offset]

    def frames(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start..stop-1`` stacked (a copy only when the range spans chunk files)."""
        start, stop = max(start, 0), min(stop, self.frame_count)
        if stop <= start:
            return np.empty((0, *self.frame_shape), dtype=self.frame_dtype)
        first_chunk, last_chunk = start // self._frames_per_chunk, (stop - 1) // self._frames_per_chunk
        if first_chunk == last_chunk:
            base = first_chunk * self._frames_per_chunk
            return self._chunk(first_chunk)[start - base : stop - base]
        return np.stack([self.frame(i) for i in range(start, stop)])

    def frame_range_for_samples(self, start_sample: int, stop_sample: int) -> tuple[int, int]:
        """Frames whose trigger edge lies in ``[start_sample, stop_sample)`` on the ECG clock."""
        stamps = self.index["ecg_sample"]
        return (
            int(np.searchsorted(stamps, start_sample, side="left")),
            int(np.searchsorted(stamps, stop_sample, side="left")),
        )

    def frame_samples(self) -> np.ndarray:
        """ECG sample index of each frame's trigger edge (the session clock)."""
        return np.asarray(self.index["ecg_sample"])

    # -- ECG ------------------------------------------------------------------------------------------
    def ecg_channel(self, name: str | None = None) -> np.ndarray:
        """One ECG channel (default: the ECG lead) as a memory-mapped column."""
        name = name or self.metadata.ecg.ecg_channel
        if name not in self.ecg_channels:
            raise InputFileError(self.path, f"no ECG channel named {name!r} (have {self.ecg_channels})")
        return self.ecg[:, self.ecg_channels.index(name)]

    def trigger_channel(self) -> np.ndarray | None:
        name = self.metadata.ecg.trigger_channel
        return None if name is None else self.ecg_channel(name)

    # -- events and ground truth ----------------------------------------------------------------------
    @cached_property
    def events(self) -> list[dict[str, Any]]:
        path = self.path / EVENTS_FILE
        if not path.exists():
            return []
        events = []
        for line in path.read_text().splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                break  # torn last line of a killed writer
        return events

    @property
    def truth_megc_path(self) -> Path | None:
        path = self.path / TRUTH_DIR / TRUTH_MEGC_FILE
        return path if path.exists() else None

    @property
    def truth_coding_path(self) -> Path | None:
        path = self.path / TRUTH_DIR / TRUTH_CODING_FILE
        return path if path.exists() else None

    def summary(self) -> dict[str, Any]:
        meta = self.metadata
        return {
            "session": meta.session_id,
            "path": str(self.path),
            "closed_cleanly": meta.closed,
            "fps": meta.video.fps,
            "resolution": list(meta.video.resolution),
            "stored_frame_shape": list(self.frame_shape),
            "roi": list(meta.video.roi) if meta.video.roi else None,
            "frames": self.frame_count,
            "warnings": list(self.warnings),
            "ecg_rate": meta.ecg.sampling_rate,
            "ecg_samples": self.ecg_sample_count,
            "ecg_channels": self.ecg_channels,
            "duration_s": round(self.ecg_sample_count / meta.ecg.sampling_rate, 3),
            "events": len(self.events),
        }
