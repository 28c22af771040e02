"""The lab configuration: the example file documents every setting; overrides and errors."""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from acquisition.errors import ConfigError
from app.config import LabConfig, load_config

EXAMPLE = Path(__file__).parents[1] / "lab.example.toml"


def test_example_documents_every_setting_with_its_default() -> None:
    data = tomllib.loads(EXAMPLE.read_text())
    defaults = LabConfig()
    for section in fields(LabConfig):
        values = getattr(defaults, section.name)
        documented = data[section.name]
        assert set(documented) == {f.name for f in fields(values)}, section.name
    assert load_config(EXAMPLE) == defaults


def test_overrides(tmp_path: Path) -> None:
    config = load_config(EXAMPLE, ["camera.exposure_us=2500", "recording.roi=[0, 0, 100, 80]",
                                   "mock.speed=max", "camera.driver=mock"])
    assert config.camera.exposure_us == 2500.0
    assert config.recording.roi == (0, 0, 100, 80)
    assert config.mock.speed == "max"


@pytest.mark.parametrize(("override", "message"), [
    ("camera.nope=1", "unknown setting"),
    ("nope.x=1", "unknown configuration section"),
    ("camera.fps=fast", "cannot use 'fast'"),
    ("camera.driver=usb", "camera.driver"),
    ("recording.roi=[2000, 0, 100, 100]", "does not fit"),
    ("trigger.rate_hz=100", "must equal camera.fps"),
    ("camera.exposure_us=-1", "must be positive"),
    ("camera", "section.key=value"),
])
def test_bad_settings(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_bad_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[camera\nfps = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
