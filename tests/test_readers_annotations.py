"""Ground-truth readers: MEGC spotting CSVs and the MECG lab coding file (csv and xlsx)."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from acquisition.errors import InputFileError
from acquisition.readers.annotations import (
    ME_MAX_DURATION_S,
    ME_MAX_ONSET_TO_APEX_S,
    MECG_COLUMNS,
    Interval,
    MecgCodingRow,
    classify_expression,
    read_mecg_coding,
    read_megc_csv,
    write_mecg_coding_csv,
    write_megc_csv,
)
from acquisition.readers.video import frame_name, parse_frame_name

# --- ME rule ------------------------------------------------------------------------------------------


def test_classify_expression() -> None:
    assert (ME_MAX_DURATION_S, ME_MAX_ONSET_TO_APEX_S) == (0.5, 0.25)
    assert classify_expression(12.34, 12.50, 12.84) == "ME"  # exactly 0.50 s (0.5000000000000018 in floats)
    assert classify_expression(1.00, 1.25, 2.00) == "ME"  # onset-apex exactly 0.25 s
    assert classify_expression(1.00, 1.26, 1.51) == "macro"
    assert classify_expression(1.00, None, 1.51) == "macro"
    assert classify_expression(1.00, None, 1.40) == "ME"


# --- MEGC CSV -----------------------------------------------------------------------------------------


def _csv(tmp_path: Path, text: str, name: str = "megc.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_megc_read(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        " Subject , VIDEO ,onset,Offset,apex,emotion,class,notes\n"
        "s15,15_0101,10,40,22,happy,micro,whatever\n"
        "s15,15_0101,100,300,,,MaE,\n"
        "\n"
        "s16,16_0505,5,5,5,,ME,\n"
        "s16,16_0505,7.0,9,-1,,macro,\n"
        "s16,16_0505,7,9,0,,,\n",
    )
    rows = read_megc_csv(path)
    assert rows[0] == Interval("15_0101", 10, 40, 22, "s15", "happy", "ME")
    assert rows[1] == Interval("15_0101", 100, 300, None, "s15", "", "macro")
    assert rows[2].onset == rows[2].offset == rows[2].apex == 5
    assert rows[3].onset == 7 and rows[3].apex is None  # -1 = unknown apex
    assert rows[4].apex is None and rows[4].kind == ""  # 0 = unknown apex


def test_megc_header_only_and_round_trip(tmp_path: Path) -> None:
    assert read_megc_csv(_csv(tmp_path, "subject,video,onset,offset\n")) == []
    intervals = [
        Interval("v1", 0, 10, 4, "s1", "disgust", "ME", "AU4, AU7"),
        Interval("v2", 20, 200, None, "", "", "macro"),
        Interval("v2", 300, 310, None, "s2", "", ""),
    ]
    write_megc_csv(tmp_path / "out.csv", intervals)
    assert read_megc_csv(tmp_path / "out.csv") == intervals
    write_megc_csv(tmp_path / "none.csv", [])
    assert read_megc_csv(tmp_path / "none.csv") == []


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty file"),
        ("s1,v1,10,20\n", "missing column"),  # no header at all
        ("subject,video,onset\ns1,v1,10\n", "missing column.*offset"),
        ("subject,video,onset,offset\ns1,v1,10,20\ns1,v1,ten,20\n", "row 3: onset 'ten'"),
        ("subject,video,onset,offset\ns1,v1,10.5,20\n", "row 2: onset '10.5'"),
        ("subject,video,onset,offset\ns1,v1,10,\n", "row 2: offset ''"),
        ("subject,video,onset,offset\ns1,v1,30,20\n", "row 2: offset 20 is before onset 30"),
        ("subject,video,onset,offset,apex\ns1,v1,10,20,25\n", "row 2: apex 25 is outside"),
        ("subject,video,onset,offset\ns1,v1,-3,20\n", "negative"),
        ("subject,video,onset,offset,class\ns1,v1,1,2,blink\n", "row 2: class 'blink'"),
        ("subject,video,onset,offset\ns1,,1,2\n", "row 2: no video"),
    ],
)
def test_megc_bad(tmp_path: Path, text: str, match: str) -> None:
    path = _csv(tmp_path, text)
    with pytest.raises(InputFileError, match=match) as info:
        read_megc_csv(path)
    assert info.value.path == path


def test_megc_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such"):
        read_megc_csv(tmp_path / "nope.csv")


# --- MECG coding file ---------------------------------------------------------------------------------

FPS = 150.0
T0 = 14 * 3600 + 3 * 60 + 22.123456  # wall clock of the trial's first frame


def _names(n: int = 600, t0: float = T0, fps: float = FPS) -> list[str]:
    """Wall-clock frame names of a trial, with a little camera jitter like a real capture."""
    return [frame_name(t0 + k / fps + (3e-5 if k % 3 == 0 else -2e-5)) for k in range(n)]


def _row(onset_k: int, apex_k: int | None, offset_k: int, names: list[str], **kw: object) -> MecgCodingRow:
    defaults: dict[str, object] = {
        "subject": "sub07",
        "filename": "angry_1_146_sub07_20200101.avi",
        "marker": 146,
        "emotion": "angry",
        "action_units": "AU4, AU7",
        "date": "2020-01-01",
    }
    defaults.update(kw)
    return MecgCodingRow(
        onset_time=round(onset_k / FPS, 2),
        apex_time=None if apex_k is None else round(apex_k / FPS, 2),
        offset_time=round(offset_k / FPS, 2),
        onset_frame=names[onset_k],
        apex_frame="" if apex_k is None else names[apex_k],
        offset_frame=names[offset_k],
        dif="" if apex_k is None else apex_k - onset_k,
        **defaults,  # type: ignore[arg-type]
    )


def test_mecg_csv_by_time_and_by_frame_names(tmp_path: Path) -> None:
    names = _names()
    rows = [
        _row(150, 180, 210, names),  # 0.4 s: ME
        _row(300, 390, 450, names, emotion="happy", action_units="AU12"),  # 1.0 s, apex 0.6 s: macro
        _row(461, 491, 589, names),  # 0.85 s but apex 0.2 s: ME; times rounded to 2 decimals lose frames
    ]
    path = tmp_path / "coding.csv"
    write_mecg_coding_csv(path, rows)
    assert path.read_text().splitlines()[0] == ",".join(MECG_COLUMNS)
    assert ",2.00,2.60,3.00," in path.read_text()

    by_time = read_mecg_coding(path, FPS)
    assert [(iv.onset, iv.apex, iv.offset) for iv in by_time] == [
        (150, 180, 210),
        (300, 390, 450),
        (460, 490, 590),  # 3.07 s, 3.27 s, 3.93 s
    ]
    assert [iv.kind for iv in by_time] == ["ME", "macro", "ME"]
    first = by_time[0]
    assert first.video == "angry_1_146_sub07_20200101"
    assert (first.subject, first.label, first.action_units) == ("sub07", "angry", "AU4, AU7")

    # With the trial's frame names, the frame columns give exact positions (no 2-decimal rounding).
    by_name = read_mecg_coding(path, FPS, frame_names=names)
    assert [(iv.onset, iv.apex, iv.offset) for iv in by_name] == [
        (150, 180, 210),
        (300, 390, 450),
        (461, 491, 589),
    ]
    assert [iv.kind for iv in by_name] == ["ME", "macro", "ME"]
    by_mapping = read_mecg_coding(path, FPS, frame_names={"angry_1_146_sub07_20200101": names})
    assert by_mapping == by_name
    # With only the wall clock of frame 0: frame = (frame time - start) * fps.
    by_start = read_mecg_coding(path, FPS, trial_start=names[0])
    assert [(iv.onset, iv.offset) for iv in by_start] == [(150, 210), (300, 450), (461, 589)]


def test_mecg_frame_not_in_trial(tmp_path: Path) -> None:
    names = _names()
    row = _row(10, 20, 30, names)
    row.offset_frame = frame_name(T0 + 100.0)  # far after the trial's last frame
    write_mecg_coding_csv(tmp_path / "c.csv", [row])
    with pytest.raises(InputFileError, match=r"row 2: OffsetFrame: .* not among the trial's frames"):
        read_mecg_coding(tmp_path / "c.csv", FPS, frame_names=names)
    assert read_mecg_coding(tmp_path / "c.csv", FPS)[0].offset == 30  # by time it is fine


def test_mecg_one_trials_names_for_many_videos(tmp_path: Path) -> None:
    names = _names()
    rows = [_row(10, 20, 30, names), _row(10, 20, 30, names, filename="happy_2_120_sub07_20200101.avi")]
    write_mecg_coding_csv(tmp_path / "c.csv", rows)
    with pytest.raises(InputFileError, match="2 videos"):
        read_mecg_coding(tmp_path / "c.csv", FPS, frame_names=names)
    # A mapping for one of them: the other falls back to the times.
    got = read_mecg_coding(tmp_path / "c.csv", FPS, frame_names={"angry_1_146_sub07_20200101": names})
    assert [iv.video for iv in got] == ["angry_1_146_sub07_20200101", "happy_2_120_sub07_20200101"]


def test_mecg_over_midnight(tmp_path: Path) -> None:
    names = _names(300, t0=86400 - 1.0)  # the trial starts one second before midnight
    assert names[0].startswith("23-59-59") and names[-1].startswith("00-00-00")
    write_mecg_coding_csv(tmp_path / "c.csv", [_row(100, 160, 200, names)])
    got = read_mecg_coding(tmp_path / "c.csv", FPS, frame_names=names)[0]
    assert (got.onset, got.apex, got.offset) == (100, 160, 200)
    got = read_mecg_coding(tmp_path / "c.csv", FPS, trial_start=names[0])[0]
    assert (got.onset, got.offset) == (100, 200)


def test_mecg_xlsx(tmp_path: Path) -> None:
    names = _names()
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(MECG_COLUMNS))
    # Excel cells: numbers stay numbers (Subject 7 comes back as an int, times as floats).
    sheet.append([7, "fear_3_131_7_20200102.avi", 131, 1.0, 1.1, 1.3, names[150], names[165], names[195],
                  "AU1+AU2", "fear", "2020-01-02", 15])
    sheet.append([7, "fear_3_131_7_20200102.avi", 131, 2.0, None, 3.2, names[300], None, names[480],
                  None, "surprise", None, None])
    sheet.append([None] * len(MECG_COLUMNS))  # a blank row at the end, as Excel leaves them
    book.save(tmp_path / "coding.xlsx")

    rows = read_mecg_coding(tmp_path / "coding.xlsx", FPS)
    assert rows == [
        Interval("fear_3_131_7_20200102", 150, 195, 165, "7", "fear", "ME", "AU1+AU2"),
        Interval("fear_3_131_7_20200102", 300, 480, None, "7", "surprise", "macro", ""),
    ]
    assert read_mecg_coding(tmp_path / "coding.xlsx", FPS, frame_names=names)[0].apex == 165


def test_mecg_missing_columns(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text(
        "Subject,Filename,OnsetTime,OffsetTime,Estimated Emotion\n1,a.avi,1,2,sad\n"
    )
    with pytest.raises(InputFileError, match=r"missing column.*ApexTime"):
        read_mecg_coding(tmp_path / "c.csv", FPS)
    (tmp_path / "d.csv").write_text("Subject,Filename,OnsetTime,ApexTime,OffsetTime\n1,a.avi,1,1.1,1.2\n")
    assert read_mecg_coding(tmp_path / "d.csv", FPS)[0].kind == "ME"  # other columns are optional
    with pytest.raises(InputFileError, match=r"missing column.*OnsetFrame, ApexFrame, OffsetFrame"):
        read_mecg_coding(tmp_path / "d.csv", FPS, trial_start="10-00-00-000-000")


@pytest.mark.parametrize(
    ("cells", "match"),
    [
        ("1,a.avi,abc,1.1,1.2", "row 2: OnsetTime 'abc'"),
        ("1,a.avi,2.0,2.1,1.5", "row 2: offset .* before onset"),
        ("1,a.avi,1.0,1.9,1.5", "row 2: apex frame 285 is outside"),
        ("1,,1.0,1.1,1.5", "row 2: no Filename"),
        ("1,a.avi,,1.1,1.5", "row 2: OnsetTime and OffsetTime are required"),
    ],
)
def test_mecg_bad_rows(tmp_path: Path, cells: str, match: str) -> None:
    (tmp_path / "c.csv").write_text(f"Subject,Filename,OnsetTime,ApexTime,OffsetTime\n{cells}\n")
    with pytest.raises(InputFileError, match=match):
        read_mecg_coding(tmp_path / "c.csv", FPS)


def test_mecg_bad_files(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputFileError, match="empty"):
        read_mecg_coding(tmp_path / "empty.csv", FPS)
    (tmp_path / "broken.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InputFileError, match="not a readable xlsx"):
        read_mecg_coding(tmp_path / "broken.xlsx", FPS)
    good = openpyxl.Workbook()
    good.active.append(list(MECG_COLUMNS))  # type: ignore[union-attr]
    good.save(tmp_path / "cut.xlsx")
    data = (tmp_path / "cut.xlsx").read_bytes()
    (tmp_path / "cut.xlsx").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError, match="not a readable xlsx"):
        read_mecg_coding(tmp_path / "cut.xlsx", FPS)
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(InputFileError, match=r"expected .xlsx or .csv"):
        read_mecg_coding(tmp_path / "old.xls", FPS)
    with pytest.raises(InputFileError, match="no such"):
        read_mecg_coding(tmp_path / "missing.xlsx", FPS)


def test_write_mecg_from_dicts(tmp_path: Path) -> None:
    write_mecg_coding_csv(
        tmp_path / "c.csv",
        [{"Subject": "s1", "Filename": "x.avi", "OnsetTime": 1, "ApexTime": 1.234, "OffsetTime": 1.5}],
    )
    line = (tmp_path / "c.csv").read_text().splitlines()[1]
    assert line.startswith("s1,x.avi,,1.00,1.23,1.50,")
    with pytest.raises(ValueError, match="Onset"):
        write_mecg_coding_csv(tmp_path / "d.csv", [{"Onset": 1}])
    assert parse_frame_name(frame_name(T0)) == pytest.approx(T0)
