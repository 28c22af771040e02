"""Builds the devices a lab configuration names. Real or mock is chosen here, by configuration, and the
same driver classes are used for both: the mocks speak the real protocols.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from acquisition.camera import CameraSettings, XimeaCamera, load_xiapi
from acquisition.ecg import NdtEcgSource
from acquisition.errors import ConfigError
from acquisition.pipeline import Acquisition, AcquisitionSettings
from acquisition.session import EcgInfo, SessionMetadata, TriggerInfo, VideoInfo
from acquisition.trigger import SerialTriggerBox
from app.config import LabConfig, as_dict

if TYPE_CHECKING:
    from hardware_mocks.lab import MockLab

# camera.driver -> how to get a module with xiapipy's Camera / Image / Xi_error
CAMERA_APIS: dict[str, Callable[[], ModuleType]] = {
    "xiapipy": load_xiapi,
    "mock": lambda: importlib.import_module("hardware_mocks.ximea.xiapi"),
}

MOCK_SPEEDS = {"1": 1.0, "max": None}


def build_acquisition(config: LabConfig) -> Acquisition:
    cam = config.camera
    settings = CameraSettings(
        serial=cam.serial or None,
        index=None if cam.serial else cam.index,
        pixel_format=cam.pixel_format,  # type: ignore[arg-type]
        exposure_us=cam.exposure_us,
        gain_db=cam.gain_db,
        fps=cam.fps,
        trigger=cam.trigger,  # type: ignore[arg-type]
        buffer_queue_size=cam.buffer_queue_size,
        timeout_ms=cam.timeout_ms,
        roi=tuple(config.recording.roi) if cam.readout == "roi" else None,  # type: ignore[arg-type]
    )
    camera = XimeaCamera(settings, api=CAMERA_APIS[cam.driver]())
    ecg = NdtEcgSource(
        config.ecg.host,
        config.ecg.rpc_port,
        config.ecg.data_port,
        ecg_label=config.ecg.ecg_label,
        trigger_label=config.ecg.trigger_label,
        rpc_timeout_s=config.ecg.rpc_timeout_s,
        stall_timeout_s=config.ecg.stall_timeout_s,
    )
    trigger = SerialTriggerBox(config.trigger.port, baudrate=config.trigger.baudrate,
                               timeout_s=config.trigger.timeout_s, boot_wait_s=config.trigger.boot_wait_s)
    return Acquisition(camera, ecg, trigger, AcquisitionSettings(
        fps=cam.fps,
        ecg_rate=config.ecg.sampling_rate,
        trigger_rate=config.trigger.rate_hz,
        pulse_width_us=config.trigger.pulse_width_us,
        trigger_threshold_v=config.ecg.trigger_threshold_v,
        frame_seconds=config.buffer.frame_seconds,
        ecg_seconds=config.buffer.ecg_seconds,
        camera_timeout_burst=cam.timeout_burst_limit,
    ))


def session_metadata(config: LabConfig, source: str) -> SessionMetadata:
    rec, cam = config.recording, config.camera
    return SessionMetadata(
        subject=rec.subject,
        trial=rec.trial,
        video=VideoInfo(
            fps=cam.fps,
            resolution=(cam.width, cam.height),
            pixel_format="MONO8",
            roi=rec.roi if rec.store == "roi" else None,
            frames_per_chunk=rec.frames_per_chunk,
        ),
        ecg=EcgInfo(config.ecg.sampling_rate, [config.ecg.ecg_label, config.ecg.trigger_label],
                    ["mV", "V"], config.ecg.ecg_label, config.ecg.trigger_label),
        trigger=TriggerInfo("trigger-box" if cam.trigger == "hardware" else "free-run",
                            config.trigger.rate_hz,
                            "rising", config.trigger.pulse_width_us / 1000.0, config.ecg.trigger_threshold_v),
        devices=as_dict(config),
        source=source,
    )


@dataclass
class MockSetup:
    """A running mock lab and the configuration that points the acquisition side at it."""

    config: LabConfig
    lab: MockLab
    first_pulse: int = 0  # the source's pulse that became pulse 0 (a replay started part-way)

    def done(self, acquisition: Acquisition) -> bool:
        """The whole source has been played into the acquisition side."""
        status = acquisition.status()
        return self.lab.playback_done(status.frames + status.frames_dropped, status.ecg_samples,
                                      acquisition.ecg_failed.is_set())


def make_mock_source(config: LabConfig, workdir: Path):
    """The source the mock devices play, from ``[mock]``."""
    from hardware_mocks.sources import SessionSource, VideoEcgSource

    mock = config.mock
    if mock.source == "session":
        if not mock.session:
            raise ConfigError("mock.source = \"session\" needs mock.session (a session directory)")
        return SessionSource(mock.session)
    if mock.source == "video+ecg":
        if not (mock.video and mock.ecg):
            raise ConfigError("mock.source = \"video+ecg\" needs mock.video and mock.ecg")
        return VideoEcgSource(mock.video, mock.ecg, ecg_rate=mock.ecg_rate or None)
    from hardware_mocks.synth.session import SynthConfig, synthesize_session

    out = workdir / f"synth-seed{mock.synth_seed}-{mock.synth_minutes:g}min-{config.camera.width}x" \
                    f"{config.camera.height}-{config.camera.fps:g}fps"
    try:
        return SessionSource(out)
    except Exception:
        synthesize_session(SynthConfig(out=out, minutes=mock.synth_minutes, seed=mock.synth_seed,
                                       fps=config.camera.fps, ecg_rate=config.ecg.sampling_rate,
                                       frame_size=(config.camera.width, config.camera.height),
                                       overwrite=True))
        return SessionSource(out)


@contextlib.contextmanager
def mock_lab(config: LabConfig, workdir: Path, start_s: float = 0.0, duration_s: float | None = None
             ) -> Iterator[MockSetup]:
    """Start the mock devices on the configured source (from ``start_s`` seconds in, for ``duration_s``
    seconds of it) and point the configuration at them."""
    from hardware_mocks.lab import MockFaults, MockLab
    from hardware_mocks.sources import LoopSource, OffsetSource, TruncatedSource

    source = make_mock_source(config, workdir)
    if config.mock.loops > 1:
        source = LoopSource(source, config.mock.loops)
    first_pulse = 0
    if start_s > 0:
        first_pulse = min(int(np.searchsorted(source.edges, round(start_s * source.ecg_rate))),
                          source.n_pulses - 1)
        if first_pulse > 0:
            source = OffsetSource(source, first_pulse)
    if duration_s is not None:
        source = TruncatedSource(source, max(1, round(duration_s * source.ecg_rate)))
    sensor_h, sensor_w = source.sensor_shape
    if abs(source.fps - config.camera.fps) > 1e-6:
        config = replace(config, camera=replace(config.camera, fps=source.fps),
                         trigger=replace(config.trigger, rate_hz=round(source.fps)))
    mock = config.mock
    faults = MockFaults(mock.fault_ecg_drop_after_s, mock.fault_ecg_stall_after_s, mock.fault_ecg_stall_s,
                        mock.fault_camera_timeouts_after_s, mock.fault_camera_timeouts,
                        mock.fault_camera_disconnect_after_s, mock.fault_trigger_unplug_after_s,
                        mock.fault_trigger_mute_after_s)
    lab = MockLab(source, speed=MOCK_SPEEDS[mock.speed], camera_serial=mock.serial, faults=faults)
    endpoints = lab.start()
    try:
        roi = getattr(source, "roi", None)
        recording = config.recording
        readout = config.camera.readout
        if roi is not None:  # the session holds only this region: the camera reads out no more
            recording = replace(recording, roi=tuple(roi), store="roi")
            readout = "roi"
        elif config.recording.store == "roi" and not _fits(config.recording.roi, sensor_w, sensor_h):
            recording = replace(recording, store="full")
            readout = "full"
        config = replace(
            config,
            camera=replace(config.camera, driver="mock", serial=endpoints.camera_serial, width=sensor_w,
                           height=sensor_h, readout=readout),
            ecg=replace(config.ecg, host=endpoints.ndt_host, rpc_port=endpoints.ndt_rpc_port,
                        data_port=endpoints.ndt_data_port, ecg_label=endpoints.ecg_label,
                        trigger_label=endpoints.trigger_label, sampling_rate=source.ecg_rate),
            trigger=replace(config.trigger, port=endpoints.trigger_port, rate_hz=round(source.fps)),
            recording=recording,
        ).validate()
        yield MockSetup(config, lab, first_pulse)
    finally:
        lab.close()


def _fits(roi: tuple[int, int, int, int], width: int, height: int) -> bool:
    x, y, w, h = roi
    return x >= 0 and y >= 0 and x + w <= width and y + h <= height
