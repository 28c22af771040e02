"""Ground truth: MEGC spotting CSVs and the MECG lab coding file (xlsx or csv).

Both become :class:`Interval` rows with inclusive frame numbers. ``kind`` follows the micro-expression
rule: an expression whose onset-offset lasts at most 500 ms, or whose onset-apex lasts at most 250 ms,
is a micro-expression ("ME"); any other is "macro".
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from acquisition.errors import InputFileError
from acquisition.readers.video import parse_frame_name, unwrap_midnight

ME_MAX_DURATION_S = 0.5
"""Longest onset-offset of a micro-expression, seconds."""
ME_MAX_ONSET_TO_APEX_S = 0.25
"""Longest onset-apex of a micro-expression, seconds."""
_TIME_EPS_S = 1e-6
"""Times have two decimals in the coding file; 12.84 - 12.34 is 0.5000000000000018 in floats."""


@dataclass(frozen=True)
class Interval:
    """One expression, frames ``onset..offset`` inclusive, of ``video``.

    ``kind`` is "ME", "macro" or "" (not known); ``label`` the emotion, "" when not given.
    """

    video: str
    onset: int
    offset: int
    apex: int | None
    subject: str
    label: str
    kind: str
    action_units: str = ""


def classify_expression(onset_s: float, apex_s: float | None, offset_s: float) -> str:
    """"ME" when onset-offset <= 0.5 s or onset-apex <= 0.25 s, else "macro" (times in seconds)."""
    if offset_s - onset_s <= ME_MAX_DURATION_S + _TIME_EPS_S:
        return "ME"
    if apex_s is not None and apex_s - onset_s <= ME_MAX_ONSET_TO_APEX_S + _TIME_EPS_S:
        return "ME"
    return "macro"


# --- MEGC CSV -----------------------------------------------------------------------------------------

MEGC_REQUIRED: tuple[str, ...] = ("subject", "video", "onset", "offset")
MEGC_COLUMNS: tuple[str, ...] = (*MEGC_REQUIRED, "apex", "emotion", "class", "action_units")
"""What :func:`write_megc_csv` writes; the reader needs the first four and ignores unknown columns."""

_KIND_ALIASES: dict[str, str] = {
    "me": "ME",
    "micro": "ME",
    "micro-expression": "ME",
    "microexpression": "ME",
    "micro expression": "ME",
    "mae": "macro",
    "macro": "macro",
    "macro-expression": "macro",
    "macroexpression": "macro",
    "macro expression": "macro",
    "": "",
}
_MISSING = frozenset({"", "na", "n/a", "nan", "none", "null", "-"})


def normalize_kind(text: str) -> str:
    """ "ME" / "macro" / "" from the spellings used in MEGC files; ValueError for anything else."""
    try:
        return _KIND_ALIASES[text.strip().lower()]
    except KeyError:
        raise ValueError(f"class {text!r} is neither ME/micro nor macro/MaE") from None


MAX_FRAME_NUMBER = 10**9  # more than 77 days at 150 fps: beyond it a frame number is a corrupt value


def _frame_number(text: str) -> int:
    """An integer frame number; "12.0" (a float column written by pandas) is accepted."""
    text = text.strip()
    try:
        number = int(text)
    except ValueError:
        value = float(text)  # ValueError for text
        if not value.is_integer():
            raise ValueError(text) from None
        number = int(value)
    if abs(number) > MAX_FRAME_NUMBER:
        raise ValueError(f"{text} is not a frame number")
    return number


def read_megc_csv(path: str | Path) -> list[Interval]:
    """Intervals of a MEGC spotting CSV: ``subject,video,onset,offset`` and optionally ``apex``, ``emotion``,
    ``class``, ``action_units``; headers are case-insensitive, other columns are ignored.

    A header without rows is an empty list (no predictions). An apex of 0 or -1 outside onset..offset
    stands for "unknown" in some MEGC files and reads as None; any other apex outside is an error.
    """
    path = Path(path)
    text = _read_text(path)
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        raise InputFileError(path, f"empty file; expected a header {','.join(MEGC_REQUIRED)},...")
    reader = csv.reader(lines)
    header = [h.strip().lower() for h in next(reader)]
    missing = [c for c in MEGC_REQUIRED if c not in header]
    if missing:
        raise InputFileError(
            path,
            f"missing column(s) {', '.join(missing)} in the header row (found: {', '.join(header)}); "
            f"a MEGC CSV starts with a header {','.join(MEGC_REQUIRED)}[,apex,emotion,class]",
        )
    col = {name: header.index(name) for name in MEGC_COLUMNS if name in header}
    out: list[Interval] = []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        line = reader.line_num

        def cell(name: str, row: list[str] = row) -> str:
            i = col.get(name)
            return row[i].strip() if i is not None and i < len(row) else ""

        def fail(problem: str, line: int = line) -> InputFileError:
            return InputFileError(path, f"row {line}: {problem}")

        frames: dict[str, int | None] = {}
        for name in ("onset", "offset", "apex"):
            value = cell(name)
            if name == "apex" and value.lower() in _MISSING:
                frames[name] = None
                continue
            try:
                frames[name] = _frame_number(value)
            except ValueError:
                raise fail(f"{name} {value!r} is not an integer frame number") from None
        onset, offset, apex = frames["onset"], frames["offset"], frames["apex"]
        assert onset is not None and offset is not None
        if onset < 0:
            raise fail(f"onset {onset} is negative")
        if offset < onset:
            raise fail(f"offset {offset} is before onset {onset}")
        if apex is not None and not onset <= apex <= offset:
            if apex in (0, -1):
                apex = None
            else:
                raise fail(f"apex {apex} is outside onset..offset {onset}..{offset}")
        if not cell("video"):
            raise fail("no video")
        try:
            kind = normalize_kind(cell("class"))
        except ValueError as exc:
            raise fail(str(exc)) from None
        out.append(
            Interval(
                video=cell("video"),
                onset=onset,
                offset=offset,
                apex=apex,
                subject=cell("subject"),
                label=cell("emotion"),
                kind=kind,
                action_units=cell("action_units"),
            )
        )
    return out


def write_megc_csv(path: str | Path, intervals: Iterable[Interval]) -> None:
    """Write intervals as a MEGC CSV (columns :data:`MEGC_COLUMNS`) that :func:`read_megc_csv` reads back."""
    with Path(path).open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(MEGC_COLUMNS)
        for iv in intervals:
            writer.writerow(
                [
                    iv.subject,
                    iv.video,
                    iv.onset,
                    iv.offset,
                    "" if iv.apex is None else iv.apex,
                    iv.label,
                    iv.kind,
                    iv.action_units,
                ]
            )


# --- MECG coding file ---------------------------------------------------------------------------------

MECG_COLUMNS: tuple[str, ...] = (
    "Subject",
    "Filename",
    "Marker",
    "OnsetTime",
    "ApexTime",
    "OffsetTime",
    "OnsetFrame",
    "ApexFrame",
    "OffsetFrame",
    "Action Units",
    "Estimated Emotion",
    "Date",
    "dif",
)
"""The lab coding file's columns, in its order."""
_MECG_REQUIRED = ("Subject", "Filename", "OnsetTime", "ApexTime", "OffsetTime")
_MECG_FRAME_COLUMNS = ("OnsetFrame", "ApexFrame", "OffsetFrame")


@dataclass
class MecgCodingRow:
    """One row of a MECG coding file; field order is :data:`MECG_COLUMNS` order.

    Times are seconds from the trial start; frames are wall-clock names ``HH-MM-SS-mmm-uuu``; ``dif`` is
    the file's "apex frame minus onset frame" and is written as given.
    """

    subject: str
    filename: str
    marker: int | str
    onset_time: float
    apex_time: float | None
    offset_time: float
    onset_frame: str = ""
    apex_frame: str = ""
    offset_frame: str = ""
    action_units: str = ""
    emotion: str = ""
    date: str = ""
    dif: int | str = ""


def _fmt(value: Any, time: bool) -> str:
    if value is None:
        return ""
    if time and isinstance(value, (int, float)):
        return f"{value:.2f}"
    return str(value)


def write_mecg_coding_csv(path: str | Path, rows: Iterable[MecgCodingRow | Mapping[str, Any]]) -> None:
    """Write a coding file as CSV with :data:`MECG_COLUMNS`; times with two decimals as in the lab's file.

    A row is a :class:`MecgCodingRow` or a mapping from column name (``"OnsetTime"``...) to value; a
    mapping may leave columns out (written empty).
    """
    time_columns = {"OnsetTime", "ApexTime", "OffsetTime"}
    with Path(path).open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(MECG_COLUMNS)
        for row in rows:
            if isinstance(row, MecgCodingRow):
                values = dict(zip(MECG_COLUMNS, asdict(row).values(), strict=True))
            else:
                unknown = set(row) - set(MECG_COLUMNS)
                if unknown:
                    raise ValueError(f"unknown coding column(s): {', '.join(sorted(unknown))}")
                values = dict(row)
            writer.writerow([_fmt(values.get(c), c in time_columns) for c in MECG_COLUMNS])



def _read_text(path: Path) -> str:
    if not path.is_file():
        raise InputFileError(path, "no such file")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputFileError(path, "not a UTF-8 text file") from None


def _read_table(path: Path) -> tuple[list[str], list[tuple[int, list[Any]]]]:
    """Header and (row number, cells) of the first sheet of an xlsx, or of a CSV; blank rows left out."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        import openpyxl

        if not path.is_file():
            raise InputFileError(path, "no such file")
        try:
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
            try:
                rows = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
            finally:
                book.close()
        except Exception as exc:  # BadZipFile, KeyError, XML parse errors, InvalidFileException...
            detail = str(exc) or type(exc).__name__
            raise InputFileError(path, f"not a readable xlsx file (truncated or corrupt: {detail})") from None
    elif suffix == ".csv":
        rows = [list(r) for r in csv.reader(_read_text(path).splitlines())]
    else:
        raise InputFileError(path, f"unknown coding file type {suffix!r}; expected .xlsx or .csv")
    numbered = [
        (n, r) for n, r in enumerate(rows, start=1) if any(c is not None and str(c).strip() for c in r)
    ]
    if not numbered:
        raise InputFileError(path, "empty file; expected a header row " + ", ".join(MECG_COLUMNS))
    header = ["" if c is None else str(c).strip() for c in numbered[0][1]]
    return header, numbered[1:]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Subject 7 read back from xlsx as 7.0
    return str(value).strip()


def _seconds(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in _MISSING):
        return None
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(value)
    return number


class _FrameIndex:
    """Nearest position of a wall-clock frame name among a trial's frames."""

    def __init__(self, names: Sequence[str], fps: float) -> None:
        self.names = list(names)
        self.times = unwrap_midnight(np.array([parse_frame_name(n) for n in names]))
        if np.any(np.diff(self.times) <= 0):
            raise ValueError("frame names are not in time order")
        self.tolerance = 1.0 / fps  # a coded frame further than one frame period from every frame is wrong

    def index(self, name: str) -> int:
        t = parse_frame_name(name)
        if self.times[-1] >= 86400.0 and t < 43200.0:
            t += 86400.0  # the trial runs over midnight
        k = int(np.clip(np.searchsorted(self.times, t), 1, len(self.times) - 1)) if len(self.times) > 1 else 0
        if k > 0 and abs(self.times[k - 1] - t) <= abs(self.times[k] - t):
            k -= 1
        if abs(self.times[k] - t) > self.tolerance:
            raise ValueError(f"{name} is not among the trial's frames ({self.names[0]} .. {self.names[-1]})")
        return k


def read_mecg_coding(
    path: str | Path,
    fps: float,
    frame_names: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
    trial_start: str | None = None,
) -> list[Interval]:
    """Intervals of a MECG lab coding file (.xlsx, first sheet, or .csv), one per row.

    Frame numbers (0 = the trial's first frame) come from, in order of preference:

    - ``frame_names``: the trial's frame names in order (a frame folder's ``VideoSource.frame_names``),
      or a mapping from video (Filename without extension) to them for a file that codes several trials;
      each ``OnsetFrame``/``ApexFrame``/``OffsetFrame`` maps to the nearest frame in time. Videos
      missing from a mapping fall back to the times.
    - ``trial_start``: the wall-clock name of frame 0; frame = round((frame time - start) * fps).
    - otherwise the times: frame = round(OnsetTime * fps) etc.

    ``kind`` comes from the coded times (:func:`classify_expression`), as the lab's ME rule does. Columns
    needed: Subject, Filename, OnsetTime, ApexTime, OffsetTime, and the three frame columns when frame
    names or a trial start are given; Action Units and Estimated Emotion are read when present; Marker,
    Date and dif are not used.
    """
    path = Path(path)
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be positive, got {fps}")
    header, rows = _read_table(path)
    folded = {h.casefold(): i for i, h in enumerate(header)}
    needed = list(_MECG_REQUIRED)
    if frame_names is not None or trial_start is not None:
        needed += _MECG_FRAME_COLUMNS
    missing = [c for c in needed if c.casefold() not in folded]
    if missing:
        raise InputFileError(path, f"missing column(s): {', '.join(missing)} (found: {', '.join(header)})")

    try:
        if isinstance(frame_names, Mapping):
            indexes = {video: _FrameIndex(names, fps) for video, names in frame_names.items()}
            single = None
        else:
            indexes = {}
            single = None if frame_names is None else _FrameIndex(frame_names, fps)
        start = None if trial_start is None else parse_frame_name(trial_start)
    except ValueError as exc:
        raise ValueError(f"bad frame names: {exc}") from None

    if single is not None:
        videos = {Path(_text(r[folded["filename"]])).stem for _, r in rows if folded["filename"] < len(r)}
        if len(videos) > 1:
            raise InputFileError(
                path,
                f"frame_names of one trial were given but the file codes {len(videos)} videos; give a "
                "mapping from video to frame names",
            )

    out: list[Interval] = []
    for line, row in rows:

        def get(column: str, row: list[Any] = row) -> Any:
            i = folded.get(column.casefold())
            return row[i] if i is not None and i < len(row) else None

        def fail(problem: str, line: int = line) -> InputFileError:
            return InputFileError(path, f"row {line}: {problem}")

        video = Path(_text(get("Filename"))).stem
        if not video:
            raise fail("no Filename")
        times: dict[str, float | None] = {}
        for what in ("Onset", "Apex", "Offset"):
            try:
                times[what] = _seconds(get(f"{what}Time"))
            except (TypeError, ValueError):
                raise fail(f"{what}Time {get(f'{what}Time')!r} is not a number of seconds") from None
        onset_s, apex_s, offset_s = times["Onset"], times["Apex"], times["Offset"]
        if onset_s is None or offset_s is None:
            raise fail("OnsetTime and OffsetTime are required")

        index = indexes.get(video, single)
        frames: dict[str, int | None] = {}
        for what in ("Onset", "Apex", "Offset"):
            seconds = times[what]
            name = _text(get(f"{what}Frame"))
            try:
                if index is not None and name:
                    frames[what] = index.index(name)
                elif index is None and start is not None and name:
                    elapsed = parse_frame_name(name) - start
                    if elapsed < -43200.0:
                        elapsed += 86400.0  # over midnight
                    frames[what] = round(elapsed * fps)
                elif (index is not None or start is not None) and what != "Apex":
                    raise ValueError(f"{what}Frame is empty")
                else:
                    frames[what] = None if seconds is None else round(seconds * fps)
            except ValueError as exc:
                raise fail(f"{what}Frame: {exc}") from None
        onset, apex, offset = frames["Onset"], frames["Apex"], frames["Offset"]
        assert onset is not None and offset is not None
        if onset < 0:
            raise fail(f"onset frame {onset} is before the trial start")
        if offset < onset:
            raise fail(f"offset (frame {offset}, {offset_s} s) is before onset (frame {onset}, {onset_s} s)")
        if apex is not None and not onset <= apex <= offset:
            raise fail(f"apex frame {apex} is outside onset..offset {onset}..{offset}")
        out.append(
            Interval(
                video=video,
                onset=onset,
                offset=offset,
                apex=apex,
                subject=_text(get("Subject")),
                label=_text(get("Estimated Emotion")),
                kind=classify_expression(onset_s, apex_s, offset_s),
                action_units=_text(get("Action Units")),
            )
        )
    return out
