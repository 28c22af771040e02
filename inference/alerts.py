"""Alerts and the sinks they are delivered to: the log, a CSV file, AcqKnowledge events, a Lab Streaming
Layer marker stream, and (in the GUI) a queue that the Qt thread drains.

Data flows one way: the engine emits alerts, sinks only receive them.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import queue
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Protocol

log = logging.getLogger("mespot.alerts")

LSL_STREAM_NAME = "mespot-alerts"
LSL_STREAM_TYPE = "Markers"
LSL_ANONYMOUS_SOURCE = "mespot"  # the stream's source id unless the subject is to be named


@dataclass(frozen=True)
class Alert:
    """One spotted interval and the heart-rate-slope decision about it. Times are on the session clock."""

    session_id: str
    onset_frame: int
    apex_frame: int
    offset_frame: int
    onset_s: float
    apex_s: float
    offset_s: float
    onset_wall: str  # local wall-clock time (ISO 8601) of the onset
    apex_wall: str
    offset_wall: str
    score: float
    hrs_apex: float  # |dHR/dt| at the apex, bpm/s
    hrs_mean: float  # mean HRS of the trial (or of the trailing window)
    eta: float
    decision: str  # "genuine", "rejected" (HRS filter), or "unfiltered" (filter switched off)
    kind: str  # "ME" or "macro"
    latency_s: float  # wall time from the apex to the alert (live); 0 offline

    @property
    def genuine(self) -> bool:
        return self.decision != "rejected"

    def label(self) -> str:
        return (
            f"mespot {self.kind} {self.decision} apex {self.apex_s:.3f}s score {self.score:.2f} "
            f"HRS {self.hrs_apex:.1f}/{self.eta:g}x{self.hrs_mean:.1f}"
        )


CSV_COLUMNS = (
    "session_id",
    "subject",
    "video",
    "onset",
    "offset",
    "apex",
    "class",
    *[f.name for f in fields(Alert) if f.name not in ("session_id",)],
)


class AlertSink(Protocol):
    def deliver(self, alert: Alert) -> None: ...

    def close(self) -> None: ...


class LogSink:
    def deliver(self, alert: Alert) -> None:
        log.info(alert.label())

    def close(self) -> None:
        pass


class CsvSink:
    """One row per spotted interval; the MEGC columns (subject, video, onset, offset, apex, class) come
    first so that `mespot evaluate --pred` reads the file as it is."""

    def __init__(self, path: str | Path, subject: str, video: str, *, only_genuine: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("w", newline="")
        self._writer = csv.writer(self._file)
        self._writer.writerow(CSV_COLUMNS)
        self._file.flush()
        self.subject, self.video, self.only_genuine = subject, video, only_genuine
        self.rows = 0

    def deliver(self, alert: Alert) -> None:
        if self.only_genuine and not alert.genuine:
            return
        values = asdict(alert)
        values.pop("session_id")
        self._writer.writerow(
            [
                alert.session_id,
                self.subject,
                self.video,
                alert.onset_frame,
                alert.offset_frame,
                alert.apex_frame,
                alert.kind,
                *values.values(),
            ]
        )
        self._file.flush()  # a crash never loses an alert already delivered
        self.rows += 1

    def close(self) -> None:
        self._file.close()


class AcqKnowledgeEventSink:
    """Marks each alert in the AcqKnowledge recording (NDT ``insertGlobalEvent``)."""

    def __init__(self, insert_event: Callable[[str], None], only_genuine: bool = True) -> None:
        self._insert = insert_event
        self.only_genuine = only_genuine

    def deliver(self, alert: Alert) -> None:
        if self.only_genuine and not alert.genuine:
            return
        try:
            self._insert(alert.label())
        except Exception as exc:
            log.warning("could not insert the alert into AcqKnowledge: %s", exc)

    def close(self) -> None:
        pass


LSL_SCOPES = ("machine", "network")
# liblsl's configuration for a stream seen on this machine only: discovery and data bound to loopback
LSL_MACHINE_CONFIG = """[multicast]
ResolveScope = machine
ListenAddress = 127.0.0.1
[ports]
IPv6 = disable
[log]
level = -2
"""


def use_lsl_scope(scope: str) -> None:
    """Point liblsl at a configuration for ``scope`` before it loads one (it reads it once per process). A
    configuration the lab set itself (LSLAPICFG) is left alone; "network" uses liblsl's defaults."""
    if scope not in LSL_SCOPES:
        raise ValueError(f"LSL scope {scope!r} is not one of {', '.join(LSL_SCOPES)}")
    if scope == "network" or os.environ.get("LSLAPICFG"):
        return
    folder = Path(tempfile.mkdtemp(prefix="mespot-lsl-"))  # 0700
    path = folder / "lsl_api.cfg"
    path.write_text(LSL_MACHINE_CONFIG)
    os.environ["LSLAPICFG"] = str(path)


class LslMarkerSink:
    """A Lab Streaming Layer marker stream (one JSON string per alert) for LabRecorder and other software.

    By default the stream is announced and served on this machine only (``scope`` "machine"; "network"
    opens it to the lab's network) and carries no subject id: its source id is "mespot" and the alerts go
    without their session id unless ``identify`` (the subject's name is personal data)."""

    def __init__(self, source_id: str = "mespot", *, scope: str = "machine", identify: bool = False) -> None:
        use_lsl_scope(scope)
        import pylsl  # imported here: liblsl is only loaded where LSL is used

        info = pylsl.StreamInfo(
            LSL_STREAM_NAME, LSL_STREAM_TYPE, 1, pylsl.IRREGULAR_RATE, pylsl.cf_string,
            source_id if identify else LSL_ANONYMOUS_SOURCE,
        )
        self._identify = identify
        self._outlet = pylsl.StreamOutlet(info)

    def deliver(self, alert: Alert) -> None:
        record = asdict(alert)
        if not self._identify:
            record.pop("session_id")
        self._outlet.push_sample([json.dumps(record)])

    def close(self) -> None:
        del self._outlet


class QueueSink:
    """Hands alerts to another thread (the GUI drains it on its own timer)."""

    def __init__(self, maxsize: int = 1000) -> None:
        self.queue: queue.Queue[Alert] = queue.Queue(maxsize)

    def deliver(self, alert: Alert) -> None:
        try:
            self.queue.put_nowait(alert)
        except queue.Full:
            log.warning("alert queue full; dropped %s", alert.label())

    def close(self) -> None:
        pass


class CollectSink:
    """Keeps every alert in a list (reports, tests)."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def deliver(self, alert: Alert) -> None:
        self.alerts.append(alert)

    def close(self) -> None:
        pass


def deliver_all(sinks: Sequence[AlertSink], alert: Alert) -> None:
    for sink in sinks:
        try:
            sink.deliver(alert)
        except Exception:  # one broken sink must not silence the others
            log.exception("alert sink %s failed", type(sink).__name__)
