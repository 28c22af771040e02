"""Errors that end in one clear message (and a non-zero exit) instead of a traceback."""

from __future__ import annotations

from pathlib import Path


class MespotError(Exception):
    """Base of every error that the CLI reports as a plain message."""

    exit_code = 1


class InputFileError(MespotError):
    """A file (or session directory) that cannot be used: missing, truncated, malformed, wrong columns."""

    exit_code = 2

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class DeviceError(MespotError):
    """A device fault: camera timeout burst, NDT connection lost, serial port gone."""

    exit_code = 3


class ConfigError(MespotError):
    """A configuration value that is missing or out of range."""

    exit_code = 2
