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
    ("camera.exposure_us=-1", "must lie between 1 and"),
    ("camera.fps=nan", "cannot use 'nan'"),
    ("recording.frames_per_chunk=1.5", "cannot use '1.5'"),
    ("recording.roi=1,2,3", "cannot use '1,2,3'"),
    ("ecg.sampling_rate=10", "ecg.sampling_rate = 10.0: must lie between 100"),
    ("buffer.frame_seconds=3000", "of memory available"),
    ("trigger.pulse_width_us=7000", "shorter than the pulse period"),
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


@pytest.mark.parametrize(("text", "message"), [
    ("camera = 5\n", "camera = 5: must be a [camera] table"),
    ("[recording]\nroi = [1, 2, 3]\n", "recording.roi: cannot use [1, 2, 3]"),
    ("[camera]\ntimeout_ms = -5\n", "camera.timeout_ms = -5: must lie between"),
    ("[camera]\nfps = nan\n", "camera.fps: cannot use nan"),
    ("[camera\n", "not valid TOML"),
])
def test_toml_errors_name_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "lab.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)


def test_a_section_that_is_a_value_is_refused_even_with_overrides(tmp_path: Path) -> None:
    path = tmp_path / "lab.toml"
    path.write_text("camera = 5\n")
    with pytest.raises(ConfigError, match=r"camera = 5: must be a \[camera\] table"):
        load_config(path, ["camera.driver=mock"])
