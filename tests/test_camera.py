"""The XIMEA driver against the mock camera: configuration, grabbing, faults, and loading the real API."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pytest

import hardware_mocks.ximea as mock_api
from acquisition.camera import CameraSettings, CameraTimeout, XimeaCamera, load_xiapi
from acquisition.camera import ximea as ximea_driver
from acquisition.errors import ConfigError, DeviceError, InputFileError
from hardware_mocks.ximea import ArrayFeeder, TimedFeeder, VideoFileFeeder, Xi_error

SHAPE = (6, 8)
SERIAL = "MOCK0001"
SHORT_TIMEOUT_MS = 20
"""Long enough for a frame from an ArrayFeeder, short enough to keep timeout tests quick."""


def make_frames(n: int = 5, shape: tuple[int, int] = SHAPE) -> np.ndarray:
    """Frame k is filled with 10 * k + a ramp, so that frames and pixels are told apart."""
    ramp = np.arange(shape[0] * shape[1], dtype=np.uint8).reshape(shape)
    return np.stack([ramp + np.uint8(10 * k) for k in range(n)])


def settings(**overrides: object) -> CameraSettings:
    base: dict[str, object] = {"serial": SERIAL, "fps": 100.0, "exposure_us": 2000.0, "timeout_ms": 50}
    base.update(overrides)
    return CameraSettings(**base)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def unplug_all() -> Iterator[None]:
    yield
    mock_api.clear_devices()


@pytest.fixture
def frames() -> np.ndarray:
    return make_frames()


@pytest.fixture
def device(frames: np.ndarray) -> mock_api.MockDevice:
    return mock_api.register_device(SERIAL, ArrayFeeder(frames, fps=100.0))


@pytest.fixture
def camera(device: mock_api.MockDevice) -> Iterator[XimeaCamera]:
    cam = XimeaCamera(settings(), api=mock_api)
    cam.open()
    cam.start()
    yield cam
    cam.close()


# ----------------------------------------------------------------------------------------------------------
# Settings


def test_default_settings_are_valid() -> None:
    s = CameraSettings()
    assert (s.device_index, s.pixel_format, s.trigger, s.fps) == (0, "MONO8", "hardware", 150.0)
    assert s.exposure_us < s.frame_period_us


@pytest.mark.parametrize("overrides", [
    {"serial": "A", "index": 0},
    {"serial": ""},
    {"serial": None, "index": -1},
    {"pixel_format": "MONO16"},
    {"trigger": "software"},
    {"fps": 0.0},
    {"fps": float("nan")},
    {"exposure_us": 0.0},
    {"exposure_us": 10_000.0},           # = the frame period at 100 fps
    {"gain_db": float("inf")},
    {"buffer_queue_size": 0},
    {"buffer_queue_size": 2.5},
    {"timeout_ms": 10},                  # = the frame period at 100 fps
    {"timeout_ms": 50.0},
    {"roi": (0, 0, 0, 10)},
    {"roi": (-8, 0, 16, 10)},
    {"roi": (0, 0, 16)},
], ids=repr)
def test_bad_settings_are_config_errors(overrides: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        settings(**overrides)


# ----------------------------------------------------------------------------------------------------------
# Configuration


def test_hardware_trigger_configuration(device: mock_api.MockDevice) -> None:
    with XimeaCamera(settings(gain_db=3.5, buffer_queue_size=12), api=mock_api) as cam:
        assert cam.frame_shape == SHAPE
        assert cam.serial_number == SERIAL
        p = device.params
        assert p["trigger_source"] == "XI_TRG_EDGE_RISING"
        assert p["trigger_selector"] == "XI_TRG_SEL_FRAME_START"
        assert device.gpi_modes == {"XI_GPI_PORT1": "XI_GPI_TRIGGER"}
        assert device.triggered and device.trigger_port == "XI_GPI_PORT1"
        assert p["acq_timing_mode"] == "XI_ACQ_TIMING_MODE_FREE_RUN"
        assert (p["imgdataformat"], p["exposure"], p["gain"]) == ("XI_MONO8", 2000.0, 3.5)
        assert (p["buffers_queue_size"], p["buffer_policy"]) == (12, "XI_BP_UNSAFE")
    assert not cam.is_open and not device.is_open


def test_free_run_configuration_by_index(frames: np.ndarray) -> None:
    mock_api.register_device("FIRST", ArrayFeeder(frames))
    second = mock_api.register_device("SECOND", ArrayFeeder(frames))
    with XimeaCamera(settings(serial=None, index=1, trigger="free-run", pixel_format="RAW8"),
                     api=mock_api) as cam:
        assert cam.serial_number == "SECOND"
        p = second.params
        assert p["trigger_source"] == "XI_TRG_OFF" and not second.triggered
        assert (p["acq_timing_mode"], p["framerate"]) == ("XI_ACQ_TIMING_MODE_FRAME_RATE", 100.0)
        assert p["imgdataformat"] == "XI_RAW8"
        cam.start()
        assert cam.grab().camera_frame == 1


def test_open_failures_are_device_errors(device: mock_api.MockDevice) -> None:
    with pytest.raises(DeviceError, match="XI_NO_DEVICES_FOUND"):
        XimeaCamera(settings(serial="NOPE"), api=mock_api).open()
    with XimeaCamera(settings(), api=mock_api), pytest.raises(DeviceError, match="XI_RESOURCE_OR_FUNC"):
        XimeaCamera(settings(), api=mock_api).open()


def test_misuse_is_a_programming_error(device: mock_api.MockDevice) -> None:
    cam = XimeaCamera(settings(), api=mock_api)
    with pytest.raises(RuntimeError):
        _ = cam.frame_shape
    cam.open()
    with pytest.raises(RuntimeError):
        cam.grab()
    cam.start()
    with pytest.raises(ValueError):
        cam.grab(out=np.zeros((SHAPE[0], SHAPE[1] + 1), np.uint8))
    with pytest.raises(ValueError):
        cam.grab(timeout_ms=0)
    cam.close()


# ----------------------------------------------------------------------------------------------------------
# Grabbing


def test_grab_gives_frames_counters_and_timestamps(camera: XimeaCamera, frames: np.ndarray) -> None:
    before = time.monotonic_ns()
    got = [camera.grab() for _ in range(7)]
    assert [f.camera_frame for f in got] == list(range(1, 8))
    assert [f.camera_ts_us for f in got] == [10_000 * k for k in range(7)]   # ArrayFeeder at 100 fps
    hosts = [f.host_ns for f in got]
    assert before <= hosts[0] and hosts == sorted(hosts)
    for k, frame in enumerate(got):
        np.testing.assert_array_equal(frame.image, frames[k % len(frames)])
        assert frame.image.dtype == np.uint8 and frame.image.shape == SHAPE
    got[0].image[:] = 0                                      # the caller owns a copy
    assert frames[0].any()
    assert camera.lost_frames == 0 and camera.skipped_frames() == 0 and camera.timeouts == 0


def test_grab_into_a_caller_buffer_with_row_padding(frames: np.ndarray) -> None:
    mock_api.register_device(SERIAL, ArrayFeeder(frames), padding_x=5)
    with XimeaCamera(settings(), api=mock_api) as cam:
        cam.start()
        out = np.full(SHAPE, 255, np.uint8)
        for k in range(3):
            frame = cam.grab(out=out)
            assert frame.image is out
            np.testing.assert_array_equal(out, frames[k])


def test_readout_region_sends_only_that_region() -> None:
    big = make_frames(3, (40, 64))
    device = mock_api.register_device(SERIAL, ArrayFeeder(big))
    with XimeaCamera(settings(roi=(16, 6, 24, 10)), api=mock_api) as cam:
        assert cam.frame_shape == (10, 24) and cam.frame_origin == (16, 6)
        cam.start()
        for k in range(3):
            np.testing.assert_array_equal(cam.grab().image, big[k, 6:16, 16:40])
    assert (device.params["offsetX"], device.params["offsetY"]) == (16, 6)
    assert XimeaCamera(settings(), api=mock_api).frame_origin == (0, 0)


def test_readout_region_widens_to_the_camera_steps() -> None:
    big = make_frames(2, (40, 64))
    mock_api.register_device(SERIAL, ArrayFeeder(big))
    with XimeaCamera(settings(roi=(19, 3, 20, 9)), api=mock_api) as cam:  # steps: x, width 8; y, height 2
        assert cam.frame_origin == (16, 2) and cam.frame_shape == (10, 24)
        cam.start()
        np.testing.assert_array_equal(cam.grab().image, big[0, 2:12, 16:40])
    with XimeaCamera(settings(roi=(57, 0, 7, 40)), api=mock_api) as cam:  # up to the sensor's edge
        assert cam.frame_origin == (56, 0) and cam.frame_shape == (40, 8)


def test_readout_region_outside_the_sensor() -> None:
    mock_api.register_device(SERIAL, ArrayFeeder(make_frames(2, (40, 64))))
    cam = XimeaCamera(settings(roi=(48, 0, 24, 10)), api=mock_api)
    with pytest.raises(DeviceError, match=r"readout region \(48, 0, 24, 10\) does not fit the 64x40 sensor"):
        cam.open()
    assert not cam.is_open
    with XimeaCamera(settings(), api=mock_api) as again:  # the failed open released the camera
        assert again.frame_shape == (40, 64)


def test_timeouts_raise_camera_timeout_and_are_counted(camera: XimeaCamera,
                                                       device: mock_api.MockDevice) -> None:
    camera.grab()
    device.inject_timeouts(2)
    start = time.monotonic()
    for _ in range(2):
        with pytest.raises(CameraTimeout, match=f"within {SHORT_TIMEOUT_MS} ms") as caught:
            camera.grab(timeout_ms=SHORT_TIMEOUT_MS)
        assert isinstance(caught.value, DeviceError)
        assert isinstance(caught.value.__cause__, Xi_error) and caught.value.__cause__.status == 10
    assert time.monotonic() - start >= 2 * SHORT_TIMEOUT_MS / 1000 * 0.9
    assert camera.timeouts == 2
    assert camera.grab().camera_frame == 2                     # no frame was exposed meanwhile


def test_no_trigger_means_timeouts(frames: np.ndarray) -> None:
    mock_api.register_device(SERIAL, ArrayFeeder(frames[:2], loop=False))
    with XimeaCamera(settings(), api=mock_api) as cam:
        cam.start()
        cam.grab(), cam.grab()
        with pytest.raises(CameraTimeout):
            cam.grab(timeout_ms=SHORT_TIMEOUT_MS)
        assert cam.timeouts == 1


def test_drops_show_as_skipped_counters_and_frame_gaps(camera: XimeaCamera, device: mock_api.MockDevice,
                                                       frames: np.ndarray) -> None:
    assert camera.grab().camera_frame == 1
    device.inject_drops(3)
    frame = camera.grab()
    assert frame.camera_frame == 5 and frame.camera_ts_us == 40_000
    np.testing.assert_array_equal(frame.image, frames[4])
    assert camera.lost_frames == 3
    assert camera.skipped_frame_counts() == (3, 0) and camera.skipped_frames() == 3
    device.inject_drops(2, counter="api")
    assert camera.grab().camera_frame == 8
    assert camera.skipped_frame_counts() == (3, 2) and camera.lost_frames == 5
    camera.stop()
    camera.start()                                             # counters start over with acquisition
    assert camera.grab().camera_frame == 1
    assert (camera.skipped_frames(), camera.lost_frames, camera.timeouts) == (0, 0, 0)


def test_disconnect_is_a_device_error(camera: XimeaCamera, device: mock_api.MockDevice) -> None:
    camera.grab()
    device.disconnect()
    with pytest.raises(DeviceError, match="XI_ACQUISITION_STOPED_WERR") as caught:
        camera.grab()
    assert not isinstance(caught.value, CameraTimeout)
    with pytest.raises(DeviceError, match="XI_INVALID_HANDLE"):
        camera.skipped_frames()
    camera.close()                                             # logs, does not raise
    assert not camera.is_open
    with pytest.raises(DeviceError, match="XI_NO_DEVICES_FOUND"):
        camera.open()
    device.reconnect()
    with XimeaCamera(settings(), api=mock_api) as again:
        again.start()
        assert again.grab().camera_frame == 1


def test_unplugging_an_open_camera(camera: XimeaCamera) -> None:
    mock_api.unregister_device(SERIAL)
    with pytest.raises(DeviceError):
        camera.grab()


def test_free_run_is_paced_in_real_time(frames: np.ndarray) -> None:
    fps = 200.0
    mock_api.register_device(SERIAL, TimedFeeder(ArrayFeeder(frames)))      # takes the camera's rate
    with XimeaCamera(settings(trigger="free-run", fps=fps, exposure_us=1000.0), api=mock_api) as cam:
        started_ns = time.monotonic_ns()
        cam.start()
        got = [cam.grab() for _ in range(4)]
    period_us = round(1e6 / fps)
    assert np.diff([f.camera_ts_us for f in got]).tolist() == [period_us] * 3
    assert got[-1].host_ns - started_ns >= 4 * period_us * 1000          # never before it is due


# ----------------------------------------------------------------------------------------------------------
# Feeders and mock details


def _write_video(path: Path, n: int, shape: tuple[int, int]) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 25.0, (shape[1], shape[0]))
    for k in range(n):
        writer.write(np.full((*shape, 3), 60 + 40 * k, np.uint8))
    writer.release()


def test_video_file_feeder(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    _write_video(path, 3, (16, 24))
    with VideoFileFeeder(path, loop=False) as native:
        assert native.frame_shape == (16, 24)
        got = [native.next_frame(0.0, False) for _ in range(3)]
        assert native.next_frame(0.0, False) is None                         # loop=False: ran dry
    images, stamps = zip(*[g for g in got if g is not None], strict=True)
    assert list(stamps) == [0, 40_000, 80_000]                               # the file's 25 fps
    assert [float(im.mean()) for im in images] == pytest.approx([60, 100, 140], abs=3)
    with VideoFileFeeder(path, frame_shape=(32, 32), fit="pad") as padded:
        image = padded.next_frame(0.0, False)[0]  # type: ignore[index]
    assert image.shape == (32, 32) and image.dtype == np.uint8
    assert not image[:5].any() and not image[-5:].any() and image[16].min() > 40   # letterboxed
    with VideoFileFeeder(path, frame_shape=(32, 32), fit="stretch") as stretched:
        assert stretched.next_frame(0.0, False)[0].min() > 40  # type: ignore[index]
    with pytest.raises(InputFileError):
        VideoFileFeeder(tmp_path / "missing.avi")


def test_video_feeder_at_sensor_size_through_the_camera(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    _write_video(path, 2, (54, 102))
    with VideoFileFeeder(path, frame_shape=mock_api.SENSOR_SHAPE) as feeder:
        mock_api.register_device(SERIAL, feeder)
        with XimeaCamera(settings(), api=mock_api) as cam:
            assert cam.frame_shape == (1080, 2040)
            cam.start()
            out = np.empty(cam.frame_shape, np.uint8)
            frames = [cam.grab(out=out).camera_frame for _ in range(3)]           # loops over 2 frames
    assert frames == [1, 2, 3]


def test_mock_speaks_like_the_real_package(device: mock_api.MockDevice) -> None:
    cam = mock_api.Camera()
    assert cam.get_device_info_string("device_sn") == SERIAL.encode()
    with pytest.raises(Xi_error) as caught:
        cam.set_exposure(1000)                                                # not open
    assert caught.value.status == 1 and str(caught.value) == "ERROR 1: Invalid handle"
    cam.open_device_by_SN(SERIAL)
    with pytest.raises(TypeError):
        cam.set_buffers_queue_size(4.0)                                       # c_int(4.0)
    with pytest.raises(KeyError):
        cam.set_trigger_source("XI_TRG_RISING")                               # ASSOC_ENUM lookup
    cam.set_gain(1.1)
    assert cam.get_gain() == pytest.approx(1.1) and cam.get_gain() != 1.1   # float32 round trip
    assert cam.get_device_sn() == SERIAL.encode()
    image = mock_api.Image()
    with pytest.raises(Xi_error) as caught:
        cam.get_image(image)
    assert caught.value.status == 45                                          # acquisition not started
    cam.start_acquisition()
    with pytest.raises(Xi_error) as caught:
        cam.set_imgdataformat("XI_RAW8")
    assert caught.value.status == 121                                         # not while acquiring
    with pytest.raises(TypeError):
        cam.get_image(image, 10.0)
    cam.set_trigger_source("XI_TRG_EDGE_RISING")          # no GPI port in trigger mode: no trigger comes
    with pytest.raises(Xi_error) as caught:
        cam.get_image(image, SHORT_TIMEOUT_MS)
    assert caught.value.status == 10
    cam.set_gpi_mode("XI_GPI_TRIGGER")                    # on the selected port (default XI_GPI_PORT1)
    cam.get_image(image, SHORT_TIMEOUT_MS)
    assert (image.acq_nframe, image.nframe, image.width, image.height) == (1, 1, SHAPE[1], SHAPE[0])
    assert image.get_image_data_numpy().shape == SHAPE
    cam.close_device()


# ----------------------------------------------------------------------------------------------------------
# Loading the real API


class FakeImporter:
    """Stands in for importlib.import_module: raises ``error`` (for the first candidate only when it has a
    ``module`` to return for the others)."""

    def __init__(self, error: type[Exception], module: ModuleType | None = None) -> None:
        self.error = error
        self.module = module
        self.calls: list[str] = []

    def __call__(self, name: str) -> ModuleType:
        self.calls.append(name)
        if self.module is None or name == ximea_driver.XIAPI_MODULES[0]:
            raise self.error(f"cannot load {name}")
        return self.module


def test_load_xiapi_without_the_driver_library() -> None:
    with pytest.raises(DeviceError) as caught:
        load_xiapi(importer=FakeImporter(OSError))
    assert str(caught.value) == ("XIMEA driver library not found (libm3api.so.2): install XIMEA's software "
                                 'package, or use camera.driver = "mock"')


def test_load_xiapi_without_the_package_and_fallback() -> None:
    with pytest.raises(DeviceError, match="XIMEA Python package not found"):
        load_xiapi(importer=FakeImporter(ImportError))
    importer = FakeImporter(ImportError, module=mock_api)
    assert load_xiapi(importer=importer) is mock_api
    assert importer.calls == ["xiapipy.xiapi", "ximea.xiapi"]


def test_camera_without_api_loads_the_real_one_lazily(device: mock_api.MockDevice,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    real_loader = ximea_driver.load_xiapi
    monkeypatch.setattr(ximea_driver, "load_xiapi", lambda: real_loader(importer=FakeImporter(OSError)))
    cam = XimeaCamera(settings())                                # constructing loads nothing
    with pytest.raises(DeviceError, match="libm3api"):
        cam.open()


def test_importing_the_camera_package_does_not_import_xiapi() -> None:
    code = ("import sys, acquisition.camera, hardware_mocks.ximea; "
            "sys.exit(any(m.split('.')[0] in ('xiapipy', 'ximea') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
