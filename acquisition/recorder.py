"""Recorder: writes the session format from the ring buffers in its own thread, never slowing capture.

It reads both rings with its own readers. A frame is written once the ECG has reached its trigger edge, so
the index holds the measured edge (or, after the ECG was lost, the predicted one, with the gap marked in
the events). Only the stored region (the face area, or the full frame) is copied out of the ring.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import numpy as np

from acquisition.errors import RecordingError
from acquisition.pipeline import Acquisition
from acquisition.session import FRAME_INDEX_DTYPE, SessionWriter

log = logging.getLogger(__name__)

POLL_S = 0.02  # how often the recorder looks at the rings


@dataclass(frozen=True)
class RecorderStats:
    frames_written: int
    ecg_samples_written: int
    frames_lost_by_recorder: int  # the recorder fell a whole ring behind (disk too slow)
    ecg_lost_by_recorder: int
    bytes_written: int


class Recorder:
    def __init__(self, acquisition: Acquisition, writer: SessionWriter, *, fsync_interval_s: float,
                 lossless: bool = False) -> None:
        self.acquisition = acquisition
        self.writer = writer
        self.fsync_interval_s = fsync_interval_s
        roi = writer.metadata.video.roi
        height, width = writer.metadata.video.frame_shape
        x, y = (roi[0], roi[1]) if roi else (0, 0)
        origin_x, origin_y = acquisition.camera.frame_origin  # the camera may read out the region only
        x, y = x - origin_x, y - origin_y
        self._crop = (slice(y, y + height), slice(x, x + width))
        assert acquisition.frames is not None, "start the acquisition before the recorder"
        self._frame_reader = acquisition.frames.reader(from_seq=0)
        self._ecg_reader = acquisition.ecg.reader(from_seq=0)
        self._batch = max(1, acquisition.frames.capacity // 4)  # capture may run a batch ahead when lossless
        if lossless:
            acquisition.hold_for(self._frame_reader)
        self._pending_images: list[np.ndarray] = []
        self._pending_meta: list[np.void] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self._frames_lost = 0
        self._ecg_lost = 0
        self._bytes = 0
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    @property
    def native_id(self) -> int | None:
        return self._thread.native_id

    def stop(self) -> RecorderStats:
        """Drain the rings, write what is pending and close the session cleanly."""
        self._stop.set()
        self._thread.join()
        return self.stats()

    def stats(self) -> RecorderStats:
        return RecorderStats(self.writer.frame_count, self.writer.ecg_sample_count, self._frames_lost,
                             self._ecg_lost, self._bytes)

    # -- thread ---------------------------------------------------------------------------------------
    def _run(self) -> None:
        last_sync = time.monotonic()
        try:
            while not self._stop.is_set():
                while self._step(final=False):  # a full batch: more is waiting
                    pass
                if time.monotonic() - last_sync >= self.fsync_interval_s:
                    self.writer.flush_to_disk()
                    last_sync = time.monotonic()
                self._stop.wait(POLL_S)
            while self._step(final=True):
                pass
        except OSError as exc:  # a full disk, a write error: a device-class fault, reported by the caller
            log.debug("recorder write failed", exc_info=True)
            self.error = RecordingError(self.writer.path, exc)
        except BaseException as exc:  # the session must still be closed; the error is reported by the caller
            log.exception("recorder failed")
            self.error = exc
        finally:
            try:
                if isinstance(self.error, RecordingError):
                    self.writer.abandon()
                else:
                    self._close()
            except OSError as exc:  # nothing more can be written: the session stays unclosed, readable
                log.debug("recorder could not close the session", exc_info=True)
                self.error = self.error or RecordingError(self.writer.path, exc)

    def _step(self, final: bool) -> bool:
        """Write what is ready; True when a full batch of frames was read (more may be waiting)."""
        self._drain_events()
        ecg = self._ecg_reader.read_new(copy=False)
        if ecg.lost:
            self._ecg_lost += ecg.lost
            self.writer.add_event(int(ecg.stamps[0]) if len(ecg.stamps) else 0, "gap",
                                  "recorder lost ECG", samples=ecg.lost)
        if len(ecg.items):
            self.writer.append_ecg(ecg.items)
            self._bytes += ecg.items.nbytes
        frames = self._frame_reader.read_new(max_items=self._batch, copy=False)
        if frames.lost:
            self._frames_lost += frames.lost
            self.writer.add_event(int(frames.stamps[0]) if len(frames.stamps) else 0, "gap",
                                  "recorder lost frames", frames=frames.lost)
        assert frames.meta is not None or not len(frames.items)
        for i in range(len(frames.items)):  # copy out only the stored region while the view is valid
            self._pending_images.append(np.array(frames.items[i][self._crop]))
            self._pending_meta.append(frames.meta[i].copy())
        if len(frames.items) and not self.acquisition.frames.still_valid(frames.first_seq):
            lapped = len(frames.items)  # overwritten while we copied: drop what we took
            del self._pending_images[-lapped:]
            del self._pending_meta[-lapped:]
            self._frames_lost += lapped
        self._write_ready(final)
        return len(frames.items) == self._batch

    def _write_ready(self, final: bool) -> None:
        sync, stamps = self.acquisition.sync, self.acquisition.stamps
        ready = 0
        for meta in self._pending_meta:
            pulse, predicted = int(meta["trigger_pulse"]), int(meta["ecg_sample"])
            sync.confirm(pulse, predicted, int(meta["camera_ts_us"]))  # the sync statistics
            stamp = stamps.resolve(pulse, predicted, final)
            if stamp is None:
                break
            meta["ecg_sample"] = stamp
            ready += 1
        if not ready:
            return
        images = np.stack(self._pending_images[:ready])
        index = np.array(self._pending_meta[:ready], dtype=FRAME_INDEX_DTYPE)
        self.writer.append_frames(images, index)
        self._bytes += images.nbytes + index.nbytes
        del self._pending_images[:ready]
        del self._pending_meta[:ready]

    def _drain_events(self) -> None:
        events = self.acquisition.events
        while events:
            event = events.popleft()
            self.writer.add_event(event.sample, event.kind, event.label, **event.detail)

    def _close(self) -> None:
        status = self.acquisition.status()
        self.writer.close(
            frames_dropped=status.frames_dropped,
            camera_timeouts=status.camera_timeouts,
            ecg_lost=status.ecg_lost,
            worst_sync_error_frames=status.worst_sync_error_frames,
            frames_lost_by_recorder=self._frames_lost,
            faults=list(status.faults),
        )
