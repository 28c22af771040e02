"""Decoding AcqKnowledge NDT 'single' connection data: headerless interleaved doubles.

Wire format (as BIOPAC's own ``biopacndt`` client reads it): for every hardware sample index ``i`` at the
acquisition base rate, starting at 0, one 8-byte double for each delivered channel whose downsampling
divider divides ``i``, in channel order. Nothing else is sent, so the reader must count samples itself and
must not assume a ``recv`` returns whole doubles or whole frames.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from acquisition.ecg._base import EcgBlock

SAMPLE_BYTES = 8


class FrameDecoder:
    """Turns an arbitrary split of the byte stream into :class:`EcgBlock` s at the ECG channel's rate.

    ``dividers``: downsampling divider of each delivered channel, in wire order. ``columns``: wire
    positions of the channels to return, the ECG channel first; rows are at the ECG rate. Another column
    is resampled onto the ECG rows: a faster channel by the maximum over the ECG sample period (so a TTL
    pulse one hardware sample wide survives), an equal or slower one by holding its latest sample at or
    before the row (NaN before its first sample). A row is emitted once its whole ECG period has arrived.
    """

    def __init__(self, dividers: Sequence[int], columns: Sequence[int], byte_order: str = "<") -> None:
        if not dividers or any(int(d) != d or d < 1 for d in dividers):
            raise ValueError(f"dividers must be ints >= 1, got {list(dividers)}")
        in_range = all(0 <= c < len(dividers) for c in columns)
        if not columns or not in_range or len(set(columns)) != len(columns):
            raise ValueError(f"columns must be distinct wire positions, got {list(columns)}")
        if byte_order not in ("<", ">"):
            raise ValueError(f"byte_order must be '<' or '>', got {byte_order!r}")
        self._dividers = [int(d) for d in dividers]
        self._columns = list(columns)
        self._dtype = np.dtype(f"{byte_order}f8")
        self._step = self._dividers[self._columns[0]]
        self._period = math.lcm(*self._dividers)
        slot_index: list[int] = []
        slot_channel: list[int] = []
        for i in range(self._period):
            for c, d in enumerate(self._dividers):
                if i % d == 0:
                    slot_index.append(i)
                    slot_channel.append(c)
        self._slot_index = np.asarray(slot_index, dtype=np.int64)
        self._slot_channel = np.asarray(slot_channel, dtype=np.int64)
        self._slots = len(slot_index)
        self._doubles = 0  # doubles received since acquisition start
        self._rest = b""  # bytes of an incomplete double
        self._first = 0  # hardware index of the pending region's first row (next row to emit)
        self._grid = np.full((0, len(self._dividers)), np.nan)
        self._got = np.zeros((0, len(self._dividers)), dtype=bool)  # slots received (a value may be NaN)
        self._hold = np.full(len(self._dividers), np.nan)

    @property
    def step(self) -> int:
        """Hardware samples per output row (the ECG channel's divider)."""
        return self._step

    @property
    def doubles_per_period(self) -> tuple[int, int]:
        """(hardware samples, doubles) of one repeating frame pattern."""
        return self._period, self._slots

    @property
    def next_sample(self) -> int:
        """Hardware index of the next row to be emitted (== rows emitted so far x step)."""
        return self._first

    @property
    def complete_through(self) -> int:
        """Hardware index just after the last sample whose whole frame has arrived."""
        return self._slot_base(self._doubles)

    @property
    def pending_bytes(self) -> int:
        """Bytes received but not yet part of an emitted row (an incomplete frame or ECG period)."""
        held = int(np.count_nonzero(self._got))
        return held * SAMPLE_BYTES + len(self._rest)

    def _slot_base(self, k: int) -> int:
        q, j = divmod(k, self._slots)
        return q * self._period + int(self._slot_index[j])

    def feed(self, chunk: bytes) -> EcgBlock | None:
        """Add received bytes; returns the rows they completed, or None."""
        data = self._rest + bytes(chunk)
        n = len(data) // SAMPLE_BYTES
        self._rest = data[n * SAMPLE_BYTES :]
        if n == 0:
            return None
        values = np.frombuffer(data, dtype=self._dtype, count=n).astype(np.float64)
        k = np.arange(self._doubles, self._doubles + n, dtype=np.int64)
        q, j = np.divmod(k, self._slots)
        base = q * self._period + self._slot_index[j]
        channel = self._slot_channel[j]
        self._doubles += n
        needed = int(base[-1]) + 1 - self._first
        if needed > self._grid.shape[0]:
            grown = np.full((needed, self._grid.shape[1]), np.nan)
            grown[: self._grid.shape[0]] = self._grid
            self._grid = grown
            got = np.zeros((needed, self._got.shape[1]), dtype=bool)
            got[: self._got.shape[0]] = self._got
            self._got = got
        self._grid[base - self._first, channel] = values
        self._got[base - self._first, channel] = True
        rows = (self.complete_through - self._first) // self._step
        if rows <= 0:
            return None
        return self._emit(rows)

    def _emit(self, rows: int) -> EcgBlock:
        span = rows * self._step
        region = self._grid[:span]
        out = np.empty((rows, len(self._columns)), dtype=np.float64)
        for o, c in enumerate(self._columns):
            column = region[:, c]
            if o == 0:
                out[:, o] = column[:: self._step]
            elif self._dividers[c] < self._step:
                out[:, o] = np.fmax.reduce(column.reshape(rows, self._step), axis=1)
            else:
                present = np.where(self._got[:span, c], np.arange(span), -1)
                last = np.maximum.accumulate(present)
                filled = np.where(last >= 0, column[np.maximum(last, 0)], self._hold[c])
                out[:, o] = filled[:: self._step]
                self._hold[c] = filled[-1]
        block = EcgBlock(first_sample=self._first, data=out, step=self._step)
        self._grid = self._grid[span:].copy()
        self._got = self._got[span:].copy()
        self._first += span
        return block
