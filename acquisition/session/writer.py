"""Append-only session writer.

Each append goes straight to the kernel (unbuffered files), frame data before its index record, so
that a writer killed at any moment (even SIGKILL) leaves only whole records behind the last index
record; the reader counts what is complete. Call :meth:`SessionWriter.close` to mark a clean end.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from acquisition.errors import InputFileError
from acquisition.session._format import (
    ACCESS_MODES,
    ECG_DTYPE,
    ECG_FILE,
    EVENT_KINDS,
    EVENTS_FILE,
    FRAME_INDEX_DTYPE,
    FRAME_INDEX_FILE,
    FRAMES_DIR,
    METADATA_FILE,
    PIXEL_FORMATS,
    chunk_file_name,
)
from acquisition.session.metadata import SessionMetadata


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]


class SessionWriter:
    """Writes one session directory. Not thread-safe: one writer thread owns it."""

    def __init__(self, path: str | Path, metadata: SessionMetadata, *, overwrite: bool = False,
                 access: str = "private") -> None:
        metadata.validate()
        if access not in ACCESS_MODES:
            raise ValueError(f"access {access!r} is not one of {', '.join(ACCESS_MODES)}")
        self.path = Path(path)
        self.metadata = metadata
        self._dir_mode, self._file_mode = ACCESS_MODES[access]
        if (self.path / METADATA_FILE).exists() and not overwrite:
            raise InputFileError(self.path, "already holds a session; choose another directory")
        for folder in (self.path, self.path / FRAMES_DIR):  # modes set outright (whatever the umask)
            folder.mkdir(parents=True, exist_ok=True)
            os.chmod(folder, self._dir_mode)
        for stale in (FRAME_INDEX_FILE, ECG_FILE, EVENTS_FILE):
            (self.path / stale).unlink(missing_ok=True)
        for stale in (self.path / FRAMES_DIR).glob("chunk-*.u8"):
            stale.unlink()
        metadata.write(self.path / METADATA_FILE, self._file_mode)

        self._frame_shape = metadata.video.frame_shape
        self._frame_dtype = PIXEL_FORMATS[metadata.video.pixel_format]
        self._frames_per_chunk = metadata.video.frames_per_chunk
        self._n_channels = len(metadata.ecg.channels)
        self._index_fd = self._open(self.path / FRAME_INDEX_FILE)
        self._ecg_fd = self._open(self.path / ECG_FILE)
        self._events_fd = self._open(self.path / EVENTS_FILE)
        self._chunk_fd: int | None = None
        self.frame_count = 0
        self.ecg_sample_count = 0
        self.closed = False

    # -- frames ---------------------------------------------------------------------------------------
    def append_frames(self, frames: np.ndarray, index: np.ndarray) -> None:
        """Append ``n`` frames (``(n, h, w)`` or one ``(h, w)``) with their ``n`` index records."""
        if frames.ndim == 2:
            frames = frames[None]
        index = np.atleast_1d(np.asarray(index, dtype=FRAME_INDEX_DTYPE))
        if frames.shape[1:] != self._frame_shape:
            raise ValueError(f"frame shape {frames.shape[1:]} differs from the session's {self._frame_shape}")
        if frames.dtype != self._frame_dtype:
            raise ValueError(f"frame dtype {frames.dtype} differs from the session's {self._frame_dtype}")
        if len(index) != len(frames):
            raise ValueError(f"{len(frames)} frames but {len(index)} index records")
        start = 0
        while start < len(frames):
            in_chunk = self.frame_count % self._frames_per_chunk
            if in_chunk == 0 or self._chunk_fd is None:
                self._open_chunk(self.frame_count // self._frames_per_chunk)
            n = min(len(frames) - start, self._frames_per_chunk - in_chunk)
            block = np.ascontiguousarray(frames[start : start + n])
            assert self._chunk_fd is not None
            _write_all(self._chunk_fd, memoryview(block).cast("B"))
            _write_all(self._index_fd, memoryview(index[start : start + n].tobytes()))
            self.frame_count += n
            start += n

    def _open_chunk(self, chunk: int) -> None:
        if self._chunk_fd is not None:
            os.close(self._chunk_fd)
        self._chunk_fd = self._open(self.path / FRAMES_DIR / chunk_file_name(chunk))

    def _open(self, path: Path) -> int:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, self._file_mode)
        os.fchmod(fd, self._file_mode)
        return fd

    def protect(self, path: Path) -> None:
        """Give a file or folder written into the session by others (ground truth, say) the session's mode."""
        os.chmod(path, self._dir_mode if path.is_dir() else self._file_mode)

    # -- ECG ------------------------------------------------------------------------------------------
    def append_ecg(self, samples: np.ndarray) -> None:
        """Append ``(n, n_channels)`` samples in the metadata's channel order."""
        samples = np.asarray(samples, dtype=ECG_DTYPE)
        if samples.ndim == 1 and self._n_channels == 1:
            samples = samples[:, None]
        if samples.ndim != 2 or samples.shape[1] != self._n_channels:
            raise ValueError(f"ECG block of shape {samples.shape}; expected (n, {self._n_channels})")
        _write_all(self._ecg_fd, memoryview(np.ascontiguousarray(samples)).cast("B"))
        self.ecg_sample_count += len(samples)

    # -- events and ground truth ----------------------------------------------------------------------
    def add_event(self, sample: int, kind: str, label: str = "", **extra: Any) -> None:
        """Append one event at an ECG sample index (the session clock)."""
        if kind not in EVENT_KINDS:
            raise ValueError(f"event kind {kind!r} is not one of {EVENT_KINDS}")
        line = json.dumps({"sample": int(sample), "kind": kind, "label": label, **extra}) + "\n"
        _write_all(self._events_fd, memoryview(line.encode()))

    # -- life cycle -----------------------------------------------------------------------------------
    def flush_to_disk(self) -> None:
        """fsync everything written so far (survives power loss, not only a killed process)."""
        for fd in (self._chunk_fd, self._index_fd, self._ecg_fd, self._events_fd):
            if fd is not None:
                os.fsync(fd)

    def abandon(self) -> None:
        """Close the files without marking the session closed (after a write error: the last records may
        be torn; the reader opens such a session with its complete records)."""
        for fd in (self._chunk_fd, self._index_fd, self._ecg_fd, self._events_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._chunk_fd = None
        self.closed = True

    def close(self, **summary: Any) -> None:
        if self.closed:
            return
        for fd in (self._chunk_fd, self._index_fd, self._ecg_fd, self._events_fd):
            if fd is not None:
                os.close(fd)
        self._chunk_fd = None
        self.metadata.closed = True
        self.metadata.summary = {
            "frame_count": self.frame_count,
            "ecg_sample_count": self.ecg_sample_count,
            **summary,
        }
        self.metadata.write(self.path / METADATA_FILE, self._file_mode)
        for extra in self.path.rglob("*"):  # anything added beside the writer's own files
            if not extra.is_symlink():
                self.protect(extra)
        self.closed = True

    def __enter__(self) -> SessionWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
