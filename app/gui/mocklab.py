"""Mock lab for the GUI: ``app.devices.mock_lab`` started part-way for seek and pause.

Seek and pause in a replay restart the mock lab from a position (``hardware_mocks.sources.OffsetSource``
presents the source from that pulse on as a trial of its own). The GUI adds the offset back for display and
export, so times stay on the source's clock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from app.config import LabConfig
from app.devices import MockSetup, make_mock_source, mock_lab
from hardware_mocks.sources import OffsetSource

__all__ = ["OffsetSource", "open_mock_lab", "source_duration_s"]


def source_duration_s(config: LabConfig, workdir: Path) -> float:
    """Length of the configured mock source (opens and closes it)."""
    source = make_mock_source(config, workdir)
    try:
        return float(source.duration_s)
    finally:
        source.close()


@contextlib.contextmanager
def open_mock_lab(config: LabConfig, workdir: Path, start_s: float = 0.0) -> Iterator[tuple[MockSetup, int]]:
    """The mock lab from ``start_s`` seconds in, and the source pulse that became pulse 0."""
    with mock_lab(config, workdir, start_s) as setup:
        yield setup, setup.first_pulse
