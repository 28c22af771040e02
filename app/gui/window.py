"""The lab main window: controls on the left, video preview and alert list, the signal plots, a banner for
faults and a status bar.

Rendering: one QTimer on the Qt thread, at most ``RENDER_HZ``; each tick drains the controller's notices
and alerts and redraws from the ring buffers (see ``app.gui.views``). Nothing here runs on, or waits for,
an acquisition thread; device commands go to the controller's worker thread.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from app.gui.controller import DeviceChoice, LabController, Notice, ProcessCpu, default_model_path
from app.gui.qtfix import pin_singletons
from app.gui.views import AlertTable, Banner, SignalPlots, VideoView

RENDER_HZ = 30  # plots and preview are redrawn at most this often
RENDER_INTERVAL_MS = round(1000 / RENDER_HZ)
CURVE_EVERY_N_TICKS = 3  # HR and HRS change slowly: redrawn at 10 Hz
STATUS_INTERVAL_S = 0.25  # status bar, buttons and replay position
ECG_RATE_WINDOW_S = 1.0  # the ECG rate shown is measured over this long
TICK_HISTORY = 100_000  # per-tick update times kept (for the benchmark)
SEEK_STEPS_PER_S = 10  # the replay slider moves in 0.1 s steps
SETTINGS_ORGANIZATION = "mespot"
SETTINGS_APPLICATION = "gui"
WINDOW_TITLE = "mespot lab"
MAX_THRESHOLD = 20.0  # CMCL-Net scores lie in 0..1; the flow spotter's are motion over its adaptive threshold
DEFAULT_SIZE = (1500, 900)

SOURCES = ("synthetic", "session", "video+ecg")

pin_singletons()
SPEEDS = (("1x (real time)", "1"), ("max", "max"))


class MainWindow(QtWidgets.QMainWindow):
    """The lab GUI; ``controller`` and ``settings`` are made here unless given (tests pass their own)."""

    def __init__(self, controller: LabController | None = None, settings: QtCore.QSettings | None = None,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings or QtCore.QSettings(SETTINGS_ORGANIZATION, SETTINGS_APPLICATION)
        self._overrides: tuple[str, ...] = ()  # --set overrides from the command line (not in the panel)
        self.setWindowTitle(WINDOW_TITLE)
        self.resize(*DEFAULT_SIZE)
        self._build_widgets()
        self._build_actions()
        self._load_settings()
        if controller is None:
            controller = LabController(choice=self.device_choice(), model_path=self._model_path(),
                                       eta=self.eta_spin.value(), threshold=self._threshold_setting())
        else:  # a given controller keeps its model; the remembered eta and threshold apply to it
            self.model_edit.setText(str(controller.model_path))
            controller.set_eta(self.eta_spin.value())
            controller.set_threshold(self._threshold_setting())
        self.controller = controller
        self.cpu = ProcessCpu()
        self.tick_ms: deque[float] = deque(maxlen=TICK_HISTORY)
        self._ticks = 0
        self._alerts_epoch = -1
        self._drawn_run: object = None
        self._drawn_finished = False
        self._next_status = 0.0
        self._ecg_counts: deque[tuple[float, int]] = deque()
        self._closed = False
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(RENDER_INTERVAL_MS)
        self.timer.timeout.connect(self.tick)
        self.timer.start()
        self._refresh_controls()

    # -- layout ---------------------------------------------------------------------------------------
    def _build_widgets(self) -> None:
        self.banner = Banner()
        self.video = VideoView()
        self.alert_table = AlertTable()
        self.plots = SignalPlots()
        left = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        left.addWidget(self.video)
        left.addWidget(self.alert_table)
        left.setSizes([380, 420])
        self.main_split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        self.main_split.addWidget(left)
        self.main_split.addWidget(self.plots)
        self.main_split.setSizes([520, 800])
        self.left_split = left
        central = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.banner)
        layout.addWidget(self.main_split, 1)
        self.setCentralWidget(central)

        panel = QtWidgets.QWidget()
        form = QtWidgets.QVBoxLayout(panel)
        form.addWidget(self._devices_group())
        form.addWidget(self._acquisition_group())
        form.addWidget(self._recording_group())
        form.addWidget(self._spotting_group())
        form.addWidget(self._replay_group())
        form.addStretch(1)
        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(panel)
        self.controls_dock = QtWidgets.QDockWidget("Controls", self)
        self.controls_dock.setObjectName("controls")
        self.controls_dock.setWidget(scroll)
        self.controls_dock.setFeatures(QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, self.controls_dock)

        self.status_labels: dict[str, QtWidgets.QLabel] = {}
        for key in ("phase", "camera", "dropped", "ecg", "sync", "latency", "cpu"):
            label = QtWidgets.QLabel("-")
            label.setMinimumWidth(90)
            self.status_labels[key] = label
            self.statusBar().addPermanentWidget(label)

    @staticmethod
    def _path_row(edit: QtWidgets.QLineEdit, browse: QtWidgets.QPushButton) -> QtWidgets.QWidget:
        row = QtWidgets.QWidget()
        layout = QtWidgets.QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(edit, 1)
        layout.addWidget(browse)
        return row

    def _browse_button(self, edit: QtWidgets.QLineEdit, kind: str, caption: str) -> QtWidgets.QPushButton:
        button = QtWidgets.QPushButton("...")
        button.setFixedWidth(30)

        def browse() -> None:
            if kind == "dir":
                path = QtWidgets.QFileDialog.getExistingDirectory(self, caption, edit.text())
            else:
                path, _ = QtWidgets.QFileDialog.getOpenFileName(self, caption, edit.text())
            if path:
                edit.setText(path)

        button.clicked.connect(browse)
        return button

    def _devices_group(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Devices")
        form = QtWidgets.QFormLayout(box)
        self.kind_combo = QtWidgets.QComboBox()
        self.kind_combo.addItem("mock devices", "mock")
        self.kind_combo.addItem("real devices", "real")
        self.config_edit = QtWidgets.QLineEdit()
        self.config_edit.setPlaceholderText("lab TOML (empty: defaults)")
        self.source_combo = QtWidgets.QComboBox()
        self.source_combo.addItems(list(SOURCES))
        self.session_edit = QtWidgets.QLineEdit()
        self.video_edit = QtWidgets.QLineEdit()
        self.ecg_edit = QtWidgets.QLineEdit()
        self.ecg_rate_spin = QtWidgets.QDoubleSpinBox()
        self.ecg_rate_spin.setRange(0.0, 100_000.0)
        self.ecg_rate_spin.setSpecialValueText("from file")
        self.connect_button = QtWidgets.QPushButton("Connect")
        form.addRow("devices", self.kind_combo)
        form.addRow("lab config", self._path_row(self.config_edit, self._browse_button(
            self.config_edit, "file", "Lab configuration")))
        form.addRow("mock source", self.source_combo)
        form.addRow("session", self._path_row(self.session_edit, self._browse_button(
            self.session_edit, "dir", "Session directory")))
        form.addRow("video", self._path_row(self.video_edit, self._browse_button(
            self.video_edit, "file", "Video file")))
        form.addRow("ECG", self._path_row(self.ecg_edit, self._browse_button(
            self.ecg_edit, "file", "ECG file")))
        form.addRow("ECG rate", self.ecg_rate_spin)
        form.addRow(self.connect_button)
        self.kind_combo.currentIndexChanged.connect(self._refresh_controls)
        self.source_combo.currentIndexChanged.connect(self._refresh_controls)
        return box

    def _acquisition_group(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Acquisition")
        layout = QtWidgets.QHBoxLayout(box)
        self.start_button = QtWidgets.QPushButton("Start")
        self.stop_button = QtWidgets.QPushButton("Stop")
        layout.addWidget(self.start_button)
        layout.addWidget(self.stop_button)
        return box

    def _recording_group(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Recording")
        form = QtWidgets.QFormLayout(box)
        self.subject_edit = QtWidgets.QLineEdit()
        self.trial_edit = QtWidgets.QLineEdit()
        self.out_dir_edit = QtWidgets.QLineEdit()
        self.record_button = QtWidgets.QPushButton("Record")
        self.record_button.setCheckable(True)
        form.addRow("subject", self.subject_edit)
        form.addRow("trial", self.trial_edit)
        form.addRow("folder", self._path_row(self.out_dir_edit, self._browse_button(
            self.out_dir_edit, "dir", "Sessions folder")))
        form.addRow(self.record_button)
        return box

    def _spotting_group(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Spotting")
        form = QtWidgets.QFormLayout(box)
        self.spotter_combo = QtWidgets.QComboBox()
        self.spotter_combo.addItem("CMCL-Net model", "model")
        self.spotter_combo.addItem("training-free (optical flow)", "flow")
        self.model_edit = QtWidgets.QLineEdit()
        self.eta_spin = QtWidgets.QDoubleSpinBox()
        self.eta_spin.setRange(0.0, 20.0)
        self.eta_spin.setSingleStep(0.1)
        self.eta_spin.setDecimals(2)
        self.threshold_spin = QtWidgets.QDoubleSpinBox()
        self.threshold_spin.setRange(0.0, MAX_THRESHOLD)
        self.threshold_spin.setSingleStep(0.01)
        self.threshold_spin.setDecimals(3)
        self.model_threshold_check = QtWidgets.QCheckBox("model's own")
        threshold_row = QtWidgets.QWidget()
        row = QtWidgets.QHBoxLayout(threshold_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.threshold_spin, 1)
        row.addWidget(self.model_threshold_check)
        self.export_button = QtWidgets.QPushButton("Export CSV...")
        form.addRow("spotter", self.spotter_combo)
        form.addRow("model", self._path_row(self.model_edit, self._browse_button(
            self.model_edit, "file", "ONNX model or spotter file")))
        form.addRow("eta (HRS filter)", self.eta_spin)
        form.addRow("threshold", threshold_row)
        form.addRow(self.export_button)
        self.eta_spin.valueChanged.connect(self._eta_changed)
        self.threshold_spin.valueChanged.connect(self._threshold_changed)
        self.model_threshold_check.toggled.connect(self._threshold_changed)
        self.model_edit.editingFinished.connect(self._model_changed)
        self.spotter_combo.currentIndexChanged.connect(self._model_changed)
        return box

    def _replay_group(self) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox("Replay")
        form = QtWidgets.QFormLayout(box)
        self.open_button = QtWidgets.QPushButton("Open session...")
        buttons = QtWidgets.QWidget()
        row = QtWidgets.QHBoxLayout(buttons)
        row.setContentsMargins(0, 0, 0, 0)
        self.play_button = QtWidgets.QPushButton("Play")
        self.pause_button = QtWidgets.QPushButton("Pause")
        row.addWidget(self.play_button)
        row.addWidget(self.pause_button)
        self.speed_combo = QtWidgets.QComboBox()
        for text, value in SPEEDS:
            self.speed_combo.addItem(text, value)
        self.seek_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.seek_slider.setRange(0, 0)
        self.position_label = QtWidgets.QLabel("0.0 / - s")
        form.addRow(self.open_button)
        form.addRow(buttons)
        form.addRow("speed", self.speed_combo)
        form.addRow("position", self.seek_slider)
        form.addRow("", self.position_label)
        self.seek_slider.sliderReleased.connect(self._seek_released)
        self.speed_combo.activated.connect(self._speed_changed)
        return box

    def _build_actions(self) -> None:
        """Menu and toolbar actions with the keyboard shortcuts of frequent operations."""
        def action(text: str, shortcut: str, slot, tip: str) -> QtGui.QAction:
            act = QtGui.QAction(text, self)
            act.setShortcut(QtGui.QKeySequence(shortcut))
            act.setToolTip(f"{tip} ({shortcut})")
            act.triggered.connect(slot)
            return act

        self.connect_action = action("Connect", "Ctrl+K", self.connect_devices, "Open the devices")
        self.start_action = action("Start", "F5", self.start_acquisition, "Start acquisition")
        self.stop_action = action("Stop", "Shift+F5", self.stop_acquisition, "Stop acquisition")
        self.record_action = action("Record", "Ctrl+R", self._record_triggered, "Start or stop recording")
        self.record_action.setCheckable(True)
        self.open_action = action("Open session...", "Ctrl+O", self._open_dialog, "Replay a recorded session")
        self.play_action = action("Play/Pause", "Ctrl+P", self.play_pause, "Play or pause the replay")
        self.export_action = action("Export CSV...", "Ctrl+E", self._export_dialog, "Export the alerts")
        self.quit_action = action("Quit", "Ctrl+Q", self.close, "Quit (finishes a recording)")
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main-toolbar")
        for act in (self.connect_action, self.start_action, self.stop_action, self.record_action,
                    self.open_action, self.play_action, self.export_action):
            toolbar.addAction(act)
        menu = self.menuBar().addMenu("&Lab")
        for act in (self.connect_action, self.start_action, self.stop_action, self.record_action,
                    self.open_action, self.play_action, self.export_action, self.quit_action):
            menu.addAction(act)
        self.connect_button.clicked.connect(self.connect_devices)
        self.start_button.clicked.connect(self.start_acquisition)
        self.stop_button.clicked.connect(self.stop_acquisition)
        self.record_button.clicked.connect(self._record_triggered)
        self.open_button.clicked.connect(self._open_dialog)
        self.play_button.clicked.connect(self.start_acquisition)
        self.pause_button.clicked.connect(self.pause_replay)
        self.export_button.clicked.connect(self._export_dialog)

    # -- settings -------------------------------------------------------------------------------------
    def _load_settings(self) -> None:
        s = self.settings
        self.kind_combo.setCurrentIndex(max(0, self.kind_combo.findData(s.value("devices/kind", "mock"))))
        self.config_edit.setText(str(s.value("devices/config", "")))
        self.source_combo.setCurrentText(str(s.value("devices/source", "synthetic")))
        self.session_edit.setText(str(s.value("devices/session", "")))
        self.video_edit.setText(str(s.value("devices/video", "")))
        self.ecg_edit.setText(str(s.value("devices/ecg", "")))
        self.ecg_rate_spin.setValue(float(s.value("devices/ecg_rate", 0.0)))
        self.speed_combo.setCurrentIndex(max(0, self.speed_combo.findData(s.value("replay/speed", "1"))))
        self.subject_edit.setText(str(s.value("recording/subject", "S01")))
        self.trial_edit.setText(str(s.value("recording/trial", "1")))
        self.out_dir_edit.setText(str(s.value("recording/out_dir", "sessions")))
        self.model_edit.setText(str(s.value("spotting/model", str(default_model_path()))))
        self.spotter_combo.setCurrentIndex(max(0, self.spotter_combo.findData(s.value("spotting/spotter",
                                                                                      "model"))))
        self.eta_spin.setValue(float(s.value("spotting/eta", 2.0)))
        threshold = str(s.value("spotting/threshold", ""))
        self.model_threshold_check.setChecked(threshold == "")
        self.threshold_spin.setValue(float(threshold) if threshold else 0.5)
        geometry = s.value("window/geometry")
        if isinstance(geometry, QtCore.QByteArray):
            self.restoreGeometry(geometry)
        state = s.value("window/state")
        if isinstance(state, QtCore.QByteArray):
            self.restoreState(state)

    def save_settings(self) -> None:
        s = self.settings
        choice = self.device_choice()
        for key, value in (("devices/kind", choice.kind), ("devices/config", choice.config_path),
                           ("devices/source", choice.source), ("devices/session", choice.session),
                           ("devices/video", choice.video), ("devices/ecg", choice.ecg),
                           ("devices/ecg_rate", choice.ecg_rate), ("replay/speed", choice.speed),
                           ("recording/subject", self.subject_edit.text()),
                           ("recording/trial", self.trial_edit.text()),
                           ("recording/out_dir", self.out_dir_edit.text()),
                           ("spotting/model", self.model_edit.text()),
                           ("spotting/spotter", self.spotter_combo.currentData()),
                           ("spotting/eta", self.eta_spin.value()),
                           ("spotting/threshold", "" if self._threshold_setting() is None
                            else self._threshold_setting())):
            s.setValue(key, value)
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.sync()

    def _threshold_setting(self) -> float | None:
        return None if self.model_threshold_check.isChecked() else self.threshold_spin.value()

    def _model_path(self) -> Path:
        if self.spotter_combo.currentData() == "flow":
            return Path("flow")
        return Path(self.model_edit.text()) if self.model_edit.text() else default_model_path()

    # -- device choice --------------------------------------------------------------------------------
    def device_choice(self) -> DeviceChoice:
        """The devices the panel describes."""
        return DeviceChoice(kind=self.kind_combo.currentData(), config_path=self.config_edit.text().strip(),
                            source=self.source_combo.currentText(),  # type: ignore[arg-type]
                            session=self.session_edit.text().strip(), video=self.video_edit.text().strip(),
                            ecg=self.ecg_edit.text().strip(), ecg_rate=self.ecg_rate_spin.value(),
                            speed=self.speed_combo.currentData(), overrides=self._overrides)

    def set_device_choice(self, choice: DeviceChoice) -> None:
        """Show ``choice`` in the panel (the controller takes it at the next connect or start)."""
        self._overrides = choice.overrides
        self.kind_combo.setCurrentIndex(max(0, self.kind_combo.findData(choice.kind)))
        self.config_edit.setText(choice.config_path)
        self.source_combo.setCurrentText(choice.source)
        self.session_edit.setText(choice.session)
        self.video_edit.setText(choice.video)
        self.ecg_edit.setText(choice.ecg)
        self.ecg_rate_spin.setValue(choice.ecg_rate)
        self.speed_combo.setCurrentIndex(max(0, self.speed_combo.findData(choice.speed)))

    def _apply_choice(self) -> bool:
        """Hand a changed device choice to the controller; False while acquisition runs on other devices."""
        choice = self.device_choice()
        current = self.controller.choice
        if choice == current:
            return True
        if choice == replace(current, speed=choice.speed):
            self.controller.set_speed(choice.speed)
            return True
        if self.controller.phase == "running":
            self.banner.show_message("warning", "stop acquisition before changing devices")
            return False
        self.controller.choose_devices(choice)
        return True

    # -- actions --------------------------------------------------------------------------------------
    def connect_devices(self) -> None:
        if self._apply_choice():
            self.controller.connect()

    def start_acquisition(self) -> None:
        if self._apply_choice():
            self.controller.start()

    def stop_acquisition(self) -> None:
        self.controller.stop()

    def pause_replay(self) -> None:
        self.controller.pause()

    def play_pause(self) -> None:
        if self.controller.phase == "running":
            self.pause_replay()
        else:
            self.start_acquisition()

    def set_recording(self, on: bool) -> None:
        if on:
            self.controller.start_recording(self.subject_edit.text().strip() or "S01",
                                            self.trial_edit.text().strip() or "1",
                                            self.out_dir_edit.text().strip() or "sessions")
        else:
            self.controller.stop_recording()

    def _record_triggered(self) -> None:
        self.set_recording(self.controller.recording is None)

    def open_session(self, path: Path) -> None:
        """Replay a recorded session (connects the mock devices to it; Play starts it)."""
        if self.controller.phase == "running":
            self.controller.stop()
        self.kind_combo.setCurrentIndex(self.kind_combo.findData("mock"))
        self.source_combo.setCurrentText("session")
        self.session_edit.setText(str(path))
        self.controller.open_session(Path(path))

    def _open_dialog(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Open a recorded session",
                                                          self.out_dir_edit.text())
        if path:
            self.open_session(Path(path))

    def export_csv(self, path: Path) -> int:
        """Write the listed alerts to ``path``; shows the outcome in the banner."""
        try:
            rows = self.controller.export_csv(Path(path))
        except OSError as exc:
            self.banner.show_message("error", f"could not write {path}: {exc}")
            return 0
        self.banner.show_message("info", f"{rows} alerts written to {path}")
        return rows

    def _export_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export alerts", "alerts.csv", "CSV (*.csv)")
        if path:
            self.export_csv(Path(path))

    def _eta_changed(self, value: float) -> None:
        if hasattr(self, "controller"):
            self.controller.set_eta(value)

    def _threshold_changed(self, *_: object) -> None:
        self.threshold_spin.setEnabled(not self.model_threshold_check.isChecked())
        if hasattr(self, "controller"):
            self.controller.set_threshold(self._threshold_setting())

    def _model_changed(self, *_: object) -> None:
        self.model_edit.setEnabled(self.spotter_combo.currentData() != "flow")
        if hasattr(self, "controller"):
            self.controller.set_model_path(self._model_path())

    def _seek_released(self) -> None:
        self.controller.seek(self.seek_slider.value() / SEEK_STEPS_PER_S)

    def _speed_changed(self, _index: int) -> None:
        self._apply_choice()

    # -- rendering ------------------------------------------------------------------------------------
    def tick(self) -> None:
        """One render step: notices, alerts, preview, plots; status at a lower rate."""
        started = time.perf_counter()
        controller = self.controller
        for notice in controller.notices():
            self.show_notice(notice)
        if controller.alerts_epoch != self._alerts_epoch:
            self._alerts_epoch = controller.alerts_epoch
            self.alert_table.setRowCount(0)
        for entry in controller.poll_alerts():
            self.alert_table.add(entry)
        run = controller.run
        if run is not self._drawn_run:
            self._drawn_run, self._drawn_finished = run, False
            self.plots.clear_run()
        if run is not None and not self._drawn_finished:
            self._drawn_finished = run.finished  # one last draw after the run ended, then none
            self.video.update_from(run)
            self.plots.update_from(run, curves=self._ticks % CURVE_EVERY_N_TICKS == 0 or run.finished,
                                   hrs_mean=controller.hrs_mean)
        self.plots.show_alerts(controller.alerts, controller.alerts_epoch)
        now = time.monotonic()
        if now >= self._next_status:
            self._next_status = now + STATUS_INTERVAL_S
            self._update_status(now)
            self._refresh_controls()
        self._ticks += 1
        self.tick_ms.append((time.perf_counter() - started) * 1000.0)

    def show_notice(self, notice: Notice) -> None:
        self.banner.show_message(notice.level, notice.text)
        self.statusBar().showMessage(notice.text, 10_000)

    def _update_status(self, now: float) -> None:
        controller = self.controller
        labels = self.status_labels
        status = controller.status()
        phase = controller.phase + (" - recording" if controller.is_recording else "")
        labels["phase"].setText(phase + (" (busy)" if controller.busy else ""))
        labels["cpu"].setText(f"CPU {self.cpu.percent():.0f}%")
        if status is None:
            self._ecg_counts.clear()
            return
        self._ecg_counts.append((now, status.ecg_samples))
        while len(self._ecg_counts) > 2 and now - self._ecg_counts[1][0] >= ECG_RATE_WINDOW_S:
            self._ecg_counts.popleft()
        (t0, n0), (t1, n1) = self._ecg_counts[0], self._ecg_counts[-1]
        ecg_rate = (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0
        labels["camera"].setText(f"camera {status.camera_fps:.1f} fps")
        labels["dropped"].setText(f"dropped {status.frames_dropped}")
        labels["ecg"].setText(f"ECG {ecg_rate:.0f} Hz, lost {status.ecg_lost}")
        labels["sync"].setText(f"sync error {status.worst_sync_error_frames} fr")
        latencies = [e.alert.latency_s for e in controller.alerts if e.alert.latency_s > 0]
        if latencies:
            labels["latency"].setText(f"alert latency {latencies[-1]:.2f} s "
                                      f"(median {float(np.median(latencies)):.2f})")

    def _refresh_controls(self) -> None:
        if not hasattr(self, "controller"):
            return
        controller = self.controller
        phase = controller.phase
        mock = self.kind_combo.currentData() == "mock"
        running = phase == "running"
        for widget in (self.connect_action, self.connect_button):
            widget.setEnabled(not running)
        for widget in (self.start_action, self.start_button, self.play_button):
            widget.setEnabled(not running)
        for widget in (self.stop_action, self.stop_button):
            widget.setEnabled(phase != "idle")
        recording = controller.recording is not None
        self.record_action.setChecked(recording)
        self.record_button.setChecked(recording)
        self.record_button.setText("Stop recording" if controller.is_recording else
                                   "Recording armed" if recording else "Record")
        self.pause_button.setEnabled(running and mock)
        self.play_button.setEnabled(mock and not running)
        self.play_action.setEnabled(mock)
        self.seek_slider.setEnabled(mock)
        self.source_combo.setEnabled(mock)
        source = self.source_combo.currentText()
        self.session_edit.setEnabled(mock and source == "session")
        for widget in (self.video_edit, self.ecg_edit, self.ecg_rate_spin):
            widget.setEnabled(mock and source == "video+ecg")
        duration = controller.duration_s()
        position = controller.position_s()
        if duration is not None:
            self.seek_slider.setMaximum(round(duration * SEEK_STEPS_PER_S))
            if not self.seek_slider.isSliderDown():
                self.seek_slider.setValue(round(position * SEEK_STEPS_PER_S))
        self.position_label.setText(f"{position:.1f} / {duration:.1f} s" if duration is not None
                                    else f"{position:.1f} / - s")
        engine = controller.engine
        if engine is not None and self.model_threshold_check.isChecked():
            self.threshold_spin.blockSignals(True)
            self.threshold_spin.setValue(engine.threshold)
            self.threshold_spin.blockSignals(False)

    # -- closing --------------------------------------------------------------------------------------
    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        """Finish cleanly: a recording is closed as a complete session before the window goes."""
        if not self._closed:
            self._closed = True
            self.timer.stop()
            self.save_settings()
            self.statusBar().showMessage("stopping...")
            QtWidgets.QApplication.processEvents()
            self.controller.close()
        event.accept()
