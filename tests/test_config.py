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


@pytest.mark.parametrize("name", ["../../x", "a/b", "..", ".hidden", "", "x" * 65, "a b", "s\\x"])
def test_subject_and_trial_names_that_could_leave_the_session_folder_are_refused(
        name: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from app.cli import main

    for setting in ("recording.subject", "recording.trial"):
        with pytest.raises(ConfigError, match=setting.replace(".", r"\.")):
            load_config(None, [f"{setting}={name}"])
    code = main(["record", "--set", "camera.driver=mock", "--set", f"recording.subject={name}",
                 "--set", f"recording.out_dir={tmp_path}", "--duration", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "recording.subject" in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.parent.glob("x*")) and list(tmp_path.iterdir()) == []


def test_good_names_pass() -> None:
    config = load_config(None, ["recording.subject=P-07_a", "recording.trial=2.1"])
    assert (config.recording.subject, config.recording.trial) == ("P-07_a", "2.1")
