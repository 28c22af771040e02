"""What the AcqKnowledge emulator acquires: a :class:`SampleStream` of base-rate samples.

A stream describes its channels (:class:`ChannelSpec`: label, NDT type and index, downsampling divider,
units) and hands out consecutive hardware samples at the base rate with :meth:`SampleStream.next_block`:
an array (n, n_channels) whose cell [k, c] is read only when channel c is due at that hardware index
(``index % divider == 0``); the other cells are ignored (NaN by convention). ``n == 0`` means "nothing yet,
ask again" (a source gated on a shared lab clock), None means the recording has ended.

:class:`ArraySource` serves numpy arrays, one per channel at the channel's own rate, and reads them from
.acq (bioread), CSV and NPY files.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

CHANNEL_TYPES: tuple[str, ...] = ("analog", "digital", "calc")


@dataclass(frozen=True)
class ChannelSpec:
    """A channel as AcqKnowledge shows it over NDT. ``index`` None: the next free index of its type."""

    label: str
    divider: int = 1
    units: str = ""
    type: str = "analog"
    index: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not self.label.strip():
            raise ValueError(f"channel label must be a non-empty string, got {self.label!r}")
        if isinstance(self.divider, bool) or not isinstance(self.divider, int) or self.divider < 1:
            raise ValueError(f"channel {self.label!r}: divider must be an int >= 1, got {self.divider!r}")
        if self.type not in CHANNEL_TYPES:
            raise ValueError(f"channel {self.label!r}: type must be in {CHANNEL_TYPES}, got {self.type!r}")
        if self.index is not None and (isinstance(self.index, bool) or self.index < 0):
            raise ValueError(f"channel {self.label!r}: index must be an int >= 0, got {self.index!r}")


def assign_indices(specs: Sequence[ChannelSpec]) -> list[ChannelSpec]:
    """Specs with every ``index`` filled (next free per type, in order); ValueError on duplicates."""
    used: dict[str, set[int]] = {t: set() for t in CHANNEL_TYPES}
    for spec in specs:
        if spec.index is not None:
            used[spec.type].add(spec.index)
    out: list[ChannelSpec] = []
    seen: set[tuple[str, int]] = set()
    for spec in specs:
        if spec.index is None:
            index = 0
            while index in used[spec.type]:
                index += 1
            used[spec.type].add(index)
            spec = replace(spec, index=index)
        key = (spec.type, int(spec.index or 0))
        if key in seen:
            raise ValueError(f"two channels are {spec.type} {spec.index}")
        seen.add(key)
        out.append(spec)
    return out


@runtime_checkable
class SampleStream(Protocol):
    """Base-rate samples for the emulator; see the module docstring for the block convention."""

    @property
    def base_rate(self) -> float:
        """Hardware (acquisition) sampling rate in Hz; channel rate = base_rate / divider."""
        ...

    def channel_specs(self) -> list[ChannelSpec]:
        """The channels, in the column order of the blocks."""
        ...

    def next_block(self, max_samples: int) -> np.ndarray | None:
        """Up to ``max_samples`` next hardware samples (n, n_channels); empty = not yet; None = ended."""
        ...


def _positive_rate(rate: float) -> float:
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not math.isfinite(rate) or rate <= 0:
        raise ValueError(f"base_rate must be a positive number of Hz, got {rate!r}")
    return float(rate)


def _trim_nan_tail(values: np.ndarray) -> np.ndarray:
    present = np.flatnonzero(~np.isnan(values))
    return values[: present[-1] + 1] if present.size else values[:0]


class ArraySource:
    """One array per channel, each at its own rate (``base_rate / divider``), streamed from sample 0.

    The stream lasts ``n_samples`` hardware samples: the longest span for which every channel has all of
    its due samples (``min(len(data) * divider)``, rounded down to whole samples).
    """

    def __init__(self, base_rate: float, channels: Sequence[tuple[ChannelSpec, np.ndarray]]) -> None:
        self._base_rate = _positive_rate(base_rate)
        if not channels:
            raise ValueError("an ArraySource needs at least one channel")
        specs = assign_indices([spec for spec, _ in channels])
        labels = [s.label.strip().casefold() for s in specs]
        if len(set(labels)) != len(labels):
            raise ValueError(f"channel labels must be distinct, got {[s.label for s in specs]}")
        arrays: list[np.ndarray] = []
        for spec, data in zip(specs, (d for _, d in channels), strict=True):
            array = np.asarray(data, dtype=np.float64)
            if array.ndim != 1 or array.size == 0:
                raise ValueError(f"channel {spec.label!r}: data must be a non-empty 1-D array")
            arrays.append(array)
        self._specs = specs
        self._arrays = arrays
        self._n = min(a.size * s.divider for s, a in zip(specs, arrays, strict=True))
        self._position = 0

    @property
    def base_rate(self) -> float:
        return self._base_rate

    @property
    def n_samples(self) -> int:
        """Hardware samples in the whole stream."""
        return self._n

    @property
    def position(self) -> int:
        """Hardware samples handed out so far."""
        return self._position

    def channel_specs(self) -> list[ChannelSpec]:
        return list(self._specs)

    def channel_data(self, label: str) -> np.ndarray:
        """The samples of a channel that the stream will send (at the channel's rate)."""
        for spec, array in zip(self._specs, self._arrays, strict=True):
            if spec.label == label:
                return array[: -(-self._n // spec.divider)]
        raise KeyError(label)

    def next_block(self, max_samples: int) -> np.ndarray | None:
        if isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 1:
            raise ValueError(f"max_samples must be an int >= 1, got {max_samples!r}")
        start = self._position
        stop = min(self._n, start + max_samples)
        if stop <= start:
            return None
        block = np.full((stop - start, len(self._specs)), np.nan)
        for c, (spec, array) in enumerate(zip(self._specs, self._arrays, strict=True)):
            first = -(-start // spec.divider)  # first channel sample at or after `start`
            last = -(-stop // spec.divider)
            rows = np.arange(first, last) * spec.divider - start
            block[rows, c] = array[first:last]
        self._position = stop
        return block

    # --- from files ----------------------------------------------------------------------------------

    @classmethod
    def from_acq(
        cls,
        path: str | Path,
        labels: Sequence[str] | None = None,
        types: Mapping[str, str] | None = None,
        max_seconds: float | None = None,
    ) -> ArraySource:
        """Channels of an AcqKnowledge file (bioread); divider = base rate / channel rate.

        ``labels``: the channels to keep (default all); ``types``: NDT type by label for non-analog
        channels (bioread does not say which inputs were digital); ``max_seconds``: keep only the start.
        """
        import bioread

        data = bioread.read_file(str(path))
        base_rate = float(data.samples_per_second)
        wanted = None if labels is None else list(labels)
        channels: list[tuple[ChannelSpec, np.ndarray]] = []
        for channel in data.channels:
            if wanted is not None and channel.name not in wanted:
                continue
            divider = round(base_rate / float(channel.samples_per_second))
            if divider < 1 or not math.isclose(base_rate / divider, channel.samples_per_second, rel_tol=1e-9):
                raise ValueError(f"{path}: channel {channel.name!r} rate is not base rate / an integer")
            values = np.asarray(channel.data, dtype=np.float64)
            if max_seconds is not None:
                values = values[: max(1, math.ceil(max_seconds * base_rate / divider))]
            kind = (types or {}).get(channel.name, "analog")
            channels.append((ChannelSpec(channel.name, divider, channel.units or "", kind), values))
        if wanted is not None:
            missing = sorted(set(wanted) - {spec.label for spec, _ in channels})
            if missing:
                raise ValueError(f"{path}: no channel {missing}; it has {[c.name for c in data.channels]}")
        return cls(base_rate, channels)

    @classmethod
    def from_columns(
        cls,
        base_rate: float,
        labels: Sequence[str],
        columns: np.ndarray,
        dividers: Mapping[str, int] | None = None,
        types: Mapping[str, str] | None = None,
        units: Mapping[str, str] | None = None,
    ) -> ArraySource:
        """A 2-D array (n, n_channels); column c holds channel c's samples at its own rate, NaN-padded."""
        table = np.asarray(columns, dtype=np.float64)
        if table.ndim != 2 or table.shape[1] != len(labels):
            raise ValueError(f"columns must be (n, {len(labels)}), got shape {table.shape}")
        channels = [
            (
                ChannelSpec(
                    label,
                    (dividers or {}).get(label, 1),
                    (units or {}).get(label, ""),
                    (types or {}).get(label, "analog"),
                ),
                _trim_nan_tail(table[:, c]),
            )
            for c, label in enumerate(labels)
        ]
        return cls(base_rate, channels)

    @classmethod
    def from_csv(
        cls,
        path: str | Path,
        base_rate: float,
        dividers: Mapping[str, int] | None = None,
        types: Mapping[str, str] | None = None,
    ) -> ArraySource:
        """A CSV file with a header row of labels; empty cells pad the slower channels' columns."""
        with Path(path).open(newline="") as handle:
            rows = list(csv.reader(handle))
        if len(rows) < 2:
            raise ValueError(f"{path}: needs a header row and at least one row of samples")
        labels = [x.strip() for x in rows[0]]
        table = np.array(
            [[float(x) if x.strip() else np.nan for x in row] for row in rows[1:] if row], dtype=np.float64
        )
        return cls.from_columns(base_rate, labels, table, dividers, types)

    @classmethod
    def from_npy(
        cls,
        path: str | Path,
        base_rate: float,
        labels: Sequence[str],
        dividers: Mapping[str, int] | None = None,
        types: Mapping[str, str] | None = None,
    ) -> ArraySource:
        """An .npy array (n, n_channels), columns as in :meth:`from_columns`."""
        return cls.from_columns(base_rate, labels, np.load(path, allow_pickle=False), dividers, types)
