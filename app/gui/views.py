"""Qt views of the lab: the video preview, the signal plots, the alert list, the fault banner.

Views only read: each ``update`` takes what it needs from the controller's current run (ring buffers with
``latest``/``latest_ms``, the engine's lists and heart-rate curves), decimates it and hands it to
pyqtgraph. They are called from the window's render timer on the Qt thread, never from the acquisition.
"""

from __future__ import annotations

import bisect
import math
from typing import ClassVar

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from app.gui.controller import AlertEntry, LiveRun, face_box, region_boxes
from app.gui.qtfix import pin_singletons
from inference.alerts import Alert

pin_singletons()  # before any widget: PySide6 6.12 on CPython 3.11 leaks references to None (see qtfix)

PREVIEW_MIN_NEW_FRAMES = 3  # a new preview once this many frames arrived: with the 30 Hz timer at 150 fps
# the preview shows every 5th frame, and a tick that comes a little early still gets one
PREVIEW_MAX_WIDTH = 640  # preview pixels across (the frame is shrunk by an integer step)
HISTORY_S = 10.0  # time shown by the scrolling plots
ECG_PLOT_BINS = 1000  # the ECG is drawn as min/max pairs of this many bins (peaks survive)
HR_STEP_SAMPLES = 20  # HR and HRS are drawn every 20 ECG samples (20 ms at 1 kHz)
REGION_POOL = 16  # spotted intervals shaded at once (the newest)
MAX_ALERT_ROWS = 500
THUMBNAIL_SIZE = 56  # pixels of a thumbnail in the alert list

DECISION_COLOURS = {"genuine": (46, 160, 67), "rejected": (214, 39, 40), "unfiltered": (255, 127, 14)}
REGION_ALPHA = 90
Y_MARGIN = 0.1  # y ranges leave this fraction of the data's span free above and below
Y_FILL_MIN = 0.5  # ... and shrink when the data fill less than this fraction of them
MIN_SPANS = {"ecg": 0.5, "hr": 10.0, "hrs": 2.0}  # smallest y spans (mV, bpm, bpm/s)
LIMIT_LABEL_POSITION = 0.02  # along the line, from the left edge
LIMIT_LABEL_COLOUR = (255, 120, 120)
ECG_PEN = pg.mkPen((220, 220, 220), width=1)
HR_PEN = pg.mkPen((180, 120, 255), width=2)
HRS_PEN = pg.mkPen((200, 150, 90), width=2)
SCORE_PEN = pg.mkPen((120, 200, 255), width=2)
LIMIT_PEN = pg.mkPen((255, 80, 80), width=1, style=QtCore.Qt.PenStyle.DashLine)
BOX_PEN = pg.mkPen((0, 255, 120), width=2)
REGION_PEN = pg.mkPen((255, 220, 0), width=1)


def peak_decimate(y: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of min/max pairs over ``bins`` equal bins of ``y`` (y itself when short).

    A bin with a lost (NaN) sample stays NaN, so gaps show in the plot.
    """
    n = len(y)
    per_bin = n // bins if bins > 0 else 0
    if per_bin < 2:
        return np.arange(n, dtype=np.float64), np.asarray(y, dtype=np.float64)
    skip = n - per_bin * bins
    blocks = y[skip:].reshape(bins, per_bin)
    values = np.empty(2 * bins)
    values[0::2] = blocks.min(axis=1)
    values[1::2] = blocks.max(axis=1)
    index = skip + np.repeat(np.arange(bins) * per_bin, 2) + np.tile([0, per_bin // 2], bins)
    return index.astype(np.float64), values


def set_label(line: pg.InfiniteLine, text: str) -> None:
    """Change a line's label only when its text changes (each change lays out rich text)."""
    if line.label.format != text:
        line.label.setFormat(text)


class YRange:
    """A plot's y range, set by hand from the data drawn (pyqtgraph's auto-range would repaint the plot a
    second time per frame); it changes only when the data leave it or fill less than half of it."""

    def __init__(self, plot: pg.PlotItem, min_span: float, floor: float | None = None) -> None:
        self.plot = plot
        self.min_span = min_span
        self.floor = floor  # the range never goes below this (HRS >= 0)
        self.range: tuple[float, float] | None = None
        plot.disableAutoRange(axis=pg.ViewBox.YAxis)

    def fit(self, *arrays: np.ndarray) -> None:
        values = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])
        values = values[np.isfinite(values)]
        if not values.size:
            return
        lo, hi = float(values.min()), float(values.max())
        if self.range is not None:
            cur_lo, cur_hi = self.range
            inside = cur_lo <= lo and hi <= cur_hi
            if inside and (hi - lo) >= Y_FILL_MIN * (cur_hi - cur_lo):
                return
        centre, span = (lo + hi) / 2, max(hi - lo, self.min_span) * (1 + 2 * Y_MARGIN)
        lo, hi = centre - span / 2, centre + span / 2
        if self.floor is not None and lo < self.floor:
            lo, hi = self.floor, self.floor + span
        self.range = (lo, hi)
        self.plot.setYRange(lo, hi, padding=0)

    def reset(self) -> None:
        self.range = None


def box_outline(boxes: list[tuple[int, int, int, int]], scale: float) -> tuple[np.ndarray, np.ndarray]:
    """x, y of closed rectangles separated by NaN (one curve item draws them all)."""
    xs, ys = [], []
    for x, y, w, h in boxes:
        xs += [x, x + w, x + w, x, x, np.nan]
        ys += [y, y, y + h, y + h, y, np.nan]
    return np.asarray(xs, float) / scale, np.asarray(ys, float) / scale


class VideoView(pg.GraphicsLayoutWidget):
    """The newest camera frame, shrunk, with the face box and AU regions drawn over it."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = self.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.view.disableAutoRange()  # the range is set when the frame size changes
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        self.face = pg.PlotCurveItem(pen=BOX_PEN, connect="finite")
        self.regions = pg.PlotCurveItem(pen=REGION_PEN, connect="finite")
        self.view.addItem(self.face)
        self.view.addItem(self.regions)
        self._run: LiveRun | None = None
        self._shown_seq = -PREVIEW_MIN_NEW_FRAMES
        self._shape: tuple[int, int] | None = None

    def update_from(self, run: LiveRun | None) -> None:
        ring = run.acquisition.frames if run is not None else None
        if run is not self._run:
            self._run, self._shown_seq = run, -PREVIEW_MIN_NEW_FRAMES
        if ring is None or ring.write_count - self._shown_seq < PREVIEW_MIN_NEW_FRAMES:
            return
        newest = ring.latest(1)
        if not len(newest.items):
            return
        frame = newest.items[0]
        step = max(1, math.ceil(frame.shape[1] / PREVIEW_MAX_WIDTH))
        small = np.ascontiguousarray(frame[::step, ::step])
        if newest.is_view and not ring.still_valid(newest.first_seq):
            return  # lapped while copied: skip this one
        self._shown_seq = newest.first_seq
        self.image.setImage(small, autoLevels=False, levels=(0, 255))
        if small.shape != self._shape:
            self._shape = small.shape
            self.view.setRange(xRange=(0, small.shape[1]), yRange=(0, small.shape[0]), padding=0)
        engine = run.engine if run is not None else None
        box = face_box(engine)
        self.face.setData(*box_outline([box] if box else [], step))
        self.regions.setData(*box_outline(region_boxes(engine), step))


class SignalPlots(pg.GraphicsLayoutWidget):
    """ECG, heart rate, HRS (with eta x mean) and model score (with threshold) on one scrolling time axis,
    spotted intervals shaded by decision."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.ecg_plot = self._plot("ECG", "mV")
        self.hr_plot = self._plot("HR", "bpm")
        self.hrs_plot = self._plot("HRS", "bpm/s")
        self.score_plot = self._plot("score", "")
        self.score_plot.setYRange(0.0, 1.0, padding=0.02)
        self.score_plot.setLabel("bottom", "time", units="s")
        self.plots = [self.ecg_plot, self.hr_plot, self.hrs_plot, self.score_plot]
        for plot in self.plots[1:]:
            plot.setXLink(self.ecg_plot)
        for plot in self.plots[:-1]:
            plot.hideAxis("bottom")  # one time axis: every shown axis is redrawn as the plots scroll
        self.ecg_curve = self.ecg_plot.plot(pen=ECG_PEN, connect="finite")
        self.hr_curve = self.hr_plot.plot(pen=HR_PEN, connect="finite")
        self.hrs_curve = self.hrs_plot.plot(pen=HRS_PEN, connect="finite")
        self.score_curve = self.score_plot.plot(pen=SCORE_PEN)
        self.score_plot.disableAutoRange(axis=pg.ViewBox.YAxis)
        self.y_ranges = [YRange(self.ecg_plot, MIN_SPANS["ecg"]), YRange(self.hr_plot, MIN_SPANS["hr"]),
                         YRange(self.hrs_plot, MIN_SPANS["hrs"], floor=0.0)]
        for plot in self.plots:
            plot.disableAutoRange(axis=pg.ViewBox.XAxis)
        label = {"position": LIMIT_LABEL_POSITION, "color": LIMIT_LABEL_COLOUR, "anchors": [(0, 1), (0, 1)]}
        self.hrs_limit = pg.InfiniteLine(angle=0, pen=LIMIT_PEN, label="eta x mean", movable=False,
                                         labelOpts=label)
        self.threshold_line = pg.InfiniteLine(angle=0, pen=LIMIT_PEN, label="threshold", movable=False,
                                              labelOpts=label)
        self.hrs_plot.addItem(self.hrs_limit)
        self.score_plot.addItem(self.threshold_line)
        self.hrs_limit.hide()
        self.threshold_line.hide()
        self._regions: list[list[pg.LinearRegionItem]] = []
        for plot in self.plots:
            pool = []
            for _ in range(REGION_POOL):
                region = pg.LinearRegionItem(movable=False, pen=pg.mkPen(None))
                region.setZValue(-10)
                region.hide()
                plot.addItem(region)
                pool.append(region)
            self._regions.append(pool)
        self._regions_key: tuple[int, int] = (-1, -1)

    def _plot(self, title: str, units: str) -> pg.PlotItem:
        plot = self.addPlot(row=len(self.ci.items), col=0)
        plot.setLabel("left", title, units=units)
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        # no grid: with the raster engine its alpha-blended lines cost ~100 ms a frame at 900x850 px
        plot.getAxis("left").setWidth(60)
        for side in ("left", "bottom"):  # a fixed unit: no label re-layout (rich text) at every scroll step
            plot.getAxis(side).enableAutoSIPrefix(False)
        return plot

    def update_from(self, run: LiveRun | None, *, curves: bool, hrs_mean: float) -> None:
        """Redraw from the run's rings and engine; ``curves``: also the (slower) HR and HRS curves."""
        if run is None:
            return
        self._update(run, curves, hrs_mean)
        for plot in self.plots:  # apply the new ranges now: done during the paint, they cost a second one
            plot.vb.prepareForPaint()

    def _update(self, run: LiveRun, curves: bool, hrs_mean: float) -> None:
        ecg = run.acquisition.ecg
        rate = run.ecg_rate
        latest = ecg.latest_ms(HISTORY_S * 1000.0)
        if len(latest.items):
            index, values = peak_decimate(latest.items[:, 0], ECG_PLOT_BINS)
            if latest.is_view and not ecg.still_valid(latest.first_seq):
                return
            first = int(latest.stamps[0])
            self.ecg_curve.setData((first + index) / rate + run.offset_s, values)
            self.y_ranges[0].fit(values)
            now = (int(latest.stamps[-1]) + 1) / rate + run.offset_s
        else:
            now = run.offset_s
        self.ecg_plot.setXRange(now - HISTORY_S, now, padding=0)
        engine = run.engine
        if engine is None:
            return
        if curves:
            limit = engine.settings.hrs.eta * hrs_mean
            heart = engine.heart
            stop = heart.samples_seen
            start = max(0, stop - round(HISTORY_S * rate))
            if stop > start:
                x = (start + np.arange(0, stop - start, HR_STEP_SAMPLES)) / rate + run.offset_s
                hr = heart.rate_curve(start, stop)[::HR_STEP_SAMPLES]
                hrs = heart.hrs_curve(start, stop)[::HR_STEP_SAMPLES]
                self.hr_curve.setData(x, hr)
                self.hrs_curve.setData(x, hrs)
                self.y_ranges[1].fit(hr)
                self.y_ranges[2].fit(hrs, [limit])
            self.hrs_limit.setVisible(bool(np.isfinite(limit)))
            if np.isfinite(limit):
                self.hrs_limit.setValue(limit)
                set_label(self.hrs_limit, f"eta x mean = {engine.settings.hrs.eta:g} x {hrs_mean:.2f}")
        spotter = engine.spotter
        n = min(len(spotter.trace_ms), len(spotter.trace))  # the scoring thread appends both
        first = bisect.bisect_left(spotter.trace_ms, (now - run.offset_s - HISTORY_S) * 1000.0, 0, n)
        times = np.asarray(spotter.trace_ms[first:n], dtype=np.float64)
        scores = np.asarray(spotter.trace[first:n], dtype=np.float64)
        self.score_curve.setData(times / 1000.0 + run.offset_s, scores, connect="finite")
        self.threshold_line.setValue(engine.threshold)
        set_label(self.threshold_line, f"threshold {engine.threshold:.2f}")
        self.threshold_line.show()

    def show_alerts(self, alerts: list[AlertEntry], epoch: int) -> None:
        """Shade the newest spotted intervals (only when the alert list changed)."""
        key = (epoch, len(alerts))
        if key == self._regions_key:
            return
        self._regions_key = key
        newest = alerts[-REGION_POOL:]
        for pool in self._regions:
            for i, region in enumerate(pool):
                if i < len(newest):
                    alert = newest[i].alert
                    region.setRegion((alert.onset_s, max(alert.offset_s, alert.onset_s + 1e-3)))
                    colour = DECISION_COLOURS.get(alert.decision, (128, 128, 128))
                    region.setBrush(pg.mkBrush(*colour, REGION_ALPHA))
                    region.show()
                else:
                    region.hide()

    def clear_run(self) -> None:
        for curve in (self.ecg_curve, self.hr_curve, self.hrs_curve, self.score_curve):
            curve.setData([], [])
        for y_range in self.y_ranges:
            y_range.reset()
        self.hrs_limit.hide()
        self.threshold_line.hide()


class AlertTable(QtWidgets.QTableWidget):
    """Alerts, newest first: apex thumbnail, time, class, score, HRS, decision."""

    COLUMNS = ("apex", "time (s)", "class", "score", "HRS (bpm/s)", "decision")

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(0, len(self.COLUMNS), parent)
        self.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.setIconSize(QtCore.QSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(THUMBNAIL_SIZE + 4)
        self.horizontalHeader().setStretchLastSection(True)
        for column, width in enumerate((THUMBNAIL_SIZE + 8, 70, 55, 50, 130)):
            self.setColumnWidth(column, width)

    def add(self, entry: AlertEntry) -> None:
        alert: Alert = entry.alert
        self.insertRow(0)
        thumb = QtWidgets.QTableWidgetItem()
        if entry.thumbnail is not None:
            thumb.setIcon(QtGui.QIcon(gray_pixmap(entry.thumbnail)))
        else:
            thumb.setText("-")
        self.setItem(0, 0, thumb)
        hrs = f"{alert.hrs_apex:.2f} / {alert.eta:g}x{alert.hrs_mean:.2f}"
        texts = (f"{alert.apex_s:.2f}", alert.kind, f"{alert.score:.2f}", hrs, alert.decision)
        colour = QtGui.QColor(*DECISION_COLOURS.get(alert.decision, (128, 128, 128)), 70)
        for column, text in enumerate(texts, start=1):
            item = QtWidgets.QTableWidgetItem(text)
            item.setBackground(colour)
            self.setItem(0, column, item)
        while self.rowCount() > MAX_ALERT_ROWS:
            self.removeRow(self.rowCount() - 1)


def gray_pixmap(image: np.ndarray) -> QtGui.QPixmap:
    """A QPixmap of a (h, w) uint8 image (copied: the numpy buffer may go away)."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    height, width = image.shape
    qimage = QtGui.QImage(image.data, width, height, width, QtGui.QImage.Format.Format_Grayscale8)
    return QtGui.QPixmap.fromImage(qimage.copy())


class Banner(QtWidgets.QFrame):
    """A non-modal message strip above the plots: faults stay until dismissed, info fades out."""

    STYLES: ClassVar[dict[str, str]] = {
        "info": "background:#1f4e79;color:white;",
        "warning": "background:#8a6d00;color:white;",
        "error": "background:#9b1c1c;color:white;",
    }
    INFO_MS = 6000

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        self.label = QtWidgets.QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QtWidgets.QToolButton()
        close.setText("x")
        close.setAutoRaise(True)
        close.clicked.connect(self.hide)
        layout.addWidget(self.label, 1)
        layout.addWidget(close)
        self.level = ""
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.hide)
        self.hide()

    def show_message(self, level: str, text: str) -> None:
        if self.isVisible() and self.level in ("warning", "error") and level == "info":
            return  # a fault stays in view until dismissed
        self.level = level
        self.setStyleSheet(self.STYLES.get(level, ""))
        self.label.setText(text)
        self.show()
        if level == "info":
            self._timer.start(self.INFO_MS)
        else:
            self._timer.stop()
