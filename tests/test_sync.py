"""Trigger edges on the ECG clock, pulse numbering of frames, dropped frames and the sync error."""

from __future__ import annotations

import numpy as np

from acquisition.sync import FrameSync, TriggerClock, rising_edges

RATE, FPS = 1000.0, 150.0


def pulses(n: int, phase: float = 0.3, width: int = 2, n_samples: int | None = None) -> np.ndarray:
    edges = np.ceil(np.arange(n) * RATE / FPS + phase).astype(int)
    signal = np.zeros(n_samples or edges[-1] + 10)
    for w in range(width):
        signal[edges + w] = 5.0
    return signal


def test_rising_edges_across_blocks() -> None:
    signal = pulses(30)
    whole = rising_edges(signal, 2.5)
    assert len(whole) == 30
    found, high = [], False
    for start in range(0, len(signal), 13):  # blocks that cut pulses in half
        block = signal[start : start + 13]
        found.extend((rising_edges(block, 2.5, high) + start).tolist())
        high = bool(block[-1] > 2.5)
    assert found == whole.tolist()


def test_clock_origin_and_prediction() -> None:
    clock = TriggerClock(RATE, FPS, 2.5)
    signal = np.r_[np.zeros(500), pulses(300)]  # baseline before the trigger box starts
    assert clock.predict(10) == 67  # nominal before any edge
    for start in range(0, len(signal), 100):
        clock.feed(start, signal[start : start + 100])
    edges = rising_edges(signal, 2.5)
    assert clock.origin == edges[0] == 501
    assert clock.edge(0) == 0 and clock.edge(299) == edges[299] - 501
    truth = np.ceil(np.arange(1000) * RATE / FPS + 0.3)  # where the next pulses will fall
    predicted = np.array([clock.predict(p) for p in range(300, 1000)])
    assert np.max(np.abs(predicted - truth[300:])) <= 1


def test_clock_after_a_gap() -> None:
    clock = TriggerClock(RATE, FPS, 2.5)
    signal = pulses(60)
    clock.feed(0, signal[:100])
    clock.feed(200, signal[200:])  # samples 100..199 lost
    assert clock.pulse_count == len(rising_edges(signal[:100], 2.5)) + len(rising_edges(signal[200:], 2.5))


def test_frame_sync_counts_drops_and_sync_error() -> None:
    clock = TriggerClock(RATE, FPS, 2.5)
    clock.feed(0, pulses(20))
    sync = FrameSync(clock, FPS)
    period_us = 1e6 / FPS
    camera_frames = [5, 6, 7, 10, 11]  # acq_nframe from a camera that started counting at 5; 8, 9 lost
    for n in camera_frames:
        pulse, stamp, _ = sync.stamp(n, round((n - 5) * period_us))
        assert sync.confirm(pulse, stamp, round((n - 5) * period_us)) == clock.edge(pulse)
    assert sync.frames_dropped == 2
    assert sync.worst_error_frames == 0
    # a frame whose exposure happened one period later than its assigned edge: a miscounted frame
    pulse, stamp, _ = sync.stamp(12, round(8 * period_us))
    sync.confirm(pulse, stamp, round(8 * period_us))
    assert sync.worst_error_frames == 1
