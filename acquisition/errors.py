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


class RecordingError(DeviceError):
    """Writing the session failed (a full disk, a write error): acquisition stops, what was written stays."""

    def __init__(self, path: str | Path, cause: OSError) -> None:
        import shutil

        self.path = Path(path)
        try:
            free = f"{shutil.disk_usage(self.path).free / 2**20:.0f} MiB free there"
        except OSError:
            free = "free space unknown"
        super().__init__(f"{self.path}: cannot write the session ({cause.strerror or cause}; {free}); "
                         "what was recorded until then is kept")


class ConfigError(MespotError):
    """A configuration value that is missing or out of range."""

    exit_code = 2
