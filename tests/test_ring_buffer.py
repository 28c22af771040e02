"""Ring buffer: wrap-around, lost counts, stamp ranges, claim/commit, seqlock, threads, memory bound."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from acquisition.errors import ConfigError
from acquisition.ring_buffer import ReadResult, RingBuffer, capacity_for
from acquisition.session._format import FRAME_INDEX_DTYPE

SHAPE = (4, 6)
PATTERN = 251  # frame seq is filled with seq % 251: prime, so a lapped slot (seq + capacity) differs
STEP = 7  # fake ECG samples between two frames' trigger edges
OFFSET = 3  # ECG sample of frame 0's trigger edge


def stamp(seq: int | np.ndarray) -> int | np.ndarray:
    return seq * STEP + OFFSET


def frame(seq: int, shape: tuple[int, ...] = SHAPE) -> np.ndarray:
    return np.full(shape, seq % PATTERN, dtype=np.uint8)


def record(seq: int) -> tuple[int, int, int, int, int]:
    return (seq + 1, seq * 6667, 0, seq, stamp(seq))


def records(start: int, stop: int) -> np.ndarray:
    out = np.zeros(stop - start, dtype=FRAME_INDEX_DTYPE)
    for i, seq in enumerate(range(start, stop)):
        out[i] = record(seq)
    return out


def frame_ring(capacity: int, shape: tuple[int, ...] = SHAPE) -> RingBuffer:
    return RingBuffer(capacity, shape, meta_dtype=FRAME_INDEX_DTYPE, rate=150.0)


def write_frames(ring: RingBuffer, start: int, stop: int) -> None:
    for seq in range(start, stop):
        assert ring.write(frame(seq, ring.item_shape), record(seq)) == seq


def frames_ok(result: ReadResult) -> bool:
    """Every item, stamp and record of a frame-ring result is the one written with its sequence number."""
    seqs = result.first_seq + np.arange(len(result.items))
    items = result.items.reshape(len(seqs), int(np.prod(result.items.shape[1:])))
    return bool(
        (items.min(axis=1) == seqs % PATTERN).all()
        and (items.max(axis=1) == seqs % PATTERN).all()
        and np.array_equal(result.stamps, stamp(seqs))
        and result.meta is not None
        and np.array_equal(result.meta["camera_frame"], seqs + 1)
        and np.array_equal(result.meta["ecg_sample"], stamp(seqs))
    )


def seqs_of(result: ReadResult) -> list[int]:
    return list(range(result.first_seq, result.first_seq + len(result.items)))


# ---------------------------------------------------------------------------- sizing
def test_memory_bound_is_seconds_times_rate_times_item_bytes():
    frames = RingBuffer.for_frames(2, 150, (1080, 2040), prefault=False)
    assert frames.capacity == 300
    assert frames.nbytes == 2 * 150 * 1080 * 2040
    assert frames.meta_nbytes == 300 * (FRAME_INDEX_DTYPE.itemsize + 8)
    ecg = RingBuffer.for_samples(10, 1000, 3)
    assert ecg.nbytes == 10 * 1000 * 3 * 8
    assert ecg.meta_nbytes == 0
    assert capacity_for(0.1, 1000) == 100  # 0.1 * 1000 is 100.00000000000001 in floating point
    assert capacity_for(1, 2.5) == 3  # a fractional item rounds up: never less than the seconds asked
    with pytest.raises(ConfigError):
        RingBuffer.for_frames(0, 150, SHAPE)


# ---------------------------------------------------------------------------- frames
def test_wrap_around_keeps_the_newest_capacity_items():
    ring = frame_ring(5)
    write_frames(ring, 0, 13)
    assert ring.write_count == 13
    assert ring.span() == (8, 13)
    newest = ring.latest(5)
    assert seqs_of(newest) == [8, 9, 10, 11, 12]
    assert newest.lost == 0
    assert not newest.is_view  # slots 3, 4, 0, 1, 2: wraps, so it is copied
    assert frames_ok(newest)
    last_two = ring.latest(2)
    assert last_two.is_view and seqs_of(last_two) == [11, 12]  # slots 1, 2: a view
    assert np.shares_memory(last_two.items, ring._items)
    assert frames_ok(last_two)
    assert seqs_of(ring.latest(100)) == [8, 9, 10, 11, 12]
    copied = ring.latest(2, copy=True)
    assert not copied.is_view and not np.shares_memory(copied.items, ring._items)
    assert frames_ok(copied)


def test_latest_ms_uses_the_item_rate():
    ring = frame_ring(40)
    write_frames(ring, 0, 30)
    result = ring.latest_ms(100)  # 100 ms at 150 fps
    assert seqs_of(result) == list(range(15, 30))
    assert frames_ok(result)
    assert len(ring.latest_ms(100, rate=50).items) == 5


def test_slow_reader_learns_how_many_items_it_lost():
    ring = frame_ring(5)
    reader = ring.reader(from_seq=0)
    write_frames(ring, 0, 12)
    first = reader.read_new()
    assert (first.first_seq, first.lost, len(first.items)) == (7, 7, 5)
    assert frames_ok(first)
    write_frames(ring, 12, 15)
    second = reader.read_new()
    assert (second.first_seq, second.lost, len(second.items)) == (12, 0, 3)
    assert frames_ok(second)
    assert reader.read_new().items.shape == (0, *SHAPE)
    write_frames(ring, 15, 19)
    limited = reader.read_new(max_items=3)
    assert seqs_of(limited) == [15, 16, 17] and limited.lost == 0
    assert seqs_of(reader.read_new()) == [18]
    assert reader.total_lost == 7
    late = ring.reader()  # default: only what is written from now on
    assert len(late.read_new().items) == 0
    write_frames(ring, 19, 20)
    assert seqs_of(late.read_new()) == [19]
    write_frames(ring, 20, 23)
    assert late.available == 3 and late.skip_to_latest() == 3
    assert len(late.read_new().items) == 0 and late.total_lost == 0  # skipped on purpose, not lost


def test_read_range_by_stamp_across_the_wrap():
    ring = frame_ring(8)
    write_frames(ring, 0, 20)  # items 12..19 remain, in slots 4..7, 0..3
    result = ring.read_range(stamp(13), stamp(18))
    assert seqs_of(result) == [13, 14, 15, 16, 17]
    assert not result.is_view
    assert frames_ok(result)
    between = ring.read_range(stamp(13) - 2, stamp(14) + 1)  # bounds between two stamps
    assert seqs_of(between) == [13, 14]
    inside = ring.read_range(stamp(16), stamp(19))  # slots 0..2: contiguous, a view
    assert inside.is_view and seqs_of(inside) == [16, 17, 18]
    assert frames_ok(inside)
    assert seqs_of(ring.read_range(0, stamp(14))) == [12, 13]  # the older part of the range is gone
    assert seqs_of(ring.read_range(stamp(18), 10**9)) == [18, 19]
    assert len(ring.read_range(stamp(30), stamp(40)).items) == 0
    assert len(ring.read_range(stamp(15), stamp(15)).items) == 0
    assert ring.stamp_of(13) == stamp(13)
    with pytest.raises(IndexError):
        ring.stamp_of(11)  # overwritten


def test_claim_commit_fills_a_slot_in_place():
    ring = frame_ring(4)
    write_frames(ring, 0, 4)
    slot = ring.claim()
    assert np.shares_memory(slot, ring._items)
    # The claimed slot held item 0: from the claim on, readers no longer return it.
    assert seqs_of(ring.latest(4)) == [1, 2, 3]
    assert ring.reader(from_seq=0).read_new().lost == 1
    with pytest.raises(RuntimeError):
        ring.claim()
    with pytest.raises(RuntimeError):
        ring.write(frame(4), record(4))
    slot[...] = 4 % PATTERN
    assert ring.commit(record(4)) == 4
    assert frames_ok(ring.latest(4)) and seqs_of(ring.latest(4)) == [1, 2, 3, 4]
    with pytest.raises(RuntimeError):
        ring.commit(record(5))
    again = ring.claim()
    ring.abandon()  # capture failed: nothing published, the next claim gets the same slot
    assert ring.write_count == 5
    assert ring.claim() is again
    again[...] = 5
    ring.commit(record(5))
    assert frames_ok(ring.latest(4)) and seqs_of(ring.latest(4)) == [2, 3, 4, 5]


def test_a_view_reports_when_the_writer_laps_it():
    ring = frame_ring(6)
    write_frames(ring, 0, 4)
    view = ring.latest(3)
    assert view.is_view and ring.still_valid(view.first_seq)
    write_frames(ring, 4, 6)
    assert ring.still_valid(view.first_seq)  # ring full but item 1 not overwritten yet
    write_frames(ring, 6, 8)  # overwrites items 0 and 1
    assert not ring.still_valid(view.first_seq)
    assert not frames_ok(view)  # the view now shows item 7 where item 1 was
    assert ring.still_valid(2)


def test_seqlock_drops_items_overwritten_during_the_copy(monkeypatch):
    ring = frame_ring(4)
    write_frames(ring, 0, 8)
    reader = ring.reader(from_seq=4)
    gather = ring._gather
    interleaved = []

    def writer_runs_during_the_copy(array, start, n, copy):
        if array is ring._items and not interleaved:
            interleaved.append(True)
            write_frames(ring, 8, 10)  # the writer overwrites items 4 and 5 while the reader copies
        return gather(array, start, n, copy)

    monkeypatch.setattr(ring, "_gather", writer_runs_during_the_copy)
    result = reader.read_new(copy=True)
    assert interleaved
    assert (result.first_seq, result.lost) == (6, 2)
    assert seqs_of(result) == [6, 7]
    assert frames_ok(result)
    assert seqs_of(reader.read_new()) == [8, 9]


def test_writes_announce_the_overwrite_before_copying(monkeypatch):
    ring = frame_ring(4)
    write_frames(ring, 0, 4)
    during_copies: list[list[int]] = []
    real_copyto = np.copyto

    def spying_copyto(*args, **kwargs):
        during_copies.append(seqs_of(ring.latest(4)))
        real_copyto(*args, **kwargs)

    monkeypatch.setattr(np, "copyto", spying_copyto)
    ring.write(frame(4), record(4))
    assert during_copies == [[1, 2, 3]]  # item 0 (in the slot being written) is gone, 4 not published
    during_copies.clear()
    ring.write_block(np.stack([frame(5), frame(6)]), records(5, 7))
    monkeypatch.undo()
    assert during_copies and all(seqs == [3, 4] for seqs in during_copies)
    assert frames_ok(ring.latest(4)) and seqs_of(ring.latest(4)) == [3, 4, 5, 6]


def test_write_validates_before_overwriting():
    ring = frame_ring(3)
    write_frames(ring, 0, 3)
    with pytest.raises(ValueError):
        ring.write(np.zeros((5, 5), np.uint8), record(3))
    with pytest.raises(ValueError):
        ring.write(frame(3), None)
    with pytest.raises(ValueError):
        ring.write(frame(3), record(1))  # a stamp going backwards would break the binary search
    with pytest.raises(TypeError):
        ring.write(np.zeros(SHAPE, np.float64), record(3))  # no silent float -> uint8 cast
    assert ring.write_count == 3
    assert ring.span() == (0, 3)
    assert frames_ok(ring.latest(3))


def test_frame_blocks_with_records_wrap():
    ring = frame_ring(5)
    write_frames(ring, 0, 3)
    ring.write_block(np.stack([frame(s) for s in range(3, 7)]), records(3, 7))
    result = ring.latest(5)
    assert seqs_of(result) == [2, 3, 4, 5, 6]
    assert frames_ok(result)
    assert seqs_of(ring.read_range(stamp(4), stamp(6))) == [4, 5]
    with pytest.raises(ValueError):
        ring.write_block(np.stack([frame(1)]), records(1, 2))  # before the last stamp


# ---------------------------------------------------------------------------- ECG samples
def ecg_block(start: int, n: int, channels: int = 2) -> np.ndarray:
    seqs = np.arange(start, start + n, dtype=np.float64)
    return np.column_stack([seqs + 0.5 * c for c in range(channels)])


def test_ecg_blocks_wrap_and_stamps_are_implicit():
    ring = RingBuffer.for_samples(0.01, 1000, 2, first_stamp=100)  # 10 samples
    reader = ring.reader(from_seq=0)
    assert ring.write_block(ecg_block(0, 7)) == 0
    assert ring.write_block(ecg_block(7, 7)) == 7  # slots 7, 8, 9 then 0..3
    result = reader.read_new()
    assert (result.first_seq, result.lost) == (4, 4)
    assert np.array_equal(result.items, ecg_block(4, 10))
    assert np.array_equal(result.stamps, np.arange(104, 114))
    assert result.meta is None
    window = ring.read_range(105, 112)
    assert np.array_equal(window.items, ecg_block(5, 7)) and window.lost == 0
    cut = ring.read_range(100, 106)  # samples 0..3 are overwritten
    assert np.array_equal(cut.items, ecg_block(4, 2)) and cut.lost == 4
    assert np.array_equal(ring.latest(3).items, ecg_block(11, 3))
    assert ring.latest_ms(5).stamps.tolist() == list(range(109, 114))


def test_ecg_block_longer_than_the_ring_keeps_its_tail():
    ring = RingBuffer.for_samples(0.01, 1000, 2)
    reader = ring.reader(from_seq=0)
    ring.write_block(ecg_block(0, 3))
    assert np.array_equal(reader.read_new().items, ecg_block(0, 3))
    ring.write_block(ecg_block(3, 25))
    assert ring.write_count == 28
    result = reader.read_new()
    assert (result.first_seq, result.lost) == (18, 15)
    assert np.array_equal(result.items, ecg_block(18, 10))
    with pytest.raises(ValueError):
        ring.write_block(np.zeros((4, 3)))  # wrong channel count


# ---------------------------------------------------------------------------- threads
def test_one_writer_three_readers_never_see_a_torn_item():
    """Copying, lagging-view and whole-ring readers against a writer that laps them."""
    capacity, total, shape = 16, 4000, (128, 256)  # 32 KB frames: numpy copies them without the GIL
    ring = frame_ring(capacity, shape)
    sources = [frame(k, shape) for k in range(PATTERN)]
    errors: list[str] = []
    done = threading.Event()
    stats: dict[str, tuple[int, int]] = {}

    def writer() -> None:
        try:
            for seq in range(total):
                ring.write(sources[seq % PATTERN], record(seq))
                if seq % 64 == 0:
                    time.sleep(0)  # let the readers in
        except Exception as error:  # pragma: no cover - reported below
            errors.append(f"writer: {error!r}")
        finally:
            done.set()

    def consume(name: str, copy: bool, lag: bool) -> None:
        reader = ring.reader(from_seq=0)
        seen = lost = reads = 0
        try:
            while True:
                finished = done.is_set()  # read before the final drain, so nothing is missed
                expected_first = reader.next_seq
                result = reader.read_new(copy=copy)
                if result.first_seq != expected_first + result.lost:
                    errors.append(f"{name}: gap not accounted for at {expected_first}")
                ok = frames_ok(result)
                if not ok and (copy or ring.still_valid(result.first_seq)):
                    errors.append(f"{name}: torn or wrong item in {result.first_seq}..{reader.next_seq}")
                seen += len(result.items)
                lost += result.lost
                reads += 1
                if finished and reader.next_seq == ring.write_count:
                    break
                if lag and reads % 8 == 0:  # fall behind by more than the ring now and then
                    while not done.is_set() and ring.write_count - reader.next_seq <= capacity:
                        time.sleep(0.0002)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(f"{name}: {error!r}")
        stats[name] = (seen, lost)

    def watch_whole_ring() -> None:
        """Always reads the oldest item too: the one the writer overwrites next, the seqlock's worst case."""
        reads = 0
        try:
            while not done.is_set():
                result = ring.latest(capacity, copy=True)
                if not frames_ok(result):
                    errors.append(f"latest: torn or wrong item in {seqs_of(result)}")
                reads += 1
        except Exception as error:  # pragma: no cover - reported below
            errors.append(f"latest: {error!r}")
        stats["latest"] = (reads, 0)

    threads = [
        threading.Thread(target=writer),
        threading.Thread(target=watch_whole_ring),
        threading.Thread(target=consume, args=("copying", True, False)),
        threading.Thread(target=consume, args=("lagging views", False, True)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    for name in ("copying", "lagging views"):
        assert sum(stats[name]) == total, name  # seen + lost: every item accounted for
    assert stats["lagging views"][1] > 0  # the lagging reader really was lapped
    assert stats["copying"][0] > 0 and stats["latest"][0] > 0
