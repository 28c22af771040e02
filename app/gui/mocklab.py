"""Mock lab for the GUI: the same mock devices as ``app.devices.mock_lab``, able to start a replay part-way.

Seek and pause in a replay restart the mock lab from a position: :class:`OffsetSource` presents the source
from trigger pulse ``P`` on as a trial of its own (pulse ``P`` becomes pulse 0 and session sample 0), so
the acquisition code sees an ordinary trial. The GUI adds the offset back for display and export, so times
stay on the source's clock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from app.config import LabConfig
from app.devices import MOCK_SPEEDS, MockSetup, make_mock_source
from hardware_mocks.sources import LabSource


class OffsetSource(LabSource):
    """``base`` from trigger pulse ``first_pulse`` on, re-timed so that this pulse is pulse 0, sample 0."""

    def __init__(self, base: LabSource, first_pulse: int) -> None:
        if not 0 <= first_pulse < base.n_pulses:
            raise ValueError(f"pulse {first_pulse} is outside the source (0..{base.n_pulses - 1})")
        self.base = base
        self.first_pulse = first_pulse
        self.first_row = int(base.edges[first_pulse])
        self.fps = base.fps
        self.ecg_rate = base.ecg_rate
        self.ecg_units = base.ecg_units
        self.sensor_shape = base.sensor_shape
        self.roi = getattr(base, "roi", None)
        self._edges = np.asarray(base.edges[first_pulse:], dtype=np.int64) - self.first_row

    @property
    def n_samples(self) -> int:
        return self.base.n_samples - self.first_row

    @property
    def edges(self) -> np.ndarray:
        return self._edges

    def ecg_rows(self, start: int, stop: int) -> np.ndarray:
        return self.base.ecg_rows(start + self.first_row, stop + self.first_row)

    def has_frame(self, pulse: int) -> bool:
        return self.base.has_frame(pulse + self.first_pulse)

    def frame(self, pulse: int) -> np.ndarray | None:
        return self.base.frame(pulse + self.first_pulse)

    def close(self) -> None:
        self.base.close()


def source_duration_s(config: LabConfig, workdir: Path) -> float:
    """Length of the configured mock source (opens and closes it)."""
    source = make_mock_source(config, workdir)
    try:
        return float(source.duration_s)
    finally:
        source.close()


@contextlib.contextmanager
def open_mock_lab(config: LabConfig, workdir: Path, start_s: float = 0.0) -> Iterator[tuple[MockSetup, int]]:
    """Start the mock devices on ``config.mock``'s source from ``start_s`` seconds in.

    Yields the setup (its configuration points the acquisition at the mocks, as ``mock_lab`` does) and the
    source pulse that became pulse 0.
    """
    from hardware_mocks.lab import MockFaults, MockLab

    source: LabSource = make_mock_source(config, workdir)
    first_pulse = 0
    if start_s > 0:
        first_pulse = min(int(np.searchsorted(source.edges, round(start_s * source.ecg_rate))),
                          source.n_pulses - 1)
        if first_pulse > 0:
            source = OffsetSource(source, first_pulse)
    sensor_h, sensor_w = source.sensor_shape
    if abs(source.fps - config.camera.fps) > 1e-6:
        config = replace(config, camera=replace(config.camera, fps=source.fps),
                         trigger=replace(config.trigger, rate_hz=round(source.fps)))
    mock = config.mock
    faults = MockFaults(mock.fault_ecg_drop_after_s, mock.fault_ecg_stall_after_s, mock.fault_ecg_stall_s,
                        mock.fault_camera_timeouts_after_s, mock.fault_camera_timeouts)
    lab = MockLab(source, speed=MOCK_SPEEDS[mock.speed], camera_serial=mock.serial, faults=faults)
    endpoints = lab.start()
    try:
        roi = getattr(source, "roi", None)
        recording = config.recording
        if roi is not None:
            recording = replace(recording, roi=tuple(roi), store="roi")
        elif recording.store == "roi" and not _fits(recording.roi, sensor_w, sensor_h):
            recording = replace(recording, store="full")
        config = replace(
            config,
            camera=replace(config.camera, driver="mock", serial=endpoints.camera_serial, width=sensor_w,
                           height=sensor_h),
            ecg=replace(config.ecg, host=endpoints.ndt_host, rpc_port=endpoints.ndt_rpc_port,
                        data_port=endpoints.ndt_data_port, ecg_label=endpoints.ecg_label,
                        trigger_label=endpoints.trigger_label, sampling_rate=source.ecg_rate),
            trigger=replace(config.trigger, port=endpoints.trigger_port, rate_hz=round(source.fps)),
            recording=recording,
        ).validate()
        yield MockSetup(config, lab), first_pulse
    finally:
        lab.close()


def _fits(roi: tuple[int, int, int, int], width: int, height: int) -> bool:
    x, y, w, h = roi
    return x >= 0 and y >= 0 and x + w <= width and y + h <= height
