"""The mock lab: a mock trigger box on a pseudo-terminal, an AcqKnowledge emulator on loopback and a mock
XIMEA camera, wired as the real lab is wired.

The trigger box's pulses are the physical link: the emulated MP160 records them on its digital input (the
source's trigger channel, from the moment the box starts), and the mock camera exposes one source frame
per pulse. Before the box starts, the MP160 records a still baseline with the trigger input low; so the
acquisition side finds pulse 0 exactly where the source has it, and a replayed session recorded again is
identical to the original.

The acquisition code talks to these mocks only through the real protocols: xiapipy's API, NDT over XML-RPC
and TCP, and a serial line.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass

import numpy as np

from hardware_mocks.acqknowledge import AcqKnowledgeEmulator, ChannelSpec
from hardware_mocks.sources import LabSource
from hardware_mocks.trigger_box import MockTriggerBox
from hardware_mocks.ximea import xiapi

ECG_LABEL = "ECG"
TRIGGER_LABEL = "TRIGGER"
WAIT_TICK_S = 0.001
MAX_LEAD_S = 1.0  # at maximum speed the ECG stream stays at most this far ahead of the camera


@dataclass(frozen=True)
class MockFaults:
    """Device faults to inject, at times on the source's clock (0 = never)."""

    ecg_drop_after_s: float = 0.0  # AcqKnowledge's data connection drops
    ecg_stall_after_s: float = 0.0  # AcqKnowledge stops sending for ecg_stall_s
    ecg_stall_s: float = 0.0
    camera_timeouts_after_s: float = 0.0  # the camera stops delivering for camera_timeouts grabs
    camera_timeouts: int = 0
    camera_disconnect_after_s: float = 0.0  # the camera's cable is pulled
    trigger_unplug_after_s: float = 0.0  # the trigger box's USB cable is pulled (its pulses stop)
    trigger_mute_after_s: float = 0.0  # the trigger box hangs: it reads commands and answers none

    def timed(self) -> list[tuple[float, str]]:
        """(source seconds, what) of the faults fired by the lab's fault timer."""
        return [(t, name) for t, name in ((self.camera_disconnect_after_s, "camera disconnect"),
                                          (self.trigger_unplug_after_s, "trigger unplug"),
                                          (self.trigger_mute_after_s, "trigger mute")) if t > 0]


@dataclass(frozen=True)
class MockEndpoints:
    """Where the acquisition side finds the mock devices (goes into the lab configuration)."""

    camera_serial: str
    ndt_host: str
    ndt_rpc_port: int
    ndt_data_port: int
    trigger_port: str
    ecg_label: str = ECG_LABEL
    trigger_label: str = TRIGGER_LABEL


class _LabClock:
    """Shared state of the mock hardware: when the MP160 started, when the trigger box started."""

    def __init__(self, source: LabSource, speed: float | None) -> None:
        self.source = source
        self.speed = speed  # None: as fast as the acquisition side reads
        self.lock = threading.Lock()
        self.acq_started_at: float | None = None
        self.rows_sent = 0  # hardware samples streamed by the emulated MP160
        self.trigger_row: int | None = None  # MP160 row of pulse 0
        self.trigger_started_at: float | None = None
        self.frames_exposed = 0
        self.stopped = threading.Event()
        self.stop_row: int | None = None  # MP160 row at which the box stopped: no pulses from there on

    def elapsed_rows(self) -> float:
        """MP160 rows the hardware clock has produced since acquisition start (real time)."""
        if self.acq_started_at is None:
            return 0.0
        return (time.monotonic() - self.acq_started_at) * self.source.ecg_rate


class _TriggerWiring:
    """The trigger box's output lines (a PulseListener for the mock trigger box)."""

    def __init__(self, clock: _LabClock) -> None:
        self._clock = clock

    def trigger_started(self, rate_hz: float, pulse_width_us: int) -> None:
        clock = self._clock
        with clock.lock:
            clock.trigger_row = clock.rows_sent
            clock.trigger_started_at = time.monotonic()
            clock.stop_row = None
            clock.stopped.clear()

    def trigger_stopped(self) -> None:
        clock = self._clock
        with clock.lock:
            # the hardware clock's row now (at maximum speed: what has been streamed is what has happened)
            now = clock.rows_sent if clock.speed is None else int(clock.elapsed_rows() * clock.speed)
            if clock.trigger_row is not None and clock.frames_exposed:  # every exposed frame had its pulse
                exposed = clock.source.edges[min(clock.frames_exposed, clock.source.n_pulses) - 1]
                now = max(now, clock.trigger_row + int(exposed) + 1)
            clock.stop_row = max(clock.rows_sent, now)
        clock.stopped.set()

    def pulses_so_far(self) -> int:
        clock = self._clock
        with clock.lock:
            if clock.trigger_row is None:
                return 0
            produced = clock.rows_sent - clock.trigger_row
        return int(np.searchsorted(clock.source.edges, produced, side="left"))


class _Mp160Stream:
    """The emulated MP160's samples (a SampleStream for the AcqKnowledge emulator)."""

    def __init__(self, clock: _LabClock) -> None:
        self._clock = clock
        self.base_rate = clock.source.ecg_rate
        self._baseline = clock.source.ecg_rows(0, 1)[0, 0]

    def channel_specs(self) -> list[ChannelSpec]:
        return [
            ChannelSpec(ECG_LABEL, units=self._clock.source.ecg_units, type="analog"),
            ChannelSpec(TRIGGER_LABEL, units="V", type="digital"),
        ]

    def next_block(self, max_samples: int) -> np.ndarray | None:
        # one step under the lock: the trigger box must not start between reading where pulse 0 falls and
        # counting the rows sent (a baseline block counted after it started would shift pulse 0's row)
        clock = self._clock
        with clock.lock:
            if clock.acq_started_at is None:
                clock.acq_started_at = time.monotonic()
            trigger_row = clock.trigger_row
            sent = clock.rows_sent
            paced = clock.speed is not None or trigger_row is None  # idle baseline always runs in real time
            budget = max_samples
            if paced:
                budget = min(budget, int(clock.elapsed_rows() * (clock.speed or 1.0)) - sent)
            else:  # as fast as the acquisition side reads, at most MAX_LEAD_S ahead of the camera
                edges = clock.source.edges
                exposed = clock.frames_exposed
                camera_row = edges[exposed] if exposed < len(edges) else clock.source.n_samples
                budget = min(budget, trigger_row + camera_row + int(MAX_LEAD_S * self.base_rate) - sent)
            if budget <= 0:
                return np.empty((0, 2))
            if trigger_row is None:
                block = np.zeros((budget, 2))
                block[:, 0] = self._baseline
            else:
                start = sent - trigger_row
                if start >= clock.source.n_samples:
                    return None  # the recording has ended: the MP160 falls silent
                block = clock.source.ecg_rows(start, min(start + budget, clock.source.n_samples))
                stop_row = clock.stop_row
                if stop_row is not None and sent + len(block) > stop_row:  # after the box stopped: input low
                    block = np.array(block)
                    block[max(0, stop_row - sent):, 1] = 0.0
            clock.rows_sent += len(block)
        return block


class _CameraOptics:
    """What the mock camera sees: the source frame of each pulse once its edge has happened (FrameFeeder)."""

    def __init__(self, clock: _LabClock, device_ref: list[xiapi.MockDevice], faults: MockFaults) -> None:
        self._clock = clock
        self._device_ref = device_ref
        self._timeout_pulse = round(faults.camera_timeouts_after_s * clock.source.fps) \
            if faults.camera_timeouts else -1
        self._timeouts = faults.camera_timeouts
        self.frame_shape = clock.source.sensor_shape
        self._blank = np.zeros(self.frame_shape, dtype=np.uint8)
        self._next_pulse = 0
        self.cpu_s = 0.0  # thread CPU spent producing frames (mock cost, not acquisition cost)

    def _edge_due(self, pulse: int, deadline: float) -> bool:
        """Wait until the trigger box has sent ``pulse`` (on the lab's clock, not the ECG stream's: a lost
        ECG connection must not stop the camera)."""
        clock = self._clock
        while True:
            with clock.lock:
                started_at = clock.trigger_started_at
                stop_row, trigger_row = clock.stop_row, clock.trigger_row
            if clock.stopped.is_set() and stop_row is not None and trigger_row is not None:
                # the pulses the box sent before it stopped were exposed, whenever the host reads them
                if pulse < self._pulses_before(stop_row - trigger_row):
                    return True
                time.sleep(max(0.0, deadline - time.monotonic()))  # no more pulses: a real grab times out
                return False
            if started_at is not None and not clock.stopped.is_set():
                if clock.speed is None:
                    return True
                due = started_at + clock.source.edges[pulse] / (clock.source.ecg_rate * clock.speed)
                if time.monotonic() >= due:
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(WAIT_TICK_S)

    def _pulses_before(self, rows: int) -> int:
        """Pulses whose edge lies in the first ``rows`` rows after pulse 0's."""
        return int(np.searchsorted(self._clock.source.edges, rows, side="left")) if rows >= 0 else 0

    def next_frame(self, timeout_s: float, triggered: bool) -> tuple[np.ndarray, int] | None:
        deadline = time.monotonic() + timeout_s
        pulse = self._next_pulse
        if pulse >= self._clock.source.n_pulses:  # no more pulses: a real camera waits out its timeout
            time.sleep(max(0.0, deadline - time.monotonic()))
            return None
        if not self._edge_due(pulse, deadline):
            return None
        cpu0 = time.thread_time()
        if pulse == self._timeout_pulse and self._device_ref:
            self._device_ref[0].inject_timeouts(self._timeouts)
        image = self._clock.source.frame(pulse)
        self._next_pulse += 1
        # frames the recording lost: expose them but lose them in transport, as the real camera did
        if image is not None and self._device_ref:
            missing = 0
            while self._next_pulse + missing < self._clock.source.n_pulses and \
                    not self._clock.source.has_frame(self._next_pulse + missing):
                missing += 1
            if missing:
                self._device_ref[0].inject_drops(missing)
        ts_us = round(self._clock.source.edges[pulse] / self._clock.source.ecg_rate * 1e6)
        self.cpu_s += time.thread_time() - cpu0
        with self._clock.lock:
            self._clock.frames_exposed += 1
        return (self._blank if image is None else image), ts_us


class MockLab:
    """Starts the three mock devices on one source; use as a context manager."""

    def __init__(self, source: LabSource, *, speed: float | None = 1.0, camera_serial: str = "MOCK0001",
                 host: str = "127.0.0.1", faults: MockFaults | None = None) -> None:
        faults = faults or MockFaults()
        self.source = source
        self.clock = _LabClock(source, speed)
        self._device_ref: list[xiapi.MockDevice] = []
        self.optics = _CameraOptics(self.clock, self._device_ref, faults)
        self.trigger_box = MockTriggerBox(_TriggerWiring(self.clock))
        rate = source.ecg_rate
        self.emulator = AcqKnowledgeEmulator(
            _Mp160Stream(self.clock), host=host, rpc_port=0, single_port=0,
            drop_after=round(faults.ecg_drop_after_s * rate) if faults.ecg_drop_after_s else None,
            stall_after=round(faults.ecg_stall_after_s * rate) if faults.ecg_stall_after_s else None,
            stall_s=faults.ecg_stall_s,
        )
        self.camera_serial = camera_serial
        self.host = host
        self.endpoints: MockEndpoints | None = None
        self._closing = threading.Event()
        self._fault_thread = threading.Thread(target=self._fire_faults, args=(faults.timed(),),
                                              name="mock-faults", daemon=True) if faults.timed() else None

    @property
    def camera_device(self) -> xiapi.MockDevice:
        return self._device_ref[0]

    def _fire_faults(self, faults: list[tuple[float, str]]) -> None:
        """Fire the timed faults when the camera has exposed that much of the source (any speed)."""
        pending = sorted(faults)
        while pending and not self._closing.is_set():
            due, name = pending[0]
            if self.clock.frames_exposed / self.source.fps >= due:
                pending.pop(0)
                if name == "camera disconnect" and self._device_ref:
                    self._device_ref[0].disconnect()
                elif name == "trigger unplug":
                    self.trigger_box.unplug()
                elif name == "trigger mute":
                    self.trigger_box.mute()
            self._closing.wait(WAIT_TICK_S * 10)

    def start(self) -> MockEndpoints:
        self._device_ref.append(xiapi.register_device(self.camera_serial, self.optics))
        try:
            port = self.trigger_box.start()
            self.emulator.start()
        except BaseException:
            self.close()
            raise
        self.endpoints = MockEndpoints(
            camera_serial=self.camera_serial,
            ndt_host=self.host,
            ndt_rpc_port=self.emulator.rpc_port,
            ndt_data_port=0,
            trigger_port=port,
        )
        if self._fault_thread is not None:
            self._fault_thread.start()
        return self.endpoints

    def playback_done(self, frames_seen: int, ecg_samples_seen: int, ecg_lost: bool) -> bool:
        """True once the acquisition side has every frame of the source and its whole ECG (or lost it)."""
        return frames_seen >= self.source.n_pulses and (ecg_lost or ecg_samples_seen >= self.source.n_samples)

    def close(self) -> None:
        self._closing.set()
        if self._fault_thread is not None and self._fault_thread.is_alive():
            self._fault_thread.join()
        self.emulator.close()
        self.trigger_box.close()
        if self._device_ref:
            with contextlib.suppress(KeyError):
                xiapi.unregister_device(self.camera_serial)
            self._device_ref.clear()
        self.source.close()

    def __enter__(self) -> MockLab:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
