"""The lab GUI driven through the mock devices (pytest-qt, offscreen): live plots, an alert with its
thumbnail, recording, stop, CSV export, replay seek/pause, faults in the banner, closing while recording."""

from __future__ import annotations

import csv
import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from acquisition.session import SessionReader
from app.cli import main
from app.gui.controller import DeviceChoice, LabController, default_model_path
from app.gui.mocklab import OffsetSource
from app.gui.window import MainWindow
from hardware_mocks.sources import SessionSource

SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
SYNTH = ["--minutes", "0.2", "--size", "480x270", "--face-px", "96", "--seed", "7", "--quiet"]
START_TIMEOUT_MS = 15_000
ALERT_TIMEOUT_MS = 25_000
MIN_BEATS_FOR_SCREENSHOT = 6  # R-peaks, so that the screenshot shows heart rate and HRS
MIN_WINDOWS_FOR_THRESHOLD = 20  # scored windows before the test sets the threshold to their median
SPOTTING = importlib.util.find_spec("inference.features.video") is not None


@pytest.fixture(scope="module")
def source_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gui") / "synth"
    assert main(["synth", *SYNTH, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo model, or a randomly initialized CMCL-Net (threshold 0) while the demo model is missing."""
    if default_model_path().exists():
        return default_model_path()
    pytest.importorskip("torch")
    from inference.features.spec import FeatureSpec
    from inference.runtime import Normalization
    from models.cmcl_net import CmclNet
    from models.export import export_onnx

    path = tmp_path_factory.mktemp("model") / "cmcl-net-random.onnx"
    spec = FeatureSpec()
    export_onnx(CmclNet(spec), spec, path, normalization=Normalization.identity().to_dict(), threshold=0.0,
                trained_on={"random": True}, check_parity=False)
    return path


def make_window(tmp_path: Path, choice: DeviceChoice | None, model: Path | None = None) -> MainWindow:
    """A window on its own settings file; ``choice`` (when given) replaces the remembered devices."""
    settings = QtCore.QSettings(str(tmp_path / "gui.ini"), QtCore.QSettings.Format.IniFormat)
    controller = LabController(choice=choice, model_path=model or tmp_path / "no-model.onnx",
                               workdir=tmp_path / "mock-sources")
    window = MainWindow(controller, settings)
    if choice is not None:
        window.set_device_choice(choice)
    window.out_dir_edit.setText(str(tmp_path / "sessions"))
    window.show()
    return window


def dispose(window: MainWindow) -> None:
    """Close (finishes any recording) and delete the window before the interpreter goes."""
    window.close()
    window.deleteLater()
    QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
    QtWidgets.QApplication.processEvents()


@pytest.fixture
def replay_choice(source_session: Path) -> DeviceChoice:
    return DeviceChoice(kind="mock", source="session", session=str(source_session), speed="1")


@pytest.fixture
def window(qtbot, tmp_path: Path, replay_choice: DeviceChoice) -> Iterator[MainWindow]:
    w = make_window(tmp_path, replay_choice)
    yield w
    dispose(w)


def frames_seen(window: MainWindow) -> int:
    status = window.controller.status()
    return status.frames if status is not None else 0


@pytest.mark.skipif(not SPOTTING, reason="the video feature extractor (inference.features.video) is missing")
def test_live_session_alert_record_stop_export(qtbot, tmp_path: Path, replay_choice: DeviceChoice,
                                               model_path: Path) -> None:
    window = make_window(tmp_path, replay_choice, model_path)
    try:
        controller = window.controller
        window.start_acquisition()
        qtbot.waitUntil(lambda: controller.phase == "running", timeout=START_TIMEOUT_MS)
        engine = controller.engine
        assert engine is not None
        # an alert whatever the model's accuracy: the threshold goes to the median of the scores so far
        qtbot.waitUntil(lambda: len(engine.spotter.trace) >= MIN_WINDOWS_FOR_THRESHOLD,
                        timeout=START_TIMEOUT_MS)
        window.model_threshold_check.setChecked(False)
        window.threshold_spin.setValue(float(np.median(engine.spotter.trace)))
        assert engine.threshold == pytest.approx(window.threshold_spin.value())
        window.eta_spin.setValue(1.5)
        assert engine.settings.hrs.eta == 1.5
        qtbot.waitUntil(lambda: window.alert_table.rowCount() > 0, timeout=ALERT_TIMEOUT_MS)
        entry = controller.alerts[0]
        assert entry.alert.decision in ("genuine", "rejected", "unfiltered")
        assert entry.thumbnail is not None and entry.thumbnail.ndim == 2
        assert window.plots.ecg_curve.getData()[0] is not None
        qtbot.waitUntil(lambda: len(engine.heart.peaks) >= MIN_BEATS_FOR_SCREENSHOT
                        and np.isfinite(controller.hrs_mean), timeout=ALERT_TIMEOUT_MS)
        qtbot.wait(400)  # HR and HRS drawn (10 Hz), the alert shaded
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        assert window.grab().save(str(SCREENSHOTS / "main-window.png"))
        assert window.plots.grab().save(str(SCREENSHOTS / "plots.png"))

        window.set_recording(True)
        qtbot.waitUntil(lambda: controller.is_recording, timeout=START_TIMEOUT_MS)
        qtbot.waitUntil(lambda: frames_seen(window) > 150, timeout=START_TIMEOUT_MS)
        window.stop_acquisition()
        qtbot.waitUntil(lambda: controller.phase == "idle" and not controller.busy, timeout=START_TIMEOUT_MS)
        qtbot.wait(100)  # the last tick drains the final alerts

        session = controller.last_session
        assert session is not None
        reader = SessionReader(session)
        assert reader.metadata.closed and len(reader) > 150 and reader.ecg_sample_count > 1000
        assert reader.metadata.subject == window.subject_edit.text()

        out = tmp_path / "alerts.csv"
        assert window.export_csv(out) == len(controller.alerts) > 0
        with out.open() as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == len(controller.alerts)
        assert {"onset", "offset", "apex", "class", "decision", "score"} <= set(rows[0])
    finally:
        dispose(window)


def test_record_then_close_while_recording(qtbot, window: MainWindow, tmp_path: Path) -> None:
    """Recording armed before start; closing the window mid-recording leaves a closed session."""
    controller = window.controller
    window.set_recording(True)
    window.start_acquisition()
    qtbot.waitUntil(lambda: controller.is_recording, timeout=START_TIMEOUT_MS)
    qtbot.waitUntil(lambda: frames_seen(window) > 100, timeout=START_TIMEOUT_MS)
    qtbot.wait(200)
    assert window.video.image.image is not None  # the preview shows frames
    assert window.status_labels["camera"].text().startswith("camera")
    window.close()
    assert controller.phase == "idle"
    reader = SessionReader(controller.last_session)
    assert reader.metadata.closed and len(reader) >= 100
    assert reader.metadata.summary["frames_dropped"] == 0


def test_seek_and_pause_restart_the_replay_there(qtbot, window: MainWindow) -> None:
    controller = window.controller
    controller.seek(6.0)
    window.start_acquisition()
    qtbot.waitUntil(lambda: frames_seen(window) > 30, timeout=START_TIMEOUT_MS)
    assert 6.0 <= controller.position_s() < 9.0
    assert controller.run is not None and controller.run.offset_s == pytest.approx(6.0, abs=0.01)
    window.pause_replay()
    qtbot.waitUntil(lambda: controller.phase == "idle", timeout=START_TIMEOUT_MS)
    paused = controller.position_s()
    assert paused > 6.0
    window.start_acquisition()  # play: from where it paused
    qtbot.waitUntil(lambda: controller.phase == "running", timeout=START_TIMEOUT_MS)
    assert controller.run.offset_s == pytest.approx(paused, abs=0.01)
    window.stop_acquisition()
    qtbot.waitUntil(lambda: controller.phase == "idle", timeout=START_TIMEOUT_MS)
    assert controller.position_s() == 0.0  # stop rewinds


def test_offset_source_plays_the_rest_of_the_trial(source_session: Path) -> None:
    base = SessionSource(source_session)
    try:
        offset = OffsetSource(base, 300)
        assert offset.edges[0] == 0 and offset.n_pulses == base.n_pulses - 300
        assert np.array_equal(offset.ecg_rows(0, 5), base.ecg_rows(offset.first_row, offset.first_row + 5))
        assert offset.ecg_rows(0, 1)[0, 1] > 2.5  # the trigger is high at the first edge
    finally:
        base.close()


def test_device_faults_show_in_the_banner(qtbot, tmp_path: Path, source_session: Path) -> None:
    choice = DeviceChoice(kind="mock", source="session", session=str(source_session),
                          overrides=("mock.fault_ecg_drop_after_s=1",))
    window = make_window(tmp_path, choice)
    try:
        window.start_acquisition()
        qtbot.waitUntil(lambda: window.banner.isVisible() and "device fault" in window.banner.label.text(),
                        timeout=START_TIMEOUT_MS)
        assert window.banner.level == "warning"
        assert window.controller.phase == "running"  # video goes on without the ECG
        window.stop_acquisition()
        qtbot.waitUntil(lambda: window.controller.phase == "idle", timeout=START_TIMEOUT_MS)
    finally:
        dispose(window)


def test_a_missing_session_is_a_message_not_a_traceback(qtbot, window: MainWindow, tmp_path: Path) -> None:
    window.open_session(tmp_path / "no-such-session")
    qtbot.waitUntil(lambda: window.banner.isVisible() and window.banner.level == "error",
                    timeout=START_TIMEOUT_MS)
    assert "no-such-session" in window.banner.label.text()
    assert window.controller.phase == "idle"


def test_settings_are_remembered(qtbot, tmp_path: Path, replay_choice: DeviceChoice) -> None:
    window = make_window(tmp_path, replay_choice)
    window.subject_edit.setText("S42")
    window.eta_spin.setValue(3.25)
    window.speed_combo.setCurrentIndex(window.speed_combo.findData("max"))
    dispose(window)
    again = make_window(tmp_path, None)
    try:
        assert again.subject_edit.text() == "S42"
        assert again.eta_spin.value() == 3.25
        assert again.speed_combo.currentData() == "max"
    finally:
        dispose(again)


def test_shortcuts_are_set(window: MainWindow) -> None:
    shortcuts = {a.text(): a.shortcut().toString() for a in (
        window.start_action, window.stop_action, window.record_action, window.export_action,
        window.open_action)}
    assert shortcuts == {"Start": "F5", "Stop": "Shift+F5", "Record": "Ctrl+R", "Export CSV...": "Ctrl+E",
                         "Open session...": "Ctrl+O"}


def test_the_gui_command_opens_a_session_and_quits(qapp, tmp_path: Path, source_session: Path) -> None:
    """`mespot gui SESSION`: the window opens the session for replay; closing it ends the command."""
    from app.cli import build_parser

    QtCore.QSettings.setPath(QtCore.QSettings.Format.NativeFormat, QtCore.QSettings.Scope.UserScope,
                             str(tmp_path))  # keep the user's own settings out of it
    args = build_parser("gui").parse_args(["gui", str(source_session), "--model",
                                           str(tmp_path / "none.onnx")])
    seen: dict[str, object] = {}

    def close_when_connected() -> None:
        windows = [w for w in qapp.topLevelWidgets() if isinstance(w, MainWindow)]
        if windows and windows[0].controller.phase == "connected":
            seen["duration"] = windows[0].controller.duration_s()
            windows[0].close()
        else:
            QtCore.QTimer.singleShot(100, close_when_connected)

    QtCore.QTimer.singleShot(100, close_when_connected)
    assert args.run(args) == 0
    assert seen["duration"] == pytest.approx(12.0, abs=0.1)


@pytest.mark.skipif(not SPOTTING, reason="the video feature extractor (inference.features.video) is missing")
def test_the_training_free_spotter_runs_in_the_window(qtbot, window: MainWindow) -> None:
    """Chosen in the Spotting box: no model file needed; its score trace is plotted against its threshold."""
    window.spotter_combo.setCurrentIndex(window.spotter_combo.findData("flow"))
    assert not window.model_edit.isEnabled()
    controller = window.controller
    window.start_acquisition()
    qtbot.waitUntil(lambda: controller.engine is not None, timeout=START_TIMEOUT_MS)
    engine = controller.engine
    assert engine.spotter.kind == "flow" and engine.threshold == 1.0
    qtbot.waitUntil(lambda: np.isfinite(engine.spotter.trace).sum() > 10, timeout=ALERT_TIMEOUT_MS)
    qtbot.wait(200)
    x, _ = window.plots.score_curve.getData()
    assert x is not None and len(x) > 0
    window.stop_acquisition()
    qtbot.waitUntil(lambda: controller.phase == "idle", timeout=START_TIMEOUT_MS)


def test_a_subject_name_that_leaves_the_output_folder_is_refused(qtbot, window: MainWindow,
                                                                 tmp_path: Path) -> None:
    controller = window.controller
    controller.start_recording("../../escape", "1", str(tmp_path / "out"))
    notices = controller.notices()
    assert any(n.level == "error" and "subject" in n.text for n in notices)
    assert not controller.is_recording and not (tmp_path / "out").exists()
    assert not list(tmp_path.parent.glob("escape*"))
