"""Session format: round trip, random access, torn records and a writer killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from acquisition.errors import InputFileError
from acquisition.session import (
    FRAME_INDEX_DTYPE,
    EcgInfo,
    SessionMetadata,
    SessionReader,
    SessionWriter,
    VideoInfo,
)
from acquisition.session._format import ECG_FILE, FRAME_INDEX_FILE, FRAMES_DIR, METADATA_FILE, chunk_file_name
from acquisition.session.reader import MAPPED_CHUNKS

SAMPLES_PER_FRAME = 1000 / 150


def make_meta(roi=(10, 20, 32, 24), frames_per_chunk=7) -> SessionMetadata:
    return SessionMetadata(
        subject="S01",
        trial="3",
        video=VideoInfo(fps=150.0, resolution=(64, 48), roi=roi, frames_per_chunk=frames_per_chunk),
        ecg=EcgInfo(1000.0, ["ECG", "TRIGGER"], ["mV", "V"], "ECG", "TRIGGER"),
    )


def frame_block(first: int, n: int, shape) -> tuple[np.ndarray, np.ndarray]:
    frames = np.empty((n, *shape), dtype=np.uint8)
    for i in range(n):
        frames[i] = (first + i) % 256
    index = np.zeros(n, dtype=FRAME_INDEX_DTYPE)
    k = np.arange(first, first + n)
    index["camera_frame"] = k + 1
    index["trigger_pulse"] = k
    index["ecg_sample"] = np.ceil(k * SAMPLES_PER_FRAME - 1e-9).astype(np.int64)
    return frames, index


def write_session(path: Path, n_frames: int = 40, meta: SessionMetadata | None = None) -> SessionMetadata:
    meta = meta or make_meta()
    with SessionWriter(path, meta) as writer:
        for first in range(0, n_frames, 9):  # blocks that straddle chunk boundaries
            n = min(9, n_frames - first)
            frames, index = frame_block(first, n, meta.video.frame_shape)
            writer.append_frames(frames, index)
        ecg = np.column_stack([np.sin(np.arange(300) / 10), np.zeros(300)])
        writer.append_ecg(ecg[:100])
        writer.append_ecg(ecg[100:])
        writer.add_event(0, "trial_start", "101")
        writer.add_event(299, "trial_end", "101", note="ok")
    return meta


def test_round_trip(tmp_path: Path) -> None:
    meta = write_session(tmp_path / "s", 40)
    reader = SessionReader(tmp_path / "s")
    assert reader.metadata.closed
    assert len(reader) == 40
    assert reader.frame_shape == (24, 32)  # the stored region, not the sensor
    assert reader.metadata.video.resolution == (64, 48)
    for i in (0, 6, 7, 20, 39, -1):
        assert reader.frame(i)[0, 0] == (i % 40) % 256
    block = reader.frames(5, 16)  # spans two chunk files
    assert [int(f[0, 0]) for f in block] == list(range(5, 16))
    assert reader.frames(7, 14).base is not None  # inside one chunk: a view of the memory map
    assert reader.ecg.shape == (300, 2)
    np.testing.assert_allclose(reader.ecg_channel("ECG")[:5], np.sin(np.arange(5) / 10))
    assert [e["kind"] for e in reader.events] == ["trial_start", "trial_end"]
    assert reader.summary()["frames"] == 40
    assert meta.session_id == "S01_3"
    with pytest.raises(IndexError):
        reader.frame(40)


def _mapped_chunk_files(session: Path) -> set[str]:
    frames_dir = str((session / "frames").resolve()) + "/"
    with open("/proc/self/maps") as maps:
        return {line.split()[-1] for line in maps if frames_dir in line}


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc (Linux)")
def test_reading_a_long_session_through_keeps_a_few_chunks_mapped(tmp_path: Path) -> None:
    write_session(tmp_path / "s", n_frames=7 * 40)  # 40 chunk files
    reader = SessionReader(tmp_path / "s")
    for i in range(len(reader)):
        assert reader.frame(i)[0, 0] == i % 256
    assert len(_mapped_chunk_files(tmp_path / "s")) <= MAPPED_CHUNKS
    view = reader.frame(3)  # a view handed out stays valid after its chunk's map is released
    for i in range(7 * 10, 7 * 20):
        reader.frame(i)
    assert view[0, 0] == 3 and reader.frame(3)[0, 0] == 3


def test_time_range_lookup(tmp_path: Path) -> None:
    write_session(tmp_path / "s", 40)
    reader = SessionReader(tmp_path / "s")
    stamps = reader.frame_samples()
    assert stamps[3] == 20  # ceil(3 * 6.667)
    first, stop = reader.frame_range_for_samples(20, 47)
    assert (first, stop) == (3, 7)  # stamps 20, 27, 34, 40; 47 is excluded
    assert np.all((stamps[first:stop] >= 20) & (stamps[first:stop] < 47))


def test_full_frame_session(tmp_path: Path) -> None:
    write_session(tmp_path / "s", 10, make_meta(roi=None))
    assert SessionReader(tmp_path / "s").frame(3).shape == (48, 64)


def _tear(path: Path) -> None:
    frame_bytes = 24 * 32
    # cut the third chunk file (frames 14..19) in the middle of frame 16, and the index mid-record
    chunk = path / FRAMES_DIR / chunk_file_name(2)
    os.truncate(chunk, 2 * frame_bytes + 100)
    os.truncate(path / FRAME_INDEX_FILE, 18 * FRAME_INDEX_DTYPE.itemsize + 5)
    os.truncate(path / ECG_FILE, 150 * 16 + 3)
    with open(path / "events.jsonl", "a") as f:
        f.write('{"sample": 3, "ki')


def _unclose(path: Path) -> None:
    meta = json.loads((path / METADATA_FILE).read_text())
    meta["closed"], meta["summary"] = False, {}  # as a killed writer leaves it
    (path / METADATA_FILE).write_text(json.dumps(meta))


def test_torn_records_of_an_unclosed_session_are_not_counted(tmp_path: Path) -> None:
    write_session(tmp_path / "s", 20)
    path = tmp_path / "s"
    _tear(path)
    _unclose(path)
    reader = SessionReader(path)
    assert len(reader) == 16
    assert reader.frame(15)[0, 0] == 15
    assert reader.ecg_sample_count == 150
    assert len(reader.events) == 2
    assert any("torn" in w for w in reader.warnings)


def test_a_closed_session_that_lost_data_is_refused_naming_the_file(tmp_path: Path) -> None:
    write_session(tmp_path / "s", 20)
    _tear(tmp_path / "s")
    with pytest.raises(InputFileError, match="damaged session"):
        SessionReader(tmp_path / "s")


@pytest.mark.parametrize(("damage", "file"), [
    (lambda p: (p / FRAMES_DIR / chunk_file_name(0)).unlink(), "chunk-000000"),
    (lambda p: (p / ECG_FILE).unlink(), ECG_FILE),
    (lambda p: os.truncate(p / FRAME_INDEX_FILE, 3 * FRAME_INDEX_DTYPE.itemsize), FRAME_INDEX_FILE),
    (lambda p: (p / FRAME_INDEX_FILE).write_bytes(bytes(reversed((p / FRAME_INDEX_FILE).read_bytes()))),
     FRAME_INDEX_FILE),
])
def test_damage_to_a_closed_session_names_the_file(tmp_path: Path, damage, file: str) -> None:
    write_session(tmp_path / "s", 20)
    damage(tmp_path / "s")
    with pytest.raises(InputFileError) as info:
        SessionReader(tmp_path / "s")
    assert file in str(info.value)


def test_a_wrong_frames_per_chunk_is_found(tmp_path: Path) -> None:
    write_session(tmp_path / "s", 20)
    meta = json.loads((tmp_path / "s" / METADATA_FILE).read_text())
    meta["video"]["frames_per_chunk"] = 3
    (tmp_path / "s" / METADATA_FILE).write_text(json.dumps(meta))
    with pytest.raises(InputFileError, match="wrong frames_per_chunk"):
        SessionReader(tmp_path / "s")


def test_missing_or_bad_metadata(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="does not exist"):
        SessionReader(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError, match=r"session\.json is missing"):
        SessionReader(tmp_path / "empty")
    write_session(tmp_path / "s", 5)
    meta_path = tmp_path / "s" / METADATA_FILE
    meta_path.write_text("{ not json")
    with pytest.raises(InputFileError, match="not valid JSON"):
        SessionReader(tmp_path / "s")
    data = json.loads(make_meta().to_json())
    del data["video"]
    meta_path.write_text(json.dumps(data))
    with pytest.raises(InputFileError, match="incomplete or invalid"):
        SessionReader(tmp_path / "s")


def test_writer_rejects_wrong_shapes(tmp_path: Path) -> None:
    writer = SessionWriter(tmp_path / "s", make_meta())
    frames, index = frame_block(0, 2, (24, 32))
    with pytest.raises(ValueError, match="frame shape"):
        writer.append_frames(np.zeros((2, 10, 10), np.uint8), index)
    with pytest.raises(ValueError, match="index records"):
        writer.append_frames(frames, index[:1])
    with pytest.raises(ValueError, match="ECG block"):
        writer.append_ecg(np.zeros((5, 3)))
    writer.close()
    with pytest.raises(InputFileError, match="already holds a session"):
        SessionWriter(tmp_path / "s", make_meta())


KILLED_WRITER = textwrap.dedent(
    """
    import sys, numpy as np
    sys.path.insert(0, {tests!r})
    from test_session_format import frame_block, make_meta
    from acquisition.session import SessionWriter
    meta = make_meta(roi=None, frames_per_chunk=25)
    writer = SessionWriter({out!r}, meta)
    print("started", flush=True)
    k = 0
    while True:  # until killed
        frames, index = frame_block(k, 3, meta.video.frame_shape)
        writer.append_frames(frames, index)
        writer.append_ecg(np.full((20, 2), float(k)))
        writer.add_event(int(index["ecg_sample"][0]), "marker", str(k))
        k += 3
    """
)


def test_sigkilled_writer_leaves_a_readable_session(tmp_path: Path) -> None:
    out = tmp_path / "killed"
    script = KILLED_WRITER.format(tests=str(Path(__file__).parent), out=str(out))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    reader = SessionReader(out)
    assert not reader.metadata.closed
    n = len(reader)
    assert n > 30, "the writer should have written several chunks in 0.5 s"
    for i in range(n):  # every counted frame is whole and matches its own index record
        assert reader.index["camera_frame"][i] == i + 1
        assert np.all(reader.frame(i) == i % 256)
    assert reader.ecg_sample_count >= 20 * ((n - 3) // 3)
    assert reader.events[-1]["kind"] == "marker"


def _modes(session: Path) -> dict[str, int]:
    return {str(p.relative_to(session)): p.stat().st_mode & 0o777 for p in [session, *session.rglob("*")]}


@pytest.mark.parametrize(("access", "folder", "file"), [("private", 0o700, 0o600), ("group", 0o750, 0o640)])
def test_a_new_session_is_readable_only_as_its_access_says(tmp_path: Path, access: str, folder: int,
                                                           file: int) -> None:
    import os

    old = os.umask(0o022)  # a usual umask would leave files world-readable
    try:
        meta = make_meta()
        with SessionWriter(tmp_path / "s", meta, access=access) as writer:
            f, idx = frame_block(0, 20, meta.video.frame_shape)
            writer.append_frames(f, idx)
            writer.append_ecg(np.zeros((100, 2)))
            modes_while_recording = _modes(tmp_path / "s")
            (tmp_path / "s" / "truth").mkdir()
            (tmp_path / "s" / "truth" / "megc.csv").write_text("x\n")
    finally:
        os.umask(old)
    for modes in (modes_while_recording, _modes(tmp_path / "s")):
        for name, mode in modes.items():
            expected = folder if (tmp_path / "s" / name).is_dir() else file
            assert mode == expected, f"{name}: {oct(mode)}"
    assert not list((tmp_path / "s").glob("*.tmp"))
