"""The lab session model behind the GUI: plain Python, no Qt (the views only read from it).

:class:`LabController` owns the lab configuration, the mock lab (when mock devices are chosen), the
acquisition, the spotting engine and its threads, and the recorder. Commands (connect, start, stop, record,
play, pause, seek) run one at a time on the controller's own worker thread, so that opening devices or
closing a session never blocks the Qt thread; their failures become :class:`Notice` objects, never
exceptions in the view. Between commands the worker watches the run: new device faults, engine and recorder
errors, the end of a replay.

A recording is one acquisition run (the session format counts time from the run's first trigger pulse):
"record" while running restarts the run with the recorder attached, from the current position for a
replayed source. Stopping the recording closes the session and leaves acquisition running.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from acquisition._checks import check_name
from acquisition.errors import ConfigError, MespotError
from acquisition.pipeline import Acquisition, AcquisitionStatus
from acquisition.recorder import Recorder
from acquisition.session import SessionReader, SessionWriter
from app.config import LabConfig, load_config
from app.devices import MockSetup, build_acquisition, session_metadata
from app.gui.mocklab import open_mock_lab
from inference.alerts import Alert, CsvSink, QueueSink

if TYPE_CHECKING:
    from inference.engine import EngineThreads, SpottingEngine
    from inference.spotters import SpotterChoice

log = logging.getLogger(__name__)

MOCK_WORKDIR = Path("demo-output") / "mock-sources"  # where `mespot record` keeps synthetic mock sources
MONITOR_PERIOD_S = 0.1  # how often the worker looks at a running acquisition between commands
MEAN_HRS_PERIOD_S = 1.0  # how often the trial's mean HRS (the filter's baseline) is recomputed for display
THUMBNAIL_PX = 64  # height of an alert's apex-frame thumbnail
STOP_DRAIN_S = 0.5  # Acquisition.stop's default: the last frames and samples arrive
SHUTDOWN_TIMEOUT_S = 30.0  # closing waits this long for the run to finish cleanly
MAX_NOTICES = 200

Phase = Literal["idle", "connected", "running"]
NoticeLevel = Literal["info", "warning", "error"]


def default_model_path() -> Path:
    """The bundled demo model (``models/cmcl-net-demo.onnx``), located without importing ``models``."""
    spec = importlib.util.find_spec("models")
    root = Path(spec.origin).parent if spec and spec.origin else Path("models")
    return root / "cmcl-net-demo.onnx"


@dataclass(frozen=True)
class DeviceChoice:
    """Which devices to use: the lab's real ones (from a lab TOML file) or the mocks fed from a source."""

    kind: Literal["real", "mock"] = "mock"
    config_path: str = ""  # lab TOML file ("" = built-in defaults)
    overrides: tuple[str, ...] = ()  # "section.key=value"
    source: Literal["synthetic", "session", "video+ecg"] = "synthetic"
    session: str = ""
    video: str = ""
    ecg: str = ""
    ecg_rate: float = 0.0
    speed: Literal["1", "max"] = "1"

    @property
    def is_replay(self) -> bool:
        return self.kind == "mock"

    def lab_config(self) -> LabConfig:
        """The lab configuration this choice stands for (ConfigError when it does not hold)."""
        config = load_config(self.config_path or None, list(self.overrides))
        if self.kind == "real":
            return config
        mock = replace(config.mock, source=self.source, session=self.session, video=self.video,
                       ecg=self.ecg, ecg_rate=self.ecg_rate, speed=self.speed)
        return replace(config, camera=replace(config.camera, driver="mock"), mock=mock).validate()


@dataclass(frozen=True)
class Notice:
    """Something the user should see (a fault, a finished recording); never modal."""

    level: NoticeLevel
    text: str
    at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class AlertEntry:
    """An alert as the GUI lists it: times on the source's clock, and a thumbnail of its apex frame."""

    alert: Alert
    thumbnail: np.ndarray | None  # (h, w) uint8, or None when the frame had left the ring
    subject: str
    video: str


@dataclass
class LiveRun:
    """One acquisition run: open devices, rings, engine threads and (maybe) a recorder."""

    config: LabConfig
    acquisition: Acquisition
    stack: contextlib.ExitStack
    setup: MockSetup | None
    offset_s: float  # source time of this run's pulse 0 (replays that started part-way)
    first_pulse: int
    duration_s: float | None  # length of the replayed source; None for live devices
    subject: str
    video: str
    wall_clock_start: str = ""
    engine: SpottingEngine | None = None
    threads: EngineThreads | None = None
    alerts: QueueSink | None = None
    recorder: Recorder | None = None
    session_path: Path | None = None
    started: bool = False
    finished: bool = False
    faults_seen: int = 0
    engine_error_seen: bool = False

    @property
    def fps(self) -> float:
        return self.acquisition.settings.fps

    @property
    def ecg_rate(self) -> float:
        return self.acquisition.settings.ecg_rate

    def position_s(self) -> float:
        """Source time reached by the camera."""
        sync = self.acquisition.sync
        return self.offset_s + (sync.frames_stamped + sync.frames_dropped) / self.fps


@dataclass(frozen=True)
class RecordingRequest:
    subject: str
    trial: str
    out_dir: str


class ProcessCpu:
    """CPU use of this process (all threads) since the previous call, in % of one core."""

    def __init__(self) -> None:
        self._last = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float]:
        times = os.times()
        return times.user + times.system, time.monotonic()

    def percent(self) -> float:
        cpu, wall = self._sample()
        last_cpu, last_wall = self._last
        self._last = (cpu, wall)
        return 100.0 * (cpu - last_cpu) / (wall - last_wall) if wall > last_wall else 0.0


class _Worker:
    """One thread that runs commands in order; between commands it calls ``monitor``."""

    def __init__(self, monitor: Callable[[], None], on_error: Callable[[BaseException], None]) -> None:
        self._queue: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._monitor = monitor
        self._on_error = on_error
        self._thread = threading.Thread(target=self._loop, name="gui-controller", daemon=True)
        self._thread.start()

    def submit(self, command: Callable[[], None]) -> None:
        self._queue.put(command)

    @property
    def idle(self) -> bool:
        return self._queue.unfinished_tasks == 0

    def wait_idle(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not self.idle:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self, timeout_s: float) -> None:
        self._queue.put(None)
        self._thread.join(timeout_s)

    def _loop(self) -> None:
        while True:
            try:
                command = self._queue.get(timeout=MONITOR_PERIOD_S)
            except queue.Empty:
                self._guarded(self._monitor)
                continue
            try:
                if command is None:
                    return
                self._guarded(command)
            finally:
                self._queue.task_done()

    def _guarded(self, command: Callable[[], None]) -> None:
        try:
            command()
        except Exception as exc:
            self._on_error(exc)


class LabController:
    """Config, devices, acquisition, engine and recorder of the lab GUI (see the module docstring)."""

    def __init__(self, *, choice: DeviceChoice | None = None, model_path: Path | None = None,
                 workdir: Path = MOCK_WORKDIR, eta: float = 2.0, threshold: float | None = None) -> None:
        self.choice = choice or DeviceChoice()
        self.model_path = model_path if model_path is not None else default_model_path()
        self.workdir = workdir
        self.eta = eta
        self.threshold = threshold  # None: the model's own
        self.run: LiveRun | None = None  # the current (or last) run; views read its rings
        self.alerts: list[AlertEntry] = []  # every alert since the devices were chosen, source clock
        self.alerts_epoch = 0  # raised when ``alerts`` is cleared (views clear their lists)
        self._draining: list[LiveRun] = []  # runs whose alert queues the view has not emptied yet
        self.recording: RecordingRequest | None = None  # armed or active
        self.last_session: Path | None = None
        self.hrs_mean: float = float("nan")  # the engine's HRS baseline, for the eta x mean line
        self._resume_s = 0.0  # where the next replay run starts
        self._model: SpotterChoice | None = None
        self._model_loaded_from: Path | None = None
        self._spotting_unavailable = False
        self._notices: deque[Notice] = deque(maxlen=MAX_NOTICES)
        self._next_mean_hrs = 0.0
        self._closed = False
        self._worker = _Worker(self._monitor, self._command_failed)

    # -- state (any thread) ---------------------------------------------------------------------------
    @property
    def phase(self) -> Phase:
        run = self.run
        if run is None or run.finished:
            return "idle"
        return "running" if run.started else "connected"

    @property
    def busy(self) -> bool:
        """A command is queued or running."""
        return not self._worker.idle

    @property
    def is_recording(self) -> bool:
        run = self.run
        return run is not None and run.recorder is not None and not run.finished

    @property
    def engine(self) -> SpottingEngine | None:
        run = self.run
        return run.engine if run is not None else None

    @property
    def model_threshold(self) -> float | None:
        """The spotter's own threshold (None before one is loaded)."""
        model = self._model
        if model is None:
            return None
        if model.threshold is not None:
            return model.threshold
        return model.model.threshold if model.model is not None else 1.0

    def position_s(self) -> float:
        """Replay position (source time) of the running run, or where the next run starts."""
        run = self.run
        if run is not None and run.started and not run.finished and run.duration_s is not None:
            return run.position_s()
        return self._resume_s

    def duration_s(self) -> float | None:
        """Length of the replayed source (None for live devices or before the first connect)."""
        run = self.run
        return run.duration_s if run is not None else None

    def status(self) -> AcquisitionStatus | None:
        run = self.run
        return run.acquisition.status() if run is not None and run.started else None

    def notices(self) -> list[Notice]:
        """Notices since the previous call (oldest first)."""
        out = []
        while self._notices:
            out.append(self._notices.popleft())
        return out

    def notify(self, level: NoticeLevel, text: str) -> None:
        log.log({"info": logging.INFO, "warning": logging.WARNING}.get(level, logging.ERROR), text)
        self._notices.append(Notice(level, text))

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Block until every queued command has run (tests, benchmarks, shutdown)."""
        return self._worker.wait_idle(timeout_s)

    # -- live settings (applied at once to the running engine) ----------------------------------------
    def set_eta(self, eta: float) -> None:
        self.eta = float(eta)
        engine = self.engine
        if engine is not None:  # one attribute store: atomic
            engine.settings = replace(engine.settings, hrs=replace(engine.settings.hrs, eta=self.eta))

    def set_threshold(self, threshold: float | None) -> None:
        """Score threshold (None: the model's own)."""
        self.threshold = threshold
        engine = self.engine
        if engine is not None:
            engine.threshold = threshold if threshold is not None else engine.spotter.default_threshold

    def set_model_path(self, path: Path | str) -> None:
        """A CMCL-Net ONNX model, a spotter file, or "flow" (the training-free spotter)."""
        self.model_path = Path(path)

    # -- commands (queued; they run on the worker thread) ---------------------------------------------
    def choose_devices(self, choice: DeviceChoice) -> None:
        """Use other devices from the next connect on (closes the current devices)."""
        self._worker.submit(lambda: self._choose(choice))

    def connect(self) -> None:
        """Open the devices now (start also does it), so that a device problem shows before the trial."""
        self._worker.submit(lambda: None if self.phase == "running" else self._connect())

    def start(self) -> None:
        self._worker.submit(self._start)

    def stop(self) -> None:
        """Stop acquisition (a replay rewinds to its start)."""
        self._worker.submit(lambda: self._stop(rewind=True))

    def pause(self) -> None:
        """Stop a replay, keeping its position for the next start."""
        self._worker.submit(lambda: self._stop(rewind=False))

    def seek(self, position_s: float) -> None:
        """Move a replay to ``position_s`` (restarts the mock lab there when running)."""
        self._worker.submit(lambda: self._seek(position_s))

    def set_speed(self, speed: Literal["1", "max"]) -> None:
        self._worker.submit(lambda: self._set_speed(speed))

    def open_session(self, path: Path) -> None:
        """Replay a recorded session through the mock devices (from its start, not started yet)."""
        choice = replace(self.choice, kind="mock", source="session", session=str(path))
        self._worker.submit(lambda: self._choose(choice))
        self._worker.submit(self._connect)

    def start_recording(self, subject: str, trial: str, out_dir: str) -> None:
        """Record under ``out_dir``/<subject>_<trial>_<time>; names that could leave ``out_dir`` (path
        separators, '..') are refused with a notice, as on the command line."""
        try:
            check_name(subject, "subject")
            check_name(trial, "trial")
        except ConfigError as exc:
            self.notify("error", f"not recording: {exc}")
            return
        self._worker.submit(lambda: self._start_recording(RecordingRequest(subject, trial, out_dir)))

    def stop_recording(self) -> None:
        self._worker.submit(self._stop_recording)

    def export_csv(self, path: Path) -> int:
        """Write the listed alerts (MEGC columns first, as ``CsvSink`` writes them); returns the row count."""
        sink = CsvSink(path, subject="", video="")
        try:
            for entry in list(self.alerts):
                sink.subject, sink.video = entry.subject, entry.video
                sink.deliver(entry.alert)
        finally:
            sink.close()
        return sink.rows

    def close(self) -> None:
        """Finish cleanly: stop engine threads, acquisition and recorder (the session is closed)."""
        if self._closed:
            return
        self._closed = True
        self._worker.submit(lambda: self._stop(rewind=True))
        if not self._worker.wait_idle(SHUTDOWN_TIMEOUT_S):
            log.error("the lab did not stop within %.0f s", SHUTDOWN_TIMEOUT_S)
        self._worker.close(SHUTDOWN_TIMEOUT_S)

    # -- polled by the view (Qt thread) ---------------------------------------------------------------
    def poll_alerts(self) -> list[AlertEntry]:
        """Alerts delivered since the previous call, with their apex thumbnails (grabbed from the frame
        ring now, while the frame is still there)."""
        new = []
        for run in list(self._draining):
            finished = run.finished  # read first: a finished run delivers nothing after it
            assert run.alerts is not None
            while True:
                try:
                    alert = run.alerts.queue.get_nowait()
                except queue.Empty:
                    break
                new.append(AlertEntry(_to_source_clock(alert, run), apex_thumbnail(run, alert), run.subject,
                                      run.video))
            if finished:
                with contextlib.suppress(ValueError):  # _choose may have emptied the list meanwhile
                    self._draining.remove(run)
        self.alerts.extend(new)
        return new

    # -- worker side ----------------------------------------------------------------------------------
    def _command_failed(self, exc: BaseException) -> None:
        if isinstance(exc, MespotError):
            self.notify("error", str(exc))
        else:
            log.error("GUI command failed", exc_info=exc)
            self.notify("error", f"{type(exc).__name__}: {exc}")

    def _choose(self, choice: DeviceChoice) -> None:
        self._close_run()
        self.choice = choice
        self._resume_s = 0.0
        self.alerts = []
        self._draining = []
        self.alerts_epoch += 1

    def _connect(self) -> LiveRun:
        """Open the devices (a fresh run) unless a connected, not started run is there already."""
        run = self.run
        if run is not None and not run.finished and not run.started:
            return run
        if run is not None and not run.finished:
            raise ConfigError("acquisition is running: stop it first")
        config = self.choice.lab_config()
        stack = contextlib.ExitStack()
        try:
            run = self._open_run(config, stack)
        except BaseException:
            stack.close()
            raise
        self.run = run
        self.hrs_mean = float("nan")
        cam = run.config.camera
        self.notify("info", f"connected: camera {cam.serial or cam.index} {cam.width}x{cam.height} "
                            f"@ {cam.fps:g} fps, ECG {run.config.ecg.sampling_rate:g} Hz")
        return run

    def _open_run(self, config: LabConfig, stack: contextlib.ExitStack) -> LiveRun:
        setup, first_pulse, offset_s, duration = None, 0, 0.0, None
        subject, video, wall = config.recording.subject, "", ""
        if self.choice.is_replay:
            if config.mock.source == "synthetic":
                self.notify("info", "preparing the synthetic source (first use only)")
            setup, first_pulse = stack.enter_context(open_mock_lab(config, self.workdir, self._resume_s))
            config = setup.config
            source = setup.lab.source
            first_row = getattr(source, "first_row", 0)
            offset_s = first_row / source.ecg_rate
            duration = (source.n_samples + first_row) / source.ecg_rate
            reader = getattr(getattr(source, "base", source), "reader", None)
            if isinstance(reader, SessionReader):
                subject, video = reader.metadata.subject, reader.metadata.session_id
                wall = reader.metadata.wall_clock_start
            else:
                video = Path(config.mock.video).stem
        acquisition = build_acquisition(config)
        acquisition.open()  # closes what it opened when it fails
        if not video:
            video = f"{subject}_{config.recording.trial}"
        return LiveRun(config, acquisition, stack, setup, offset_s, first_pulse, duration, subject, video,
                       wall)

    def _start(self) -> None:
        run = self._connect()
        if run.started:
            return
        replay_max = self.choice.is_replay and self.choice.speed == "max"
        try:
            self._attach_engine(run, hold=replay_max)
            if self.recording is not None:
                self._attach_recorder(run, self.recording, lossless=replay_max)
            if not run.wall_clock_start:
                run.wall_clock_start = dt.datetime.now().isoformat()
            run.acquisition.start()
        except BaseException:
            self._finish(run)
            raise
        run.started = True
        self._next_mean_hrs = time.monotonic() + MEAN_HRS_PERIOD_S

    def _load_model(self) -> SpotterChoice | None:
        if self._model is not None and self._model_loaded_from == self.model_path:
            return self._model
        from inference.spotters import FLOW_NAME, load_spotter

        if str(self.model_path) != FLOW_NAME and not self.model_path.exists():
            self.notify("warning", f"no model at {self.model_path}: spotting is off (acquisition only)")
            return None
        self._model = load_spotter(self.model_path)
        self._model_loaded_from = self.model_path
        return self._model

    def _attach_engine(self, run: LiveRun, hold: bool) -> None:
        try:
            from inference.engine import EngineSettings, EngineThreads, SpottingEngine
        except ImportError as exc:  # the spotting side is missing a part: run acquisition only
            if not self._spotting_unavailable:
                self.notify("warning", f"spotting unavailable ({exc}): acquisition only")
            self._spotting_unavailable = True
            return
        model = self._load_model()
        if model is None:
            return
        sink = QueueSink()
        wall = dt.datetime.fromisoformat(run.wall_clock_start) if run.wall_clock_start else None
        if wall is not None and run.offset_s:
            wall += dt.timedelta(seconds=run.offset_s)
        from inference.decision import HrsFilter

        settings = EngineSettings(hrs=HrsFilter(eta=self.eta))
        engine = SpottingEngine(model.build(run.fps, self.threshold), run.fps, run.ecg_rate, [sink],
                                settings=settings, session_id=run.video, wall_clock_start=wall)
        assert run.acquisition.frames is not None
        threads = EngineThreads(engine, run.acquisition.frames, run.acquisition.ecg,
                                lossless_hold=run.acquisition.hold_for if hold else None,
                                stamps=run.acquisition.stamps)
        threads.start()
        run.engine, run.threads, run.alerts = engine, threads, sink
        self._draining.append(run)

    def _attach_recorder(self, run: LiveRun, request: RecordingRequest, lossless: bool) -> None:
        config = replace(run.config, recording=replace(run.config.recording, subject=request.subject,
                                                       trial=request.trial))
        out = Path(request.out_dir) / f"{request.subject}_{request.trial}_{dt.datetime.now():%Y%m%d-%H%M%S}"
        source = "replay" if self.choice.is_replay else "live"
        writer = SessionWriter(out, session_metadata(config, source), access=config.recording.access)
        recorder = Recorder(run.acquisition, writer, fsync_interval_s=config.recording.fsync_interval_s,
                            lossless=lossless)
        recorder.start()
        run.recorder, run.session_path = recorder, out
        self.notify("info", f"recording to {out}")

    def _stop(self, rewind: bool) -> None:
        run = self.run
        if run is None or run.finished:
            if rewind:
                self._resume_s = 0.0
            return
        position = run.position_s() if run.started else self._resume_s
        self._finish(run)
        if run.duration_s is not None:
            at_end = position >= run.duration_s - 1.0 / run.fps
            self._resume_s = 0.0 if rewind or at_end else position

    def _finish(self, run: LiveRun) -> None:
        """Stop acquisition, then the recorder (the session is closed), then the engine threads."""
        errors: list[str] = []
        try:  # a run opened but never started has no threads: stop() just closes its devices
            run.acquisition.stop(drain_s=STOP_DRAIN_S if run.started else 0.0)
        except Exception as exc:
            errors.append(f"stopping acquisition: {exc}")
        if run.recorder is not None:  # the end of a recorded run ends the recording (the next run does not)
            self._close_recorder(run)
            self.recording = None
        if run.threads is not None:
            try:
                run.threads.stop()
            except Exception as exc:
                errors.append(f"stopping the engine: {exc}")
        try:
            run.stack.close()
        except Exception as exc:
            errors.append(f"closing the devices: {exc}")
        run.finished = True
        for text in errors:
            self.notify("error", text)

    def _close_run(self) -> None:
        if self.run is not None and not self.run.finished:
            self._finish(self.run)

    def _close_recorder(self, run: LiveRun) -> None:
        recorder, path = run.recorder, run.session_path
        run.recorder = None
        assert recorder is not None
        stats = recorder.stop()
        self.last_session = path
        if recorder.error is not None:
            self.notify("error", f"recording {path} failed: {recorder.error}")
        else:
            self.notify("info", f"session saved: {path} ({stats.frames_written} frames, "
                                f"{stats.ecg_samples_written} ECG samples)")

    def _seek(self, position_s: float) -> None:
        run = self.run
        duration = run.duration_s if run is not None else None
        if not self.choice.is_replay:
            raise ConfigError("seek needs a replayed source (mock devices)")
        position_s = max(0.0, position_s if duration is None else min(position_s, duration))
        running = run is not None and run.started and not run.finished
        self._close_run()
        self._resume_s = position_s
        if running:
            self._start()

    def _set_speed(self, speed: Literal["1", "max"]) -> None:
        if speed == self.choice.speed:
            return
        run = self.run
        running = run is not None and run.started and not run.finished
        position = self.position_s()
        self._close_run()
        self.choice = replace(self.choice, speed=speed)
        if self.choice.is_replay:
            self._resume_s = position
        if running:
            self._start()

    def _start_recording(self, request: RecordingRequest) -> None:
        self.recording = request
        run = self.run
        if run is None or run.finished or not run.started:
            self.notify("info", "recording armed: it starts with acquisition")
            return
        if run.recorder is not None:
            return
        # a session starts at a run's pulse 0: restart the run (a replay from where it is)
        position = run.position_s()
        self._finish(run)
        if run.duration_s is not None:
            self._resume_s = position
        self._start()

    def _stop_recording(self) -> None:
        self.recording = None
        run = self.run
        if run is not None and run.recorder is not None:
            self._close_recorder(run)

    def _monitor(self) -> None:
        """Between commands: report new faults and errors, stop at the end of a replay or a lost camera."""
        run = self.run
        if run is None or not run.started or run.finished:
            return
        acquisition = run.acquisition
        faults = list(acquisition.faults)
        for text in faults[run.faults_seen:]:
            self.notify("warning", f"device fault: {text}")
        run.faults_seen = len(faults)
        if run.threads is not None and run.threads.error is not None and not run.engine_error_seen:
            run.engine_error_seen = True
            self.notify("error", f"spotting engine stopped: {run.threads.error}")
        if run.recorder is not None and run.recorder.error is not None:
            self.notify("error", f"recorder failed: {run.recorder.error}")
            self._close_recorder(run)
        if acquisition.camera_failed.is_set():
            self.notify("error", "camera lost: acquisition stopped")
            self._stop(rewind=False)
        elif run.setup is not None and run.setup.done(acquisition):
            self.notify("info", "end of the replayed source")
            self._stop(rewind=True)
        elif run.engine is not None and time.monotonic() >= self._next_mean_hrs:
            self._next_mean_hrs = time.monotonic() + MEAN_HRS_PERIOD_S
            self.hrs_mean = _mean_hrs(run.engine)


def _mean_hrs(engine: SpottingEngine) -> float:
    """The HRS filter's baseline now, as the engine's decisions compute it."""
    heart = engine.heart
    return engine.settings.hrs.baseline_mean(heart, engine.trial_start_sample, heart.samples_seen)


def _to_source_clock(alert: Alert, run: LiveRun) -> Alert:
    if not run.offset_s and not run.first_pulse:
        return alert
    return replace(alert, onset_s=alert.onset_s + run.offset_s, apex_s=alert.apex_s + run.offset_s,
                   offset_s=alert.offset_s + run.offset_s, onset_frame=alert.onset_frame + run.first_pulse,
                   apex_frame=alert.apex_frame + run.first_pulse,
                   offset_frame=alert.offset_frame + run.first_pulse)


def apex_thumbnail(run: LiveRun, alert: Alert, height: int = THUMBNAIL_PX) -> np.ndarray | None:
    """The apex frame (found by its stamp in the frame ring), cropped to the face when known and shrunk to
    about ``height`` pixels; None once the ring has moved past it."""
    ring = run.acquisition.frames
    if ring is None:
        return None
    apex = round(alert.apex_s * run.ecg_rate)  # the alert's own (run) clock
    half = max(1, round(run.ecg_rate / run.fps / 2))
    found = ring.read_range(apex - half, apex + half + 1)
    if not len(found.items):
        return None
    frame = found.items[int(np.argmin(np.abs(found.stamps - apex)))]
    box = face_box(run.engine)
    if box is not None:
        x, y, w, h = box
        crop = frame[max(y, 0): y + h, max(x, 0): x + w]
        frame = crop if crop.size else frame
    step = max(1, frame.shape[0] // height)
    thumb = np.ascontiguousarray(frame[::step, ::step])
    if found.is_view and not ring.still_valid(found.first_seq):
        return None  # overwritten while we copied
    return thumb


def face_box(engine: SpottingEngine | None) -> tuple[int, int, int, int] | None:
    """The video feature extractor's face box (x, y, w, h in sensor pixels), when it has one."""
    extractor = getattr(engine, "extractor", None)
    box = getattr(extractor, "face_box", None)
    if box is None:
        return None
    try:
        x, y, w, h = (int(v) for v in box)
    except (TypeError, ValueError):
        return None
    return (x, y, w, h) if w > 0 and h > 0 else None


def region_boxes(engine: SpottingEngine | None) -> list[tuple[int, int, int, int]]:
    """The extractor's AU regions (x, y, w, h in sensor pixels); empty when it has none."""
    extractor = getattr(engine, "extractor", None)
    getter = getattr(extractor, "region_boxes", None)
    if getter is None:
        return []
    try:
        boxes = getter()
        items = boxes.values() if isinstance(boxes, dict) else boxes
        return [tuple(int(v) for v in box)[:4] for box in items]  # type: ignore[misc]
    except Exception:  # the extractor is mid-update or has no face yet
        return []
