"""Video the lab already has: a video file (OpenCV) or a folder of frames named by wall-clock time.

Frames come out as uint8 grayscale HxW (MONO8), whatever the source's colour format.

Frame folders follow the MECG dataset: one image per frame named ``HH-MM-SS-mmm-uuu.<ext>``, the
wall-clock time of the frame (``14-03-22-123-456.png`` = 14:03:22.123456). Such names do not sort as
strings when a field is not zero-padded, so frames are ordered by the time they name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from acquisition.errors import InputFileError

FRAME_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp")
"""Image files that a frame folder may hold."""

_OTHER_IMAGE_SUFFIXES = (".tif", ".tiff", ".gif", ".webp", ".pgm", ".ppm")
"""Images that are clearly meant as frames but are not supported: reported, not silently skipped."""

_FRAME_NAME = re.compile(r"^(\d{1,2})-(\d{1,2})-(\d{1,2})-(\d{1,3})-(\d{1,3})$")
_DAY_S = 86400.0

_INTRA_ONLY_FOURCCS = frozenset({"MJPG", "FFV1", "HFYU", "Y800", "GREY", "Y8  ", "RGBA", "BGRA", "I420"})
"""Codecs whose every frame is a key frame: OpenCV's frame seek lands exactly on them."""


def parse_frame_name(name: str) -> float:
    """Seconds since midnight named by ``HH-MM-SS-mmm-uuu`` (an image suffix or a directory is allowed).

    Raises ValueError for a name that does not follow the pattern or has a field out of range.
    """
    stem = Path(name).name
    suffix = Path(stem).suffix.lower()
    if suffix in FRAME_SUFFIXES + _OTHER_IMAGE_SUFFIXES:
        stem = stem[: -len(suffix)]
    match = _FRAME_NAME.match(stem.strip())
    if match is None:
        raise ValueError(f"{name!r} is not a wall-clock frame name HH-MM-SS-mmm-uuu")
    hours, minutes, seconds, millis, micros = (int(g) for g in match.groups())
    if hours > 23 or minutes > 59 or seconds > 59:
        raise ValueError(f"{name!r} is not a valid time of day")
    return hours * 3600 + minutes * 60 + seconds + millis / 1e3 + micros / 1e6


def frame_name(seconds_since_midnight: float) -> str:
    """The ``HH-MM-SS-mmm-uuu`` name of a time of day, rounded to the microsecond.

    Times of 24 h and more wrap to the next day (a recording that runs past midnight).
    """
    if not np.isfinite(seconds_since_midnight) or seconds_since_midnight < 0:
        raise ValueError(f"not a time of day: {seconds_since_midnight!r}")
    total_us = round(seconds_since_midnight * 1e6) % round(_DAY_S * 1e6)
    total_s, micros = divmod(total_us, 1_000_000)
    millis, micros = divmod(micros, 1000)
    hours, rest = divmod(total_s, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours:02d}-{minutes:02d}-{seconds:02d}-{millis:03d}-{micros:03d}"


def unwrap_midnight(times: np.ndarray) -> np.ndarray:
    """Times of day made monotonic across midnight: when they span more than 12 h, the small ones are
    taken to be after midnight (+24 h). Trials last minutes, so a 12 h spread only comes from a wrap."""
    times = np.asarray(times, dtype=np.float64)
    if times.size and times.max() - times.min() > _DAY_S / 2:
        times = np.where(times < _DAY_S / 2, times + _DAY_S, times)
    return times


def _to_mono8(frame: np.ndarray) -> np.ndarray:
    if frame.dtype != np.uint8:
        if frame.dtype == np.uint16:
            frame = (frame >> 8).astype(np.uint8)
        else:
            frame = cv2.normalize(frame, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if frame.ndim == 3:
        if frame.shape[2] == 1:
            frame = frame[:, :, 0]
        elif frame.shape[2] == 4:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2GRAY)
        else:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    return np.ascontiguousarray(frame)


class VideoSource:
    """Frames of a video file or a frame folder, read one at a time.

    Use :func:`open_video` or :func:`open_frame_folder`. ``frame_names`` holds the wall-clock names
    (without suffix) for a folder, None for a file; ``frame_times`` the same as seconds since midnight.
    """

    def __init__(
        self,
        path: Path,
        fps: float,
        frame_count: int,
        width: int,
        height: int,
        *,
        capture: cv2.VideoCapture | None = None,
        frame_paths: list[Path] | None = None,
        frame_times: np.ndarray | None = None,
        seek_exact: bool = False,
    ) -> None:
        self.path = path
        self.fps = float(fps)
        self.frame_count = int(frame_count)
        self.width = int(width)
        self.height = int(height)
        self._capture = capture
        self._frame_paths = frame_paths
        self.frame_times = frame_times
        self.frame_names: list[str] | None = (
            None if frame_paths is None else [p.name[: -len(p.suffix)] for p in frame_paths]
        )
        self._seek_exact = seek_exact
        self._next = 0  # index of the frame the capture decodes next

    # --- access -------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.frame_count

    def read(self, i: int) -> np.ndarray:
        """Frame ``i`` (0-based) as uint8 grayscale HxW."""
        if not 0 <= i < self.frame_count:
            raise IndexError(f"frame {i} out of range 0..{self.frame_count - 1}")
        if self._frame_paths is not None:
            return self._read_image(i)
        capture = self._open_capture()
        if i != self._next:
            if i > self._next and (not self._seek_exact or i - self._next <= 16):
                self._skip(i - self._next)
            elif self._seek_exact:
                capture.set(cv2.CAP_PROP_POS_FRAMES, i)
                self._next = i
            else:
                # Seeking by frame number is not exact for inter-coded or variable-rate video: decode
                # from the start instead (correct, slower).
                self._reopen()
                self._skip(i)
        return self._decode_next()

    def __iter__(self) -> Iterator[np.ndarray]:
        """Every frame in order; a file is decoded sequentially from the start."""
        if self._frame_paths is not None:
            for i in range(self.frame_count):
                yield self._read_image(i)
            return
        self._open_capture()
        if self._next != 0:
            self._reopen()
        for _ in range(self.frame_count):
            yield self._decode_next()

    # --- lifetime -----------------------------------------------------------------------------------

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"VideoSource({str(self.path)!r}, fps={self.fps:g}, frames={self.frame_count}, "
            f"{self.width}x{self.height})"
        )

    # --- internals ----------------------------------------------------------------------------------

    def _open_capture(self) -> cv2.VideoCapture:
        if self._capture is None:
            self._reopen()
        assert self._capture is not None
        return self._capture

    def _reopen(self) -> None:
        if self._capture is not None:
            self._capture.release()
        self._capture = _capture(self.path)
        self._next = 0

    def _skip(self, n: int) -> None:
        assert self._capture is not None
        for _ in range(n):
            if not self._capture.grab():
                self._truncated(self._next)
            self._next += 1

    def _decode_next(self) -> np.ndarray:
        assert self._capture is not None
        ok, frame = self._capture.read()
        if not ok or frame is None:
            self._truncated(self._next)
        self._next += 1
        return _to_mono8(frame)

    def _truncated(self, index: int) -> None:
        self._next = self.frame_count  # the capture is spent; the next read reopens it
        raise InputFileError(
            self.path,
            f"truncated or corrupt video: frame {index} of {self.frame_count} cannot be decoded",
        )

    def _read_image(self, i: int) -> np.ndarray:
        assert self._frame_paths is not None
        path = self._frame_paths[i]
        frame = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if frame is None:
            raise InputFileError(path, "not a readable image (missing, truncated or corrupt)")
        frame = _to_mono8(frame)
        if frame.shape != (self.height, self.width):
            raise InputFileError(
                path,
                f"frame is {frame.shape[1]}x{frame.shape[0]}, the folder's first frame is "
                f"{self.width}x{self.height}",
            )
        return frame


def _capture(path: Path) -> cv2.VideoCapture:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise InputFileError(path, "not a video file OpenCV can open (unknown format, truncated or corrupt)")
    return capture


def _fourcc(capture: cv2.VideoCapture) -> str:
    code = int(capture.get(cv2.CAP_PROP_FOURCC))
    return "".join(chr((code >> (8 * k)) & 0xFF) for k in range(4))


def _count_frames(capture: cv2.VideoCapture) -> int:
    n = 0
    while capture.grab():
        n += 1
    return n


def open_video(path: str | Path, fps: float | None = None) -> VideoSource:
    """A video file (.avi, .mp4, .mov, ... whatever OpenCV's FFmpeg reads); ``fps`` overrides the file's.

    The frame count is the container's, checked by decoding the last frame; when that fails, the frames
    are counted by decoding them all, and fewer than the container promises is a truncated file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "not a file" if path.exists() else "no such video file")
    if fps is not None and not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be positive, got {fps}")
    capture = _capture(path)
    try:
        file_fps = capture.get(cv2.CAP_PROP_FPS)
        if fps is None:
            if not (np.isfinite(file_fps) and file_fps > 0):
                raise InputFileError(path, "the file gives no frame rate; give one (fps)")
            fps = file_fps
        ok, first = capture.read()
        if not ok or first is None:
            raise InputFileError(path, "no decodable frames (empty, truncated or corrupt video)")
        height, width = first.shape[:2]
        seek_exact = _fourcc(capture).upper() in _INTRA_ONLY_FOURCCS
        header_count = round(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        frame_count = header_count
        last_ok = False
        if header_count > 1:
            capture.set(cv2.CAP_PROP_POS_FRAMES, header_count - 1)
            ok, last = capture.read()
            last_ok = ok and last is not None
        elif header_count == 1:
            last_ok = True
        if not last_ok:
            capture.release()
            capture = _capture(path)
            frame_count = _count_frames(capture)
            if header_count > 0 and frame_count < header_count:
                raise InputFileError(
                    path,
                    f"truncated video: the file promises {header_count} frames but only {frame_count} "
                    "can be decoded",
                )
    finally:
        capture.release()
    return VideoSource(path, float(fps), frame_count, width, height, seek_exact=seek_exact)


def open_frame_folder(path: str | Path, fps: float) -> VideoSource:
    """A folder of frames named ``HH-MM-SS-mmm-uuu.png|jpg|jpeg|bmp``, ordered by the time they name.

    Hidden files and files that are not images (notes, ``Thumbs.db``) are ignored; an image with another
    name, two frames with the same time, or no frames at all is an InputFileError.
    """
    path = Path(path)
    if not path.is_dir():
        raise InputFileError(path, "no such frame folder")
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be positive, got {fps}")
    frames: list[tuple[float, Path]] = []
    for entry in path.iterdir():
        suffix = entry.suffix.lower()
        if entry.name.startswith(".") or not entry.is_file():
            continue
        if suffix not in FRAME_SUFFIXES + _OTHER_IMAGE_SUFFIXES:
            continue
        try:
            if suffix not in FRAME_SUFFIXES:
                raise ValueError("unsupported image type")
            frames.append((parse_frame_name(entry.name), entry))
        except ValueError:
            raise InputFileError(
                entry,
                "frame name does not follow HH-MM-SS-mmm-uuu.png|jpg|jpeg|bmp (wall-clock time of the frame)",
            ) from None
    if not frames:
        raise InputFileError(path, "no frames (images named HH-MM-SS-mmm-uuu.png|jpg|jpeg|bmp) in folder")
    times = unwrap_midnight(np.array([t for t, _ in frames]))
    order = np.argsort(times, kind="stable")
    times = times[order]
    paths = [frames[k][1] for k in order]
    same = np.flatnonzero(np.diff(times) == 0)
    if same.size:
        k = int(same[0])
        raise InputFileError(paths[k + 1], f"two frames with the same time: {paths[k].name}")
    first = cv2.imread(str(paths[0]), cv2.IMREAD_UNCHANGED)
    if first is None:
        raise InputFileError(paths[0], "not a readable image (truncated or corrupt)")
    height, width = _to_mono8(first).shape
    return VideoSource(path, fps, len(paths), width, height, frame_paths=paths, frame_times=times)
