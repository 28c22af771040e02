"""ECG readers on real files: BIOPAC .acq (bioread test data), NeuroKit's CSV; and bad inputs of each kind."""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import numpy as np
import pytest

from acquisition.errors import ConfigError, InputFileError
from acquisition.readers.ecg_files import (
    EcgRecording,
    Marker,
    list_acq_channels,
    read_acq,
    read_ecg,
    read_ecg_csv,
    read_ecg_npy,
)

DATA = Path(__file__).parent / "data"
PHYSIO = DATA / "acq" / "physio-5.0.1.acq"
PHYSIO_C = DATA / "acq" / "physio-5.0.1-c.acq"
R42 = DATA / "acq" / "r42_test.acq"
ACQ_FILES = (PHYSIO, PHYSIO_C, R42)
ECG_CSV = DATA / "ecg" / "ecg_1000hz.csv"


# --- .acq ---------------------------------------------------------------------------------------------


def test_physio_ecg_channel_and_markers() -> None:
    rec = read_acq(PHYSIO)
    assert rec.channel == "EKG - ERS100C"
    assert rec.sampling_rate == 1000.0
    assert rec.units == "mV"
    assert rec.signal.dtype == np.float64 and rec.signal.ndim == 1
    assert len(rec.signal) == 61893
    assert rec.duration_s == pytest.approx(61.893)
    assert rec.source == PHYSIO
    assert rec.skipped_markers == 0
    # Marker sample indices count at the file's base rate (2000 Hz), not the ECG's 1000 Hz.
    assert len(rec.markers) == 10
    by_label = {m.label: m for m in rec.markers}
    assert by_label["Deep Breath 1"] == Marker(12311 / 2000, "Deep Breath 1", None)
    assert by_label["Deep Breath 3"].time_s == pytest.approx(73532 / 2000)
    assert by_label["Breathe In"].channel == "RESP - RSP100C"
    assert rec.markers[0] == Marker(0.0, "Segment 1", None)
    assert all(0 <= m.time_s <= 61.9 for m in rec.markers)


def test_physio_real_ecg_values() -> None:
    rec = read_acq(PHYSIO)
    assert np.all(np.isfinite(rec.signal))
    assert 0.2 < np.ptp(rec.signal) < 10  # mV, a real ECG's range
    np.testing.assert_allclose(rec.signal[:3], [0.34936523, 0.33831787, 0.32458496], atol=1e-8)


def test_r42_ecg_channel() -> None:
    rec = read_acq(R42)
    assert rec.channel == "ECG (.05 - 150 Hz)"
    assert rec.sampling_rate == 1000.0
    assert len(rec.signal) == 7901
    assert [(m.label, m.time_s) for m in rec.markers] == [("Segment 1", 0.0), ("Segment 2", 3.881)]


def test_channel_choice_and_extra_channels() -> None:
    rec = read_acq(PHYSIO, "eda - gsr", extra_channels=["RESP", "EDA filtered, differentiated"])
    assert rec.channel == "EDA - GSR100C"
    assert rec.sampling_rate == 2000.0 and len(rec.signal) == 123787
    resp, resp_rate = rec.extra["RESP - RSP100C"]
    assert resp_rate == pytest.approx(3.90625) and len(resp) == 241 and resp.dtype == np.float64
    assert rec.extra["EDA filtered, differentiated"][1] == 2000.0
    assert read_acq(R42, "ECG (.05 - 150 Hz)").channel == "ECG (.05 - 150 Hz)"  # exact name


def test_unknown_and_ambiguous_channel() -> None:
    with pytest.raises(InputFileError, match="EKG - ERS100C") as info:  # the message lists the channels
        read_acq(PHYSIO, "PPG")
    assert "no channel named 'PPG'" in str(info.value)
    with pytest.raises(InputFileError, match="ambiguous"):
        read_acq(PHYSIO, "EDA")


def test_list_channels() -> None:
    assert list_acq_channels(PHYSIO) == [
        ("EDA filtered, differentiated", 2000.0, "microsiemens"),
        ("EKG - ERS100C", 1000.0, "mV"),
        ("RESP - RSP100C", 3.90625, "Volts"),
        ("EDA - GSR100C", 2000.0, "microsiemens"),
    ]
    assert list_acq_channels(R42)[0][0] == "ECG (.05 - 150 Hz)"


def test_compressed_file_corrupt_markers_strict() -> None:
    with pytest.raises(InputFileError) as info:
        read_acq(PHYSIO_C)
    problem = info.value.problem
    assert "marker table is corrupt" in problem
    assert "7 of 10" in problem
    assert "4294932992" in problem and "123787" in problem
    assert 'markers="skip"' in problem and "--skip-bad-markers" in problem


def test_compressed_file_signal_with_skip(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        rec = read_acq(PHYSIO_C, markers="skip")
    plain = read_acq(PHYSIO)
    assert rec.channel == "EKG - ERS100C" and rec.sampling_rate == 1000.0
    np.testing.assert_array_equal(rec.signal, plain.signal)
    # Even the markers inside the recording are shifted by the overflow, so the whole table is dropped.
    assert rec.markers == [] and rec.skipped_markers == 10
    assert "10 event markers skipped" in caplog.text


def test_bad_markers_argument() -> None:
    with pytest.raises(ValueError):
        read_acq(PHYSIO, markers="ignore")  # type: ignore[arg-type]


@pytest.mark.parametrize("source", ACQ_FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("keep", [0.3, 2000, 0.9])
def test_truncated_acq(tmp_path: Path, source: Path, keep: float) -> None:
    data = source.read_bytes()
    size = int(len(data) * keep) if keep < 1 else int(keep)
    cut = tmp_path / source.name
    cut.write_bytes(data[:size])
    for markers in ("strict", "skip"):
        with pytest.raises(InputFileError, match="not a readable AcqKnowledge file") as info:
            read_acq(cut, markers=markers)  # type: ignore[arg-type]
        assert "truncated or corrupt" in info.value.problem
    with pytest.raises(InputFileError, match="not a readable AcqKnowledge file"):
        list_acq_channels(cut) if size <= 2000 else read_acq(cut, markers="skip")


def test_random_and_empty_acq(tmp_path: Path) -> None:
    (tmp_path / "noise.acq").write_bytes(np.random.default_rng(7).bytes(5000))
    (tmp_path / "empty.acq").write_bytes(b"")
    with pytest.raises(InputFileError, match="not a readable AcqKnowledge file"):
        read_acq(tmp_path / "noise.acq")
    with pytest.raises(InputFileError, match="empty"):
        read_acq(tmp_path / "empty.acq")
    with pytest.raises(InputFileError, match="no such"):
        read_acq(tmp_path / "missing.acq")


def test_endless_marker_table_does_not_hang(tmp_path: Path) -> None:
    """A corrupt marker count with a marker header of length 0 makes bioread re-read the same bytes
    2**31 times (hours; found by fuzzing). Here: physio-5.0.1.acq's marker header at byte 1371928
    (count field at +4) and its first marker item at 1371969 (text length at +30), big-endian."""
    data = bytearray(PHYSIO.read_bytes())
    struct.pack_into(">i", data, 1371928 + 4, 0x7FFFFFFF)
    struct.pack_into(">h", data, 1371969 + 30, -32)
    (tmp_path / "endless.acq").write_bytes(bytes(data))
    with pytest.raises(InputFileError, match="implausible"):
        read_acq(tmp_path / "endless.acq")


# --- CSV ----------------------------------------------------------------------------------------------


def test_real_csv() -> None:
    rec = read_ecg_csv(ECG_CSV, 1000.0)
    assert rec.channel == "ECG" and rec.sampling_rate == 1000.0
    assert len(rec.signal) == 50000 and rec.signal.dtype == np.float64
    assert rec.signal[0] == pytest.approx(0.353611757)
    with pytest.raises(InputFileError, match="sampling rate"):
        read_ecg_csv(ECG_CSV, None)


def test_csv_time_column_gives_rate(tmp_path: Path) -> None:
    t = np.arange(500) / 250.0
    lines = ["time_s,Resp,ECG lead II"] + [f"{x:.4f},0,{np.sin(x):.5f}" for x in t]
    (tmp_path / "e.csv").write_text("\n".join(lines) + "\n\n")
    rec = read_ecg_csv(tmp_path / "e.csv", None)
    assert rec.channel == "ECG lead II"
    assert rec.sampling_rate == pytest.approx(250.0)
    assert len(rec.signal) == 500
    assert read_ecg_csv(tmp_path / "e.csv", 500.0).sampling_rate == 500.0  # a given rate wins
    assert read_ecg_csv(tmp_path / "e.csv", None, "resp").channel == "Resp"


def test_csv_single_column_and_semicolons(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("\ufeffvoltage\n1\n2\n3\n")
    rec = read_ecg_csv(tmp_path / "a.csv", 100)
    assert rec.channel == "voltage" and rec.signal.tolist() == [1.0, 2.0, 3.0]
    (tmp_path / "b.csv").write_text("t;EKG\n0.0;1.5\n0.005;2.5\n0.010;3.5\n")
    rec = read_ecg_csv(tmp_path / "b.csv", None)
    assert rec.sampling_rate == pytest.approx(200.0) and rec.signal.tolist() == [1.5, 2.5, 3.5]
    (tmp_path / "c.csv").write_text("t;EKG\n0.0;1.5\n0.1;2.5\n0.2;3.5\n")  # 10 Hz: not an ECG
    with pytest.raises(ConfigError, match="not an ECG rate"):
        read_ecg_csv(tmp_path / "c.csv", None)


@pytest.mark.parametrize(
    ("text", "rate", "match"),
    [
        ("", 100, "empty"),
        ("ECG\n", 100, "no data rows"),
        ("ECG\n1\n2\nabc\n4\n", 100, r"row 4, column 'ECG': 'abc'"),
        ("ECG\n1\n\n2\nnan\n", 100, "row 5"),
        ("other,ECG\n1,2\n3\n", 100, "row 3"),
        ("0.1\n0.2\n0.3\n", 100, "no header"),
        ("a,b\n1,2\n3,4\n", 100, "no ECG/EKG column"),
        ("ECG\n1\n2\n", None, "sampling rate"),
        ("time,ECG\n0,1\n0,2\n", None, "does not increase"),
        ("time,ECG\n0,1\n0.1,2\n0.5,3\n", None, "not evenly spaced"),
    ],
)
def test_csv_bad_inputs(tmp_path: Path, text: str, rate: float | None, match: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(InputFileError, match=match) as info:
        read_ecg_csv(path, rate)
    assert info.value.path == path


def test_csv_missing_column_and_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no column named 'PPG'"):
        read_ecg_csv(ECG_CSV, 1000, "PPG")
    with pytest.raises(InputFileError, match="no such"):
        read_ecg_csv(tmp_path / "x.csv", 1000)
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x01\x80")
    with pytest.raises(InputFileError, match="not a text"):
        read_ecg_csv(tmp_path / "bin.csv", 1000)
    with pytest.raises(ConfigError):
        read_ecg_csv(ECG_CSV, 0.0)


# --- NPY ----------------------------------------------------------------------------------------------


def test_npy_1d_and_2d(tmp_path: Path) -> None:
    np.save(tmp_path / "one.npy", np.arange(10, dtype=np.int16))
    rec = read_ecg_npy(tmp_path / "one.npy", 500.0)
    assert rec.signal.dtype == np.float64 and rec.signal.tolist() == list(range(10))
    assert rec.sampling_rate == 500.0 and rec.channel == "0"
    two = np.stack([np.zeros(20), np.arange(20.0)], axis=1).astype(np.float32)
    np.save(tmp_path / "two.npy", two)
    assert read_ecg_npy(tmp_path / "two.npy", 250.0, channel=1).signal.tolist() == list(range(20))


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.array(["a", "b", "c"]), "expected integer or floating-point"),
        (np.ones(5, dtype=complex), "expected integer or floating-point"),
        (np.ones((3, 4, 5)), "expected 1-D or 2-D"),
        (np.ones((2, 100)), "channels x samples"),
        (np.array([1.0]), "sample"),
        (np.array([1.0, np.nan, 2.0]), "non-finite"),
    ],
)
def test_npy_bad_arrays(tmp_path: Path, array: np.ndarray, match: str) -> None:
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(InputFileError, match=match):
        read_ecg_npy(tmp_path / "bad.npy", 100.0)


def test_npy_bad_files(tmp_path: Path) -> None:
    np.save(tmp_path / "ok.npy", np.ones((100, 2)))
    with pytest.raises(InputFileError, match="no channel 2"):
        read_ecg_npy(tmp_path / "ok.npy", 100.0, channel=2)
    data = (tmp_path / "ok.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError, match=r"not a readable .npy"):
        read_ecg_npy(tmp_path / "cut.npy", 100.0)
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputFileError, match=r"not a readable .npy"):
        read_ecg_npy(tmp_path / "obj.npy", 100.0)
    (tmp_path / "text.npy").write_text("hello")
    with pytest.raises(InputFileError):
        read_ecg_npy(tmp_path / "text.npy", 100.0)


# --- dispatch -----------------------------------------------------------------------------------------


def test_read_ecg_dispatch(tmp_path: Path) -> None:
    assert read_ecg(PHYSIO).channel == "EKG - ERS100C"
    assert read_ecg(PHYSIO_C, markers="skip").skipped_markers == 10
    assert isinstance(read_ecg(ECG_CSV, 1000), EcgRecording)
    np.save(tmp_path / "e.npy", np.ones((50, 3)))
    assert read_ecg(tmp_path / "e.npy", 100, channel="2").channel == "2"
    with pytest.raises(InputFileError, match="no sampling rate"):
        read_ecg(tmp_path / "e.npy")
    with pytest.raises(InputFileError, match="column number"):
        read_ecg(tmp_path / "e.npy", 100, channel="ECG")
    (tmp_path / "e.edf").write_bytes(b"0")
    with pytest.raises(InputFileError, match=r"unknown ECG file type '.edf'"):
        read_ecg(tmp_path / "e.edf")
