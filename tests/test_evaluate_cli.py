"""`mespot evaluate`: MEGC CSVs in, a per-class table (or JSON) out, one-line errors for bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main

FULL_HEADER = "subject,video,onset,offset,apex,emotion,class\n"
SHORT_HEADER = "subject,video,onset,offset\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def table_rows(out: str) -> dict[str, list[str]]:
    """Rows of the printed table keyed by class name: [TP, FP, FN, precision, recall, F1]."""
    rows = {}
    for line in out.splitlines():
        fields = line.split()
        if fields and fields[0] in ("ME", "macro", "overall"):
            rows[fields[0]] = fields[1:]
    return rows


@pytest.fixture
def truth_csv(tmp_path: Path) -> Path:
    return write(
        tmp_path / "truth.csv",
        FULL_HEADER
        + "s1,v1,0,9,4,happiness,ME\n"
        + "s1,v1,100,199,150,surprise,macro\n"
        + "s1,v2,0,9,3,disgust,ME\n"
        + "s1,v2,300,399,340,others,macro\n",
    )


@pytest.fixture
def pred_csv(tmp_path: Path) -> Path:
    return write(
        tmp_path / "pred.csv",
        FULL_HEADER
        + "s1,v1,0,19,,,ME\n"  # IoU exactly 0.5 with the v1 ME: TP
        + "s1,v1,100,199,,,macro\n"  # TP
        + "s1,v2,300,420,,,macro\n"  # IoU 100/121: TP
        + "s1,v3,0,9,,,ME\n",  # a video without truth: FP
    )


def test_table_per_class_and_overall(
    truth_csv: Path, pred_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", "--truth", str(truth_csv), "--pred", str(pred_csv)]) == 0
    out = capsys.readouterr().out
    rows = table_rows(out)
    assert rows["ME"] == ["1", "1", "1", "0.5000", "0.5000", "0.5000"]
    assert rows["macro"] == ["2", "0", "0", "1.0000", "1.0000", "1.0000"]
    assert rows["overall"] == ["3", "1", "1", "0.7500", "0.7500", "0.7500"]
    assert list(rows) == ["ME", "macro", "overall"]
    assert "TP" in out and "F1" in out


def test_json_output(truth_csv: Path, pred_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--truth", str(truth_csv), "--pred", str(pred_csv), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["overall"]["tp"] == 3
    assert data["overall"]["f1"] == pytest.approx(0.75)
    assert data["classes"]["ME"] == {"tp": 1, "fp": 1, "fn": 1, "precision": 0.5, "recall": 0.5, "f1": 0.5}
    assert data["iou_threshold"] == 0.5
    videos = {(v["subject"], v["video"]): (v["tp"], v["fp"], v["fn"]) for v in data["per_video"]}
    assert videos == {("s1", "v1"): (2, 0, 0), ("s1", "v2"): (1, 0, 1), ("s1", "v3"): (0, 1, 0)}
    assert data["truth"] == str(truth_csv)


def test_iou_option_changes_the_result(
    truth_csv: Path, pred_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", "--truth", str(truth_csv), "--pred", str(pred_csv), "--iou", "0.6"]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert rows["ME"][:3] == ["0", "2", "2"]  # the 0.5-IoU pair no longer matches
    assert rows["overall"][:3] == ["2", "2", "2"]


def test_header_only_prediction_file_is_all_fn(
    truth_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = write(tmp_path / "empty.csv", FULL_HEADER)
    assert main(["evaluate", "--truth", str(truth_csv), "--pred", str(empty)]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert rows["overall"] == ["0", "0", "4", "0.0000", "0.0000", "0.0000"]
    assert rows["ME"] == ["0", "0", "2", "0.0000", "0.0000", "0.0000"]


def test_files_without_class_column_use_fps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    truth = write(tmp_path / "t.csv", SHORT_HEADER + "s1,v1,0,50\ns1,v1,200,500\n")
    pred = write(tmp_path / "p.csv", SHORT_HEADER + "s1,v1,0,50\ns1,v1,600,700\n")

    assert main(["evaluate", "--truth", str(truth), "--pred", str(pred), "--fps", "150"]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert rows["ME"][:3] == ["1", "0", "0"]  # 50 frames at 150 fps = 0.33 s
    assert rows["macro"][:3] == ["0", "1", "1"]
    assert rows["overall"][:3] == ["1", "1", "1"]

    assert main(["evaluate", "--truth", str(truth), "--pred", str(pred)]) == 0
    out = capsys.readouterr().out
    rows = table_rows(out)
    assert rows["ME"][:3] == ["0", "0", "0"]  # no class, no fps: overall only
    assert rows["overall"][:3] == ["1", "1", "1"]
    assert "overall' only" in out


def test_malformed_csv_is_a_one_line_error_naming_the_file(
    truth_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write(tmp_path / "bad_pred.csv", FULL_HEADER + "s1,v1,zero,nine,,,ME\n")
    code = main(["evaluate", "--truth", str(truth_csv), "--pred", str(bad)])
    captured = capsys.readouterr()
    assert code != 0
    assert "bad_pred.csv" in captured.err
    assert len(captured.err.strip().splitlines()) == 1
    assert "Traceback" not in captured.err
    assert captured.out == ""


def test_missing_columns_and_missing_file_are_errors(
    truth_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    no_offset = write(tmp_path / "no_offset.csv", "subject,video,onset\ns1,v1,0\n")
    assert main(["evaluate", "--truth", str(no_offset), "--pred", str(truth_csv)]) != 0
    err = capsys.readouterr().err
    assert "no_offset.csv" in err and len(err.strip().splitlines()) == 1

    missing = tmp_path / "nowhere.csv"
    assert main(["evaluate", "--truth", str(truth_csv), "--pred", str(missing)]) != 0
    err = capsys.readouterr().err
    assert "nowhere.csv" in err and len(err.strip().splitlines()) == 1


def test_iou_out_of_range_is_a_usage_error(truth_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--truth", str(truth_csv), "--pred", str(truth_csv), "--iou", "1.5"])
    assert exc.value.code == 2
    assert "--iou" in capsys.readouterr().err
