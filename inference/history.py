"""An append-only series that keeps only its last rows, addressed by absolute row index."""

from __future__ import annotations

import numpy as np


class History:
    """The last ``capacity`` rows of an append-only series, addressed by absolute row index."""

    def __init__(self, capacity: int, shape: tuple[int, ...] = (), dtype: type = np.float64) -> None:
        self._data = np.zeros((2 * capacity, *shape), dtype=dtype)
        self._capacity = capacity
        self._first = 0  # absolute index of row 0 of _data
        self._length = 0

    @property
    def end(self) -> int:
        return self._first + self._length

    @property
    def start(self) -> int:
        return self._first

    def append(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows)
        if len(rows) > self._capacity:
            self._first += self._length + len(rows) - self._capacity
            self._length = 0
            rows = rows[-self._capacity :]
        if self._length + len(rows) > len(self._data):
            keep = self._capacity - len(rows)
            self._data[:keep] = self._data[self._length - keep : self._length]
            self._first += self._length - keep
            self._length = keep
        self._data[self._length : self._length + len(rows)] = rows
        self._length += len(rows)

    def get(self, start: int, stop: int) -> tuple[np.ndarray, int]:
        """Rows ``start..stop-1`` that are still kept, and the absolute index of the first one returned."""
        lo = max(start, self._first)
        hi = min(stop, self.end)
        if hi <= lo:
            return self._data[:0], lo
        return self._data[lo - self._first : hi - self._first], lo

    def last(self) -> np.ndarray | None:
        """The newest row (None while empty)."""
        return self._data[self._length - 1] if self._length else None
