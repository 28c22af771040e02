"""Preallocated, timestamped ring buffer between one acquisition thread and its consumers.

The camera thread writes 2040x1080 frames at 150 fps and the MP160 thread writes blocks of ECG samples;
the spotting engine, the recorder and the GUI read them. One generic class holds fixed-shape items
(``RingBuffer.for_frames`` / ``RingBuffer.for_samples`` size it in seconds) in one numpy array allocated
up front, so the memory is bounded and the write path allocates nothing.

Clock: every item carries a stamp on the session clock, the trigger-aligned ECG sample index (see
docs/session-format.md, "One clock"). Frames keep a structured ``meta`` record per item (by default
``FRAME_INDEX_DTYPE``) whose ``stamp_field`` column (default ``ecg_sample``) is the stamp. ECG samples
need no stored stamp: sample *seq* has stamp ``first_stamp + seq``.

Concurrency: ONE writer thread, any number of reader threads, no lock on either path. The design is a
seqlock on two counters, both counting items ever written:

* ``_claimed``: the writer raises it *before* touching a slot. Raising it to *c* announces that every
  item with ``seq < c - capacity`` is gone or being overwritten.
* ``_count``: the writer raises it *after* the item (data, meta, stamp) is complete. Items
  ``[_count - capacity, _count)`` are published.

A reader snapshots ``_count``, picks its span, copies it (or takes a view), and only then reads
``_claimed``: any item of the span with ``seq < _claimed - capacity`` may have been overwritten while it
was read, so it is dropped from the front of the result and counted in ``lost``. A reader therefore
never returns an item the writer had started to overwrite.

Views: reads are zero-copy when the span is contiguous in the ring (``ReadResult.is_view``); a span that
wraps around the ring end is copied (two copies). A view is intact when returned but stays valid only
until the writer laps it (``capacity`` items later, 2 s for a 2 s ring). Use it, then call
``ring.still_valid(result.first_seq)``; if that is False, discard what was computed from it (or read
with ``copy=True``, whose result is always intact).

Memory ordering: this relies on the GIL (CPython <= 3.12 and the default 3.13 build): plain int
attribute stores are atomic and seen by other threads in program order. numpy releases the GIL while
copying large arrays, so the writer and the readers really do copy in parallel; the seqlock covers that.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import DTypeLike, NDArray

from acquisition.errors import ConfigError
from acquisition.session._format import FRAME_INDEX_DTYPE

MS_PER_S = 1000.0
DEFAULT_STAMP_FIELD = "ecg_sample"
_STAMP_DTYPE = np.dtype(np.int64)


class ReadResult(NamedTuple):
    """Items ``first_seq .. first_seq + len(items) - 1`` (sequence numbers count items ever written)."""

    items: np.ndarray  # (n, *item_shape): a view into the ring when is_view, else a fresh copy
    stamps: NDArray[np.int64]  # (n,) stamps on the session clock (ECG sample index)
    first_seq: int
    lost: int  # items skipped because the writer had overwritten them (see each read method)
    meta: np.ndarray | None = None  # (n,) structured records, for rings created with a meta_dtype
    is_view: bool = False  # True: valid until the writer laps it, check with ring.still_valid(first_seq)


def capacity_for(seconds: float, rate: float) -> int:
    """Items needed to hold ``seconds`` at ``rate`` items/s (rounded up, float noise like 0.1*1000 aside)."""
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ConfigError(f"ring buffer length must be a positive number of seconds, got {seconds!r}")
    if not (rate > 0 and math.isfinite(rate)):
        raise ConfigError(f"ring buffer item rate must be a positive number per second, got {rate!r}")
    exact = seconds * rate
    nearest = round(exact)
    return max(1, nearest if math.isclose(exact, nearest) else math.ceil(exact))


class RingBuffer:
    """Bounded ring of fixed-shape items with stamps, written by one thread and read lock-free by many."""

    def __init__(
        self,
        capacity: int,
        item_shape: tuple[int, ...],
        dtype: DTypeLike = np.uint8,
        *,
        meta_dtype: DTypeLike | None = None,
        stamp_field: str = DEFAULT_STAMP_FIELD,
        first_stamp: int = 0,
        rate: float | None = None,
        prefault: bool = True,
    ) -> None:
        """
        capacity: number of item slots. item_shape/dtype: one item (a frame: (height, width), uint8).
        meta_dtype: structured dtype of a per-item record; its ``stamp_field`` (an integer field) is the
        item's stamp. Without it stamps are implicit: ``first_stamp + seq``.
        rate: items per second, used by ``latest_ms``. prefault: touch every page now, so that the first
        lap of the ring does not take page faults in the acquisition thread.
        """
        if capacity < 1:
            raise ConfigError(f"ring buffer capacity must be at least 1 item, got {capacity}")
        self.capacity = int(capacity)
        self.item_shape = tuple(int(n) for n in item_shape)
        self.dtype = np.dtype(dtype)
        self.rate = rate
        self.first_stamp = int(first_stamp)
        self._items = np.zeros((self.capacity, *self.item_shape), dtype=self.dtype)
        if prefault:
            self._items.fill(0)  # np.zeros maps lazily-zeroed pages; writing them commits the memory now
        self._slots = list(self._items)  # one view per slot, made once: claim() and write() allocate nothing

        self.meta_dtype: np.dtype | None = None
        self.stamp_field: str | None = None
        self._meta: np.ndarray | None = None
        self._stamps: NDArray[np.int64] | None = None  # contiguous copy of the stamp column, for searching
        self._meta_scratch: np.ndarray | None = None
        if meta_dtype is not None:
            self.meta_dtype = np.dtype(meta_dtype)
            names = self.meta_dtype.names or ()
            if stamp_field not in names or not np.issubdtype(self.meta_dtype[stamp_field], np.integer):
                raise ConfigError(f"meta_dtype needs an integer stamp field {stamp_field!r}, has {names}")
            self.stamp_field = stamp_field
            self._meta = np.zeros(self.capacity, dtype=self.meta_dtype)
            self._stamps = np.zeros(self.capacity, dtype=_STAMP_DTYPE)
            self._meta_scratch = np.zeros(1, dtype=self.meta_dtype)

        self._count = 0  # items published (complete); only the writer raises it, after writing
        self._claimed = 0  # items announced; only the writer raises it, before overwriting a slot
        self._pending = False  # a claim() awaits its commit()
        self._last_stamp: int | None = None

    # ------------------------------------------------------------------ constructors
    @classmethod
    def for_frames(
        cls,
        seconds: float,
        fps: float,
        frame_shape: tuple[int, int],
        *,
        dtype: DTypeLike = np.uint8,
        meta_dtype: DTypeLike = FRAME_INDEX_DTYPE,
        stamp_field: str = DEFAULT_STAMP_FIELD,
        prefault: bool = True,
    ) -> RingBuffer:
        """``seconds`` of (height, width) frames at ``fps``, each with its frames.idx record."""
        return cls(
            capacity_for(seconds, fps),
            frame_shape,
            dtype,
            meta_dtype=meta_dtype,
            stamp_field=stamp_field,
            rate=fps,
            prefault=prefault,
        )

    @classmethod
    def for_samples(
        cls,
        seconds: float,
        sampling_rate: float,
        n_channels: int,
        *,
        dtype: DTypeLike = np.float64,
        first_stamp: int = 0,
        prefault: bool = True,
    ) -> RingBuffer:
        """``seconds`` of ``n_channels``-channel samples; sample seq has stamp ``first_stamp + seq``."""
        return cls(
            capacity_for(seconds, sampling_rate),
            (n_channels,),
            dtype,
            first_stamp=first_stamp,
            rate=sampling_rate,
            prefault=prefault,
        )

    # ------------------------------------------------------------------ state
    @property
    def nbytes(self) -> int:
        """Bytes of item storage (capacity x item bytes); meta and stamps add ``meta_nbytes``."""
        return self._items.nbytes

    @property
    def meta_nbytes(self) -> int:
        if self._meta is None or self._stamps is None:
            return 0
        return self._meta.nbytes + self._stamps.nbytes

    @property
    def write_count(self) -> int:
        """Items ever published (the sequence number the next write gets)."""
        return self._count

    def span(self) -> tuple[int, int]:
        """``(oldest, stop)``: the sequence numbers readable right now are ``oldest <= seq < stop``."""
        stop = self._count
        return min(max(self._claimed - self.capacity, 0), stop), stop

    def still_valid(self, first_seq: int) -> bool:
        """True while item ``first_seq`` (and every later one) has not been touched by the writer.

        Call it after using a view from a read: if it is False, the view may hold newer data.
        """
        return first_seq >= self._claimed - self.capacity

    def stamp_of(self, seq: int) -> int:
        """Stamp of a published item still in the ring (implicit stamps: any seq)."""
        if self._stamps is None:
            return self.first_stamp + seq
        oldest, stop = self.span()
        if not oldest <= seq < stop:
            raise IndexError(f"item {seq} is not in the ring (readable: {oldest}..{stop - 1})")
        stamp = int(self._stamps[seq % self.capacity])
        if not self.still_valid(seq):
            raise IndexError(f"item {seq} was overwritten while being read")
        return stamp

    # ------------------------------------------------------------------ write path (one thread only)
    def write(self, item: np.ndarray, meta: object = None) -> int:
        """Copy one item into the next slot (one ``np.copyto``); return its sequence number.

        ``meta``: the item's record (tuple, np.void or 1-element array of ``meta_dtype``), required for
        rings with a meta_dtype. Stamps must not decrease: give every item a stamp (a frame whose trigger
        pulse was lost needs an estimated one, not -1), since range reads binary-search them.
        """
        if self._pending:
            raise RuntimeError("write() while a claim() awaits its commit()")
        if item.shape != self.item_shape:
            raise ValueError(f"item shape {item.shape} != ring item shape {self.item_shape}")
        self._check_dtype(item)
        stamp = self._check_meta(meta)
        seq = self._count
        slot = seq % self.capacity
        self._claimed = seq + 1  # announce: item seq - capacity is being overwritten
        np.copyto(self._slots[slot], item)
        self._publish(seq, slot, stamp)
        return seq

    def claim(self) -> np.ndarray:
        """The next slot, writable, for a capture API that fills a buffer in place; then ``commit()``.

        The item the slot held is gone from this moment (readers see it as lost).
        """
        if self._pending:
            raise RuntimeError("claim() again before commit() or abandon()")
        seq = self._count
        self._claimed = seq + 1
        self._pending = True
        return self._slots[seq % self.capacity]

    def commit(self, meta: object = None) -> int:
        """Publish the claimed slot (with its meta record); return its sequence number."""
        if not self._pending:
            raise RuntimeError("commit() without claim()")
        stamp = self._check_meta(meta)  # on a bad record the claim stays open: commit again or abandon
        seq = self._count
        self._publish(seq, seq % self.capacity, stamp)
        self._pending = False
        return seq

    def abandon(self) -> None:
        """Give up a claim (capture failed). The slot's previous item stays lost; the next claim reuses it."""
        self._pending = False

    def write_block(self, items: np.ndarray, metas: np.ndarray | None = None) -> int:
        """Copy a block of items (e.g. ECG samples: (n, n_channels)); return the first one's sequence number.

        At most two copies (the block may wrap around the ring end). A block longer than the ring keeps
        only its last ``capacity`` items; the others count as written, and lost, for every reader.
        """
        if self._pending:
            raise RuntimeError("write_block() while a claim() awaits its commit()")
        if items.shape[1:] != self.item_shape:
            raise ValueError(f"block item shape {items.shape[1:]} != ring item shape {self.item_shape}")
        self._check_dtype(items)
        n = len(items)
        block_stamps = self._check_metas(metas, n)
        seq = self._count
        if n == 0:
            return seq
        keep = min(n, self.capacity)
        first = seq + n - keep
        self._claimed = seq + n
        self._copy_in(self._items, first, items[n - keep :])
        if self._meta is not None and self._stamps is not None and metas is not None:
            self._copy_in(self._meta, first, metas[n - keep :])
            self._copy_in(self._stamps, first, block_stamps[n - keep :])
            self._last_stamp = int(block_stamps[-1])
        self._count = seq + n
        return seq

    def _copy_in(self, dest: np.ndarray, first: int, src: np.ndarray) -> None:
        start = first % self.capacity
        head = min(len(src), self.capacity - start)
        np.copyto(dest[start : start + head], src[:head])
        if head < len(src):
            np.copyto(dest[: len(src) - head], src[head:])

    def _check_dtype(self, items: np.ndarray) -> None:
        if not np.can_cast(items.dtype, self.dtype, "safe"):
            raise TypeError(f"cannot store {items.dtype} items in a {self.dtype} ring without losing data")

    def _check_meta(self, meta: object) -> int | None:
        """Validate one record before anything is overwritten; return its stamp (None: implicit)."""
        if self._meta_scratch is None:
            if meta is not None:
                raise ValueError("this ring has no meta_dtype: its stamps are implicit")
            return None
        if meta is None:
            raise ValueError(f"this ring needs a {self.stamp_field!r} record per item")
        self._meta_scratch[0] = meta
        stamp = int(self._meta_scratch[self.stamp_field][0])
        if self._last_stamp is not None and stamp < self._last_stamp:
            raise ValueError(f"stamp {stamp} is before the previous stamp {self._last_stamp}")
        return stamp

    def _check_metas(self, metas: np.ndarray | None, n: int) -> NDArray[np.int64]:
        if self.meta_dtype is None or self.stamp_field is None:
            if metas is not None:
                raise ValueError("this ring has no meta_dtype: its stamps are implicit")
            return np.empty(0, dtype=_STAMP_DTYPE)
        if metas is None or metas.dtype != self.meta_dtype or metas.shape != (n,):
            raise ValueError(f"write_block needs {n} records of the ring's meta_dtype")
        stamps = metas[self.stamp_field].astype(_STAMP_DTYPE)
        previous = self._last_stamp if self._last_stamp is not None else stamps[:1]
        if n and np.any(np.diff(stamps, prepend=previous) < 0):
            raise ValueError("block stamps must not decrease (nor go before the previous stamp)")
        return stamps

    def _publish(self, seq: int, slot: int, stamp: int | None) -> None:
        if stamp is not None and self._meta is not None and self._stamps is not None:
            assert self._meta_scratch is not None
            self._meta[slot] = self._meta_scratch[0]
            self._stamps[slot] = stamp
            self._last_stamp = stamp
        self._count = seq + 1  # publish: readers may now return seq

    # ------------------------------------------------------------------ read path (any thread)
    def reader(self, from_seq: int | None = None) -> Reader:
        """A sequential cursor for a consumer that must see every item (default: from the next write on)."""
        return Reader(self, self._count if from_seq is None else from_seq)

    def latest(self, n: int, copy: bool = False) -> ReadResult:
        """The newest ``n`` items (fewer if fewer were written); ``lost``: those overwritten meanwhile."""
        stop = self._count
        want = max(stop - max(n, 0), 0)
        start = min(max(want, self._claimed - self.capacity), stop)
        return self._read_span(start, stop, copy, lost=start - want)

    def latest_ms(self, ms: float, rate: float | None = None, copy: bool = False) -> ReadResult:
        """The items of the last ``ms`` milliseconds at ``rate`` items/s (default: the ring's rate)."""
        rate = self.rate if rate is None else rate
        if rate is None:
            raise ValueError("latest_ms needs a rate: this ring was made without one")
        return self.latest(round(ms * rate / MS_PER_S), copy)

    def read_range(self, start_stamp: int, stop_stamp: int, copy: bool = False) -> ReadResult:
        """Items with ``start_stamp <= stamp < stop_stamp`` that are still in the ring.

        Implicit stamps: ``lost`` counts the items of the range already overwritten. Stored stamps: the
        ring cannot know how many items an overwritten stretch held, so ``lost`` only counts items found
        and then overwritten during the read; compare ``stamps[0]`` with ``start_stamp`` to see a cut.
        """
        if self._stamps is None:
            stop = self._count
            want = min(max(start_stamp - self.first_stamp, 0), stop)
            end = min(max(stop_stamp - self.first_stamp, want), stop)
            start = min(max(want, self._claimed - self.capacity), end)
            return self._read_span(start, end, copy, lost=start - want)
        oldest, stop = self.span()
        stamps = self._gather(self._stamps, oldest, stop - oldest, copy=True)
        # Seqlock check on the copied stamps: drop those the writer reached while they were copied.
        skip = min(max(self._claimed - self.capacity - oldest, 0), len(stamps))
        valid = stamps[skip:]
        start = oldest + skip + int(np.searchsorted(valid, start_stamp, side="left"))
        end = oldest + skip + int(np.searchsorted(valid, stop_stamp, side="left"))
        return self._read_span(start, max(start, end), copy, lost=0)

    def _gather(self, array: np.ndarray, start: int, n: int, copy: bool) -> np.ndarray:
        """Items ``start .. start + n - 1`` of a ring array: a view when contiguous and not ``copy``."""
        first = start % self.capacity
        head = min(n, self.capacity - first)
        if head == n:
            view = array[first : first + n]
            return view.copy() if copy else view
        return np.concatenate((array[first:], array[: n - head]))

    def _read_span(self, start: int, stop: int, copy: bool, lost: int) -> ReadResult:
        """Read published items ``[start, stop)``, then drop (seqlock check) those overwritten meanwhile."""
        n = stop - start
        contiguous = start % self.capacity + n <= self.capacity
        items = self._gather(self._items, start, n, copy)
        meta = None if self._meta is None else self._gather(self._meta, start, n, copy)
        if self._stamps is None:
            stamps = np.arange(start + self.first_stamp, stop + self.first_stamp, dtype=_STAMP_DTYPE)
        else:
            stamps = self._gather(self._stamps, start, n, copy)
        overwritten = min(max(self._claimed - self.capacity - start, 0), n)  # read AFTER the copy
        if overwritten:
            items, stamps = items[overwritten:], stamps[overwritten:]
            meta = None if meta is None else meta[overwritten:]
        is_view = contiguous and not copy
        return ReadResult(items, stamps, start + overwritten, lost + overwritten, meta, is_view)


class Reader:
    """One consumer's cursor into a ring: ``read_new`` returns every item once, or says how many were lost."""

    def __init__(self, ring: RingBuffer, next_seq: int) -> None:
        self.ring = ring
        self.next_seq = max(int(next_seq), 0)
        self.total_lost = 0

    @property
    def available(self) -> int:
        """Items published and not read yet (some may already be overwritten)."""
        return self.ring.write_count - self.next_seq

    def read_new(self, max_items: int | None = None, copy: bool = False) -> ReadResult:
        """The items written since the last call, oldest first (at most ``max_items``).

        ``lost``: items skipped because the writer lapped this reader; always
        ``first_seq == previous next_seq + lost``. The result is a view when the span is contiguous in the
        ring (check ``ring.still_valid(first_seq)`` after using it) and a copy when it wraps or ``copy``.
        """
        ring = self.ring
        stop = ring.write_count
        start = min(max(self.next_seq, ring._claimed - ring.capacity), stop)
        if max_items is not None:
            stop = min(stop, start + max(max_items, 0))
        result = ring._read_span(start, stop, copy, lost=start - self.next_seq)
        self.next_seq = stop
        self.total_lost += result.lost
        return result

    def skip_to_latest(self) -> int:
        """Drop the backlog (a consumer that only wants fresh items); return how many items were skipped."""
        skipped = max(self.ring.write_count - self.next_seq, 0)
        self.next_seq += skipped
        return skipped
