"""ECG the lab already has: BIOPAC AcqKnowledge (.acq, via bioread), CSV and NumPy (.npy) files.

Every reader returns an :class:`EcgRecording` with the chosen channel as float64 and its own sampling
rate; a file that cannot be used raises :class:`InputFileError` with the reason, never another error.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from acquisition._checks import ECG_RATE_HZ
from acquisition.errors import ConfigError, InputFileError

log = logging.getLogger(__name__)

MarkerPolicy = Literal["strict", "skip"]
ECG_NAME_HINTS: tuple[str, ...] = ("ECG", "EKG")
TIME_COLUMNS: tuple[str, ...] = ("time", "time_s", "t")


@dataclass(frozen=True)
class Marker:
    """An event marker: its time from the start of the recording, its text and the channel it is on."""

    time_s: float
    label: str
    channel: str | None = None


@dataclass
class EcgRecording:
    """One ECG channel of a recording, plus whatever else was asked for.

    ``extra`` maps channel name to (samples, sampling rate) for channels asked for besides the ECG, e.g. a
    trigger. ``skipped_markers`` counts markers left out by ``markers="skip"``.
    """

    signal: np.ndarray
    sampling_rate: float
    channel: str
    units: str
    source: Path
    markers: list[Marker] = field(default_factory=list)
    extra: dict[str, tuple[np.ndarray, float]] = field(default_factory=dict)
    skipped_markers: int = 0

    @property
    def duration_s(self) -> float:
        return len(self.signal) / self.sampling_rate


# --- shared checks ------------------------------------------------------------------------------------


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputFileError(path, "no such file")
    if not path.is_file():
        raise InputFileError(path, "not a file")
    if path.stat().st_size == 0:
        raise InputFileError(path, "empty file (0 bytes)")


def _check_rate(rate: float) -> float:
    low, high = ECG_RATE_HZ
    if not (math.isfinite(rate) and low <= rate <= high):
        raise ConfigError(f"sampling rate {rate} Hz is not an ECG rate ({low:g}-{high:g} Hz)")
    return float(rate)


def _check_signal(path: Path, signal: np.ndarray, what: str) -> np.ndarray:
    if signal.size < 2:
        raise InputFileError(path, f"{what} has {signal.size} sample(s); an ECG needs more")
    bad = np.flatnonzero(~np.isfinite(signal))
    if bad.size:
        raise InputFileError(
            path, f"{what} has {bad.size} non-finite values (NaN/inf), first at sample {bad[0]}"
        )
    return signal


def _pick_name(path: Path, names: Sequence[str], wanted: str | None, what: str = "channel") -> int:
    """Index of ``wanted`` among ``names``: exact match, else a unique case-insensitive substring match;
    None picks the first name containing ECG or EKG."""
    listing = ", ".join(repr(n) for n in names) or "none"
    if wanted is None:
        for i, name in enumerate(names):
            if any(hint in name.upper() for hint in ECG_NAME_HINTS):
                return i
        raise InputFileError(path, f"no ECG/EKG {what} (give one by name); {what}s: {listing}")
    if wanted in names:
        return list(names).index(wanted)
    hits = [i for i, name in enumerate(names) if wanted.casefold() in name.casefold()]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise InputFileError(path, f"no {what} named {wanted!r}; {what}s: {listing}")
    matched = ", ".join(repr(names[i]) for i in hits)
    raise InputFileError(path, f"{what} {wanted!r} is ambiguous, it matches {matched}")


# --- AcqKnowledge -------------------------------------------------------------------------------------


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _bioread_errors(path: Path) -> Iterator[_Collect]:
    """Turn whatever bioread raises on a bad file into InputFileError.

    bioread fails on truncated or corrupt files with many exception types (struct.error, EOFError,
    ValueError, AttributeError on a header it could not read, zlib.error, MemoryError on absurd sizes...)
    and prints its own "Error reading ..." lines (it gives its logger a stderr handler); those are
    collected into the message instead, or re-logged as warnings here when the file reads.
    """
    logger = logging.getLogger("bioread")
    collect = _Collect()
    handlers, propagate = logger.handlers, logger.propagate
    logger.handlers, logger.propagate = [collect], False
    try:
        yield collect
    except InputFileError:
        raise
    except Exception as exc:
        detail = collect.messages[0] if collect.messages else f"{type(exc).__name__}: {exc}"
        detail = re.sub(r"<class '(?:[\w.]+\.)?(\w+)'>", r"\1", detail)  # <class 'bioread.headers.X'>
        raise InputFileError(
            path, f"not a readable AcqKnowledge file (truncated or corrupt: {detail})"
        ) from exc
    finally:
        logger.handlers, logger.propagate = handlers, propagate
    for message in collect.messages:
        log.warning("%s: bioread: %s", path, message)


class _ReadBudget(io.FileIO):
    """A file that refuses more reads than any real .acq needs.

    A corrupt marker count with a marker header whose length comes out 0 makes bioread re-read the same
    bytes up to 2**31 times (hours); a real file needs a few reads per header.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path, "rb")
        self.reads_left = 100_000 + path.stat().st_size // 1024
        self.offset_reads: dict[int, int] = {}

    def read(self, size: int | None = -1, /) -> bytes:
        offset = self.tell()
        self.offset_reads[offset] = self.offset_reads.get(offset, 0) + 1
        self.reads_left -= 1
        if self.reads_left < 0 or self.offset_reads[offset] > 50:
            raise _Implausible("header counts are implausible (endless header table)")
        return super().read(size)


class _Implausible(Exception):
    pass


def _check_sizes(path: Path, headers: Any) -> None:
    """Sample counts that the file cannot hold mean a corrupt header (and would allocate gigabytes)."""
    need = sum(int(c.point_count) * int(c.dtype.itemsize) for c in headers.channels)
    size = path.stat().st_size
    limit = size if not headers.is_compressed else size * 1100  # zlib expands at most ~1000x
    if any(int(c.point_count) < 0 for c in headers.channels) or need > limit:
        raise _Implausible(f"its channels claim {need} bytes of samples, the file has {size} bytes")


def list_acq_channels(path: str | Path) -> list[tuple[str, float, str]]:
    """(name, samples per second, units) of each channel of an .acq file, from its headers only."""
    import bioread

    path = Path(path)
    _check_file(path)
    with _bioread_errors(path):
        with _ReadBudget(path) as f:
            data = bioread.read_headers(f)
        return [(c.name, float(c.samples_per_second), c.units) for c in data.channels]


def read_acq(
    path: str | Path,
    channel: str | None = None,
    *,
    extra_channels: Sequence[str] = (),
    markers: MarkerPolicy = "strict",
) -> EcgRecording:
    """The ECG channel of a BIOPAC AcqKnowledge file, its event markers and any ``extra_channels``.

    ``channel``: exact name, else a case-insensitive part of one; default the first ECG/EKG channel.
    Channels may have different rates (each keeps its own); marker times use the file's base rate.

    ``markers="strict"`` refuses a file whose marker table is corrupt (a marker beyond the end of the
    recording, as in files whose indices overflow to about 2**32). ``markers="skip"`` reads the signals
    and drops the whole marker table then, counting the markers in ``skipped_markers``: in the one
    real example (physio-5.0.1-c.acq) the markers that still fall inside the recording are shifted by
    the same overflow, so keeping them would give wrong times.
    """
    import bioread

    if markers not in ("strict", "skip"):
        raise ValueError(f"markers must be 'strict' or 'skip', got {markers!r}")
    path = Path(path)
    _check_file(path)
    with _bioread_errors(path):
        with _ReadBudget(path) as f:
            headers = bioread.read_headers(f)
        _check_sizes(path, headers)
        names = [c.name for c in headers.channels]
        ecg_index = _pick_name(path, names, channel)
        extra_indexes = [_pick_name(path, names, name) for name in extra_channels]
        # All channels are read, not only the wanted ones: a truncated file shows in any of them.
        with _ReadBudget(path) as f:
            data = bioread.read_file(f)

        base_rate = float(data.samples_per_second)
        if not (math.isfinite(base_rate) and ECG_RATE_HZ[0] <= base_rate <= ECG_RATE_HZ[1] * 10):
            raise InputFileError(path, f"its sample interval gives {base_rate:g} samples per second, not a "
                                 "recording rate (a corrupt header?)")
        channels = data.channels
        for c in channels:
            if c.data is None or len(c.data) != c.point_count:
                got = 0 if c.data is None else len(c.data)
                raise InputFileError(
                    path,
                    f"not a readable AcqKnowledge file (truncated or corrupt: channel {c.name!r} has "
                    f"{got} of {c.point_count} samples)",
                )
        ecg = channels[ecg_index]
        signal = _check_signal(path, np.asarray(ecg.data, dtype=np.float64), f"channel {ecg.name!r}")
        extra = {
            channels[i].name: (
                np.asarray(channels[i].data, dtype=np.float64),
                float(channels[i].samples_per_second),
            )
            for i in extra_indexes
        }
        # Length in base-rate samples: a channel at base rate / d has point_count * d of them.
        length = max(c.point_count * max(int(c.frequency_divider), 1) for c in headers.channels)
        by_number = {c.order_num: c.name for c in headers.channels}
        raw = list(data.event_markers or [])

    bad = [m for m in raw if not 0 <= int(m.sample_index) <= length]
    skipped = 0
    if bad:
        if markers == "strict":
            example = bad[0]
            raise InputFileError(
                path,
                f"the marker table is corrupt: {len(bad)} of {len(raw)} event markers lie outside the "
                f"recording (e.g. {example.text!r} at sample {int(example.sample_index)}, the recording "
                f"has {length} samples at {base_rate:g} Hz). Read the signals without the markers with "
                f'markers="skip" (--skip-bad-markers).',
            )
        skipped, raw = len(raw), []
        log.warning("%s: corrupt marker table, %d event markers skipped", path, skipped)
    marker_list = [
        Marker(
            time_s=int(m.sample_index) / base_rate,
            label=str(m.text),
            channel=by_number.get(m.channel_number) if m.channel_number is not None else None,
        )
        for m in raw
    ]
    return EcgRecording(
        signal=signal,
        sampling_rate=float(ecg.samples_per_second),
        channel=ecg.name,
        units=str(ecg.units or ""),
        source=path,
        markers=marker_list,
        extra=extra,
        skipped_markers=skipped,
    )


# --- CSV ----------------------------------------------------------------------------------------------


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def read_ecg_csv(path: str | Path, sampling_rate: float | None, channel: str | None = None) -> EcgRecording:
    """One column of a CSV file with a header row (delimiter ``,``, ``;`` or tab).

    ``channel``: the column's name, matched like .acq channels; default the first column whose name
    contains ECG or EKG, else the only column that is not a time column. A time column (``time``,
    ``time_s`` or ``t``, seconds) gives the sampling rate when ``sampling_rate`` is None.
    """
    path = Path(path)
    _check_file(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputFileError(path, "not a text (UTF-8) CSV file") from None
    if not text.strip():
        raise InputFileError(path, "empty file")
    first_line = text.splitlines()[0]
    delimiter = max(",;\t", key=first_line.count) if any(d in first_line for d in ",;\t") else ","
    reader = csv.reader(text.splitlines(), delimiter=delimiter)
    header = [h.strip() for h in next(reader)]
    if all(_is_number(h) for h in header if h):
        raise InputFileError(path, "no header row (the first row holds numbers); expected column names")

    time_col = next((i for i, h in enumerate(header) if h.lower() in TIME_COLUMNS), None)
    if channel is None:
        hinted = [i for i, h in enumerate(header) if any(k in h.upper() for k in ECG_NAME_HINTS)]
        others = [i for i, h in enumerate(header) if i != time_col and h]
        if hinted:
            col = hinted[0]
        elif len(others) == 1:
            col = others[0]
        else:
            names = ", ".join(repr(h) for h in header)
            raise InputFileError(path, f"no ECG/EKG column and more than one column; give one of {names}")
    else:
        col = _pick_name(path, header, channel, what="column")

    needed = [col] if time_col is None else [col, time_col]
    values: list[float] = []
    times: list[float] = []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue  # blank line
        line = reader.line_num
        if len(row) <= max(needed):
            raise InputFileError(
                path, f"row {line}: {len(row)} cells, column {header[max(needed)]!r} missing"
            )
        for i, out in ((col, values), (time_col, times)):
            if i is None:
                continue
            cell = row[i].strip()
            try:
                out.append(_parse_float(cell))
            except ValueError:
                raise InputFileError(
                    path, f"row {line}, column {header[i]!r}: {cell!r} is not a finite number"
                ) from None
    if not values:
        raise InputFileError(path, "no data rows after the header")

    if sampling_rate is None:
        if time_col is None:
            raise InputFileError(
                path, "no time column (time, time_s or t) to give the sampling rate; give the sampling rate"
            )
        sampling_rate = _rate_from_times(path, np.asarray(times), header[time_col])
    signal = _check_signal(path, np.asarray(values, dtype=np.float64), f"column {header[col]!r}")
    return EcgRecording(
        signal=signal,
        sampling_rate=_check_rate(sampling_rate),
        channel=header[col],
        units="",
        source=path,
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _rate_from_times(path: Path, times: np.ndarray, name: str) -> float:
    if times.size < 2:
        raise InputFileError(path, f"time column {name!r} needs at least two rows to give a sampling rate")
    steps = np.diff(times)
    if np.any(steps <= 0):
        row = int(np.flatnonzero(steps <= 0)[0]) + 3  # header is row 1, data from row 2
        raise InputFileError(path, f"time column {name!r} does not increase (row {row})")
    mean_step = (times[-1] - times[0]) / (times.size - 1)
    if np.max(np.abs(steps - mean_step)) > 0.5 * mean_step:
        raise InputFileError(path, f"time column {name!r} is not evenly spaced (gaps or jitter over 50%)")
    return 1.0 / mean_step


# --- NumPy --------------------------------------------------------------------------------------------


def read_ecg_npy(path: str | Path, sampling_rate: float, channel: int = 0) -> EcgRecording:
    """A .npy array of samples (1-D) or samples x channels (2-D); ``channel`` picks a column of a 2-D one."""
    path = Path(path)
    _check_file(path)
    rate = _check_rate(sampling_rate)
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as exc:  # ValueError (pickled objects, bad header), EOFError, OSError, ...
        raise InputFileError(path, f"not a readable .npy file (truncated or corrupt: {exc})") from None
    if not isinstance(array, np.ndarray):
        raise InputFileError(path, "not a single .npy array")
    if array.dtype.kind not in "iuf":
        raise InputFileError(
            path, f"array of {array.dtype} values; expected integer or floating-point samples"
        )
    if array.ndim == 1:
        if channel != 0:
            raise InputFileError(path, f"1-D array has one channel (0), not {channel}")
        signal = array
    elif array.ndim == 2:
        if array.shape[1] > array.shape[0]:
            raise InputFileError(
                path,
                f"array of shape {array.shape} looks like channels x samples; expected samples x channels "
                "(save the transpose)",
            )
        if not 0 <= channel < array.shape[1]:
            raise InputFileError(path, f"no channel {channel}; the array has {array.shape[1]} (0..)")
        signal = array[:, channel]
    else:
        raise InputFileError(path, f"array of shape {array.shape}; expected 1-D or 2-D (samples x channels)")
    signal = _check_signal(path, np.ascontiguousarray(signal, dtype=np.float64), f"channel {channel}")
    return EcgRecording(signal=signal, sampling_rate=rate, channel=str(channel), units="", source=path)


# --- dispatch -----------------------------------------------------------------------------------------


def read_ecg(
    path: str | Path,
    sampling_rate: float | None = None,
    channel: str | int | None = None,
    markers: MarkerPolicy = "strict",
) -> EcgRecording:
    """Read an ECG file by its suffix: .acq (rate from the file), .csv, .npy (rate required).

    ``channel`` is a name for .acq/.csv and a column index (int or digits) for .npy.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".acq":
        return read_acq(path, None if channel is None else str(channel), markers=markers)
    if suffix == ".csv":
        return read_ecg_csv(path, sampling_rate, None if channel is None else str(channel))
    if suffix == ".npy":
        if sampling_rate is None:
            raise InputFileError(path, "a .npy file holds no sampling rate; give one")
        index: Any = 0 if channel is None else channel
        try:
            index = int(index)
        except ValueError:
            raise InputFileError(path, f"a .npy channel is a column number, not {channel!r}") from None
        return read_ecg_npy(path, sampling_rate, index)
    raise InputFileError(
        path, f"unknown ECG file type {path.suffix or '(no suffix)'!r}; expected .acq, .csv or .npy"
    )
