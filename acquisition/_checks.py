"""Checks of values that come from people (configuration, command line, GUI), in one place: each raises
:class:`~acquisition.errors.ConfigError` with one line naming the setting and the problem."""

from __future__ import annotations

import math
import re

from acquisition.errors import ConfigError

ECG_RATE_HZ = (100.0, 100000.0)  # below 100 Hz R-peaks cannot be placed; above, no ECG amplifier records
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_name(value: str, setting: str) -> str:
    """A subject or trial name: it becomes part of a session folder's name, so letters, digits, '.', '_'
    and '-' only, starting with a letter or digit (no path separators, no '..'), at most 64 characters."""
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value) or ".." in value:
        raise ConfigError(f"{setting} = {value!r}: use 1-64 letters, digits, '.', '_' or '-', starting "
                          "with a letter or digit (it names the session folder)")
    return value


def check_positive(value: float, setting: str) -> float:
    """A finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or value <= 0:
        raise ConfigError(f"{setting} = {value!r}: must be a positive number")
    return value


def check_range(value: float, setting: str, low: float, high: float, unit: str = "") -> float:
    """A finite number in [low, high] (a physical range)."""
    if not (isinstance(value, int | float) and math.isfinite(value) and low <= value <= high):
        raise ConfigError(f"{setting} = {value!r}: must lie between {low:g} and {high:g}{unit}")
    return value
