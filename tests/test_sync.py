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


def test_edges_lost_in_a_gap_are_inferred_and_the_pulses_after_it_keep_their_numbers() -> None:
    signal = pulses(60)
    edges = rising_edges(signal, 2.5)
    clock = TriggerClock(RATE, FPS, 2.5)
    clock.feed(0, signal[:100])
    clock.feed(200, signal[200:])  # samples 100..199 lost in transport
    hidden = int(np.sum((edges >= 100) & (edges < 200)))
    assert hidden > 10 and clock.edges_inferred == hidden
    assert clock.pulse_count == 60
    np.testing.assert_array_equal(clock.edges()[edges >= 200], edges[edges >= 200] - edges[0])
    assert np.max(np.abs(clock.edges() - (edges - edges[0]))) <= 1  # the inferred ones on the grid


def test_nan_rows_hide_edges_like_a_gap_and_a_pulse_cut_by_them_is_not_an_edge() -> None:
    signal = pulses(60)
    edges = rising_edges(signal, 2.5)
    damaged = signal.copy()
    damaged[edges[20] + 2 : edges[30] + 1] = np.nan  # edges 21-29 hidden, 30 cut
    clock = TriggerClock(RATE, FPS, 2.5)
    for start in range(0, len(damaged), 37):
        clock.feed(start, damaged[start : start + 37])
    assert clock.pulse_count == 60 and clock.edges_inferred == 10
    np.testing.assert_array_equal(clock.edges()[31:], edges[31:] - edges[0])
    assert abs(clock.edges()[30] - (edges[30] - edges[0])) <= 1


def test_a_gap_without_hidden_edges_infers_none() -> None:
    signal = pulses(20)
    clock = TriggerClock(RATE, FPS, 2.5)
    edges = rising_edges(signal, 2.5)
    cut = edges[5] + 3  # lose two samples between two edges
    clock.feed(0, signal[:cut])
    clock.feed(cut + 2, signal[cut + 2:])
    assert clock.edges_inferred == 0 and clock.pulse_count == 20


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


def test_one_stamp_rule_waits_for_the_edge_then_gives_up_after_the_wait() -> None:
    import threading

    from acquisition.sync import STAMP_WAIT_S, StampResolver

    clock = TriggerClock(RATE, FPS, 2.5)
    lost = threading.Event()
    stamps = StampResolver(clock, lost)
    signal = pulses(20)
    clock.feed(0, signal[:50])  # pulses 0..7 measured
    assert stamps.resolve(3, 999) == clock.edge(3)  # measured wins over the prediction
    assert stamps.resolve(15, 100) is None  # its ECG has not come yet: wait
    assert stamps.resolve(15, 100, final=True) == 100  # at the end: the prediction
    wait = int(STAMP_WAIT_S * RATE)
    clock.feed(50, np.zeros(100 + wait))  # ECG scanned far past pulse 15 without its edge (lost)
    assert stamps.resolve(15, 100) == 100
    lost.set()
    assert stamps.resolve(19, 5000) == 5000  # the ECG is gone: predictions from now on


def test_pulses_after_the_last_frame_count_as_dropped_at_the_end() -> None:
    clock = TriggerClock(RATE, FPS, 2.5)
    clock.feed(0, pulses(30))
    sync = FrameSync(clock, FPS)
    for n in range(20):  # frames of pulses 0..19 came; the last 10 never did
        sync.stamp(n, round(n * 1e6 / FPS))
    assert sync.close(clock.pulse_count) == 10
    assert sync.frames_dropped == 10 and sync.close(clock.pulse_count) == 0  # counted once
