"""The SerialTriggerBox driver against the mock trigger box on a pseudo-terminal."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from acquisition.errors import ConfigError, DeviceError
from acquisition.trigger import SerialTriggerBox, TriggerBox, TriggerCommandError, TriggerStatus
from hardware_mocks.trigger_box import FanoutPulses, MockTriggerBox, TimedPulses

TIMEOUT_S = 0.2


@pytest.fixture
def mock() -> Iterator[MockTriggerBox]:
    with MockTriggerBox() as box:
        yield box


@pytest.fixture
def box(mock: MockTriggerBox) -> Iterator[SerialTriggerBox]:
    assert mock.port is not None
    with SerialTriggerBox(mock.port, timeout_s=TIMEOUT_S, boot_wait_s=0) as driver:
        yield driver


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# ---- handshake and normal operation ----


def test_handshake_reads_firmware_version(mock: MockTriggerBox, box: SerialTriggerBox) -> None:
    assert box.is_open
    assert box.firmware_version == "1.0.0"
    assert mock.received[0] == "HELLO"
    assert box.status() == TriggerStatus(running=False, rate_hz=150, pulse_width_us=2000, pulse_count=0)


def test_configure_sets_rate_and_width(mock: MockTriggerBox, box: SerialTriggerBox) -> None:
    box.configure(200, 1000)
    assert box.status() == TriggerStatus(running=False, rate_hz=200, pulse_width_us=1000, pulse_count=0)
    assert (mock.rate_hz, mock.pulse_width_us) == (200, 1000)


def test_configure_orders_commands_so_every_step_is_valid(
    mock: MockTriggerBox, box: SerialTriggerBox
) -> None:
    box.configure(1000, 500)  # 2000 µs does not fit 1 kHz: WIDTH must go first
    box.configure(1, 500_000)  # 500 ms does not fit 1 kHz: RATE must go first
    sent = [line for line in mock.received if line.startswith(("RATE", "WIDTH"))]
    assert sent == ["WIDTH 500", "RATE 1000", "RATE 1", "WIDTH 500000"]
    assert (mock.rate_hz, mock.pulse_width_us) == (1, 500_000)


def test_pulse_count_grows_at_the_rate_and_stop_freezes_it(
    mock: MockTriggerBox, box: SerialTriggerBox
) -> None:
    box.configure(1000, 200)
    before_start = time.monotonic()
    box.start()
    assert box.pulse_count() >= 1  # the first edge comes at START
    time.sleep(0.2)
    count = box.pulse_count()
    elapsed = time.monotonic() - before_start
    assert 0.5 * 1000 * 0.2 <= count <= 1000 * elapsed + 1
    status = box.status()
    assert status.running and status.pulse_count >= count
    final = box.stop()
    assert final >= status.pulse_count
    assert not mock.running
    time.sleep(0.02)
    assert box.pulse_count() == final
    assert box.status() == TriggerStatus(running=False, rate_hz=1000, pulse_width_us=200, pulse_count=final)


def test_start_resets_the_count(mock: MockTriggerBox, box: SerialTriggerBox) -> None:
    box.configure(1000, 100)
    box.start()
    time.sleep(0.05)
    first = box.stop()
    box.start()
    assert box.pulse_count() < first
    box.stop()


def test_close_stops_the_box(mock: MockTriggerBox) -> None:
    assert mock.port is not None
    with SerialTriggerBox(mock.port, timeout_s=TIMEOUT_S, boot_wait_s=0) as box:
        box.start()
        assert mock.running
    assert not mock.running
    assert not box.is_open
    with pytest.raises(DeviceError, match="not open"):
        box.pulse_count()


def test_box_is_shared_safely_between_threads(box: SerialTriggerBox) -> None:
    box.configure(1000, 100)
    box.start()
    results: list[int | TriggerStatus] = []
    failures: list[BaseException] = []

    def poll() -> None:
        try:
            for _ in range(10):
                results.append(box.pulse_count())
                results.append(box.status())
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=poll) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    assert len(results) == 80


# ---- validation before anything is sent ----


@pytest.mark.parametrize(
    ("rate", "width", "problem"),
    [
        (0, 100, "out of range"),
        (-150, 100, "out of range"),
        (1001, 100, "out of range"),
        (149.5, 100, "whole number"),
        (float("nan"), 100, "whole number"),
        (True, 100, "must be a number"),
        ("150", 100, "must be a number"),
        (150, 5, "too short"),
        (150, 6660, "does not fit"),
        (1000, 1000, "does not fit"),
    ],
)
def test_invalid_settings_raise_before_sending(
    mock: MockTriggerBox, box: SerialTriggerBox, rate: object, width: object, problem: str
) -> None:
    before = mock.received
    with pytest.raises(ConfigError, match=problem):
        box.configure(rate, width)  # type: ignore[arg-type]
    assert mock.received == before


def test_validate_config_accepts_whole_numbers_of_any_type() -> None:
    assert TriggerBox.validate_config(150.0, np.int64(2000)) == (150, 2000)
    assert TriggerBox.validate_config(np.int32(1000), 990) == (1000, 990)
    assert TriggerBox.validate_config(1, 999_990) == (1, 999_990)


# ---- ERR replies ----


def test_err_reply_raises_with_code(mock: MockTriggerBox, box: SerialTriggerBox) -> None:
    box.start()
    with pytest.raises(TriggerCommandError, match=r"refused 'WIDTH 100': ERR 4 busy") as caught:
        box.configure(150, 100)
    assert caught.value.code == 4
    assert isinstance(caught.value, DeviceError)
    with pytest.raises(TriggerCommandError, match="ERR 4"):
        box.start()
    box.stop()


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("FROB", 1),
        ("RATE", 2),
        ("RATE abc", 2),
        ("RATE 1 2", 2),
        ("COUNT 3", 2),
        ("RATE 0", 3),
        ("RATE 99999999999999", 3),
        ("WIDTH 5", 3),
        ("WIDTH 7000", 6),
        ("X" * 40, 5),
    ],
)
def test_protocol_errors(box: SerialTriggerBox, line: str, code: int) -> None:
    with pytest.raises(TriggerCommandError) as caught:
        box.command(line)
    assert caught.value.code == code
    assert box.command("hello").startswith("OK MESPOT-TRIGGER")  # still in step, commands case-insensitive


def test_command_rejects_multiline_input(box: SerialTriggerBox) -> None:
    with pytest.raises(ValueError):
        box.command("STOP\nSTART")


# ---- faults ----


def test_unplugged_port_raises_device_error(mock: MockTriggerBox, box: SerialTriggerBox) -> None:
    box.start()
    mock.unplug()
    with pytest.raises(DeviceError, match=rf"serial port {mock.port} is gone"):
        box.pulse_count()
    with pytest.raises(DeviceError, match="is gone"):  # stays gone
        box.status()
    box.close()  # quiet


def test_missing_port_raises_device_error() -> None:
    with pytest.raises(DeviceError, match="cannot open serial port /dev/nonexistent-trigger"):
        SerialTriggerBox("/dev/nonexistent-trigger", timeout_s=TIMEOUT_S, boot_wait_s=0).open()


def test_muted_box_times_out(mock: MockTriggerBox, box: SerialTriggerBox) -> None:
    mock.mute()
    started = time.monotonic()
    with pytest.raises(DeviceError, match=r"did not answer 'COUNT' within 0.2 s"):
        box.pulse_count()
    assert time.monotonic() - started < 1.0
    mock.mute(False)
    assert box.pulse_count() == 0  # a late reply does not desynchronise the next command


def test_silent_port_is_not_a_trigger_box(mock: MockTriggerBox) -> None:
    assert mock.port is not None
    mock.mute()
    box = SerialTriggerBox(mock.port, timeout_s=TIMEOUT_S, boot_wait_s=0)
    with pytest.raises(DeviceError, match=rf"no trigger box answered on {mock.port} within 0.2 s"):
        box.open()
    assert not box.is_open


@pytest.mark.parametrize(
    ("hello_reply", "problem"),
    [
        (b"$GPGGA,123519,4807.038,N*47\r\n", "no trigger box answered on .*replied '\\$GPGGA"),
        (b"OK OTHER-BOX 1.0.0\r\n", "no trigger box answered on .*replied 'OK OTHER-BOX"),
        (b"\xff\xfe\x00" * 60, "without a line end"),
        (b"\x00\x17", "it sent only"),
    ],
)
def test_wrong_device_is_refused(hello_reply: bytes, problem: str) -> None:
    with MockTriggerBox(hello_reply=hello_reply) as mock:
        assert mock.port is not None
        box = SerialTriggerBox(mock.port, timeout_s=TIMEOUT_S, boot_wait_s=0)
        with pytest.raises(DeviceError, match=problem):
            box.open()
        assert not box.is_open


def test_unsupported_firmware_version_is_refused() -> None:
    with MockTriggerBox(firmware_version="2.0.0") as mock:
        assert mock.port is not None
        with pytest.raises(DeviceError, match=r"runs firmware 2\.0\.0"):
            SerialTriggerBox(mock.port, timeout_s=TIMEOUT_S, boot_wait_s=0).open()


def test_handshake_waits_for_a_resetting_board() -> None:
    with MockTriggerBox(boot_delay_s=0.3) as mock:
        assert mock.port is not None
        started = time.monotonic()
        with SerialTriggerBox(mock.port, timeout_s=0.1, boot_wait_s=1.0) as box:
            assert time.monotonic() - started >= 0.3  # HELLOs sent while "booting" were lost, then retried
            assert box.firmware_version == "1.0.0"
        assert mock.received == ["HELLO", "STOP"]


def test_boot_banner_is_skipped_in_handshake_but_means_restart_later(mock: MockTriggerBox) -> None:
    assert mock.port is not None
    banner = b"READY MESPOT-TRIGGER 1.0.0\r\n"
    mock.send_before_next_reply(banner)
    with SerialTriggerBox(mock.port, timeout_s=TIMEOUT_S, boot_wait_s=0) as box:
        assert box.firmware_version == "1.0.0"
        mock.send_before_next_reply(banner)
        with pytest.raises(DeviceError, match="restarted"):
            box.pulse_count()


# ---- pulse listeners ----


def test_timed_pulses_follow_the_clock() -> None:
    clock = FakeClock()
    pulses = TimedPulses(clock)
    assert pulses.pulses_so_far() == 0
    pulses.trigger_started(150, 2000)
    assert pulses.pulses_so_far() == 1  # first edge at start
    clock.now += 1.0
    assert pulses.pulses_so_far() == 151
    pulses.trigger_stopped()
    clock.now += 5.0
    assert pulses.pulses_so_far() == 151


def test_mock_box_drives_its_listeners(box: SerialTriggerBox, mock: MockTriggerBox) -> None:
    clock = FakeClock()
    counter, follower = TimedPulses(clock), TimedPulses(clock)
    mock.listener = FanoutPulses(counter, follower)
    box.configure(150, 2000)
    box.start()
    assert follower.pulses_so_far() == 1
    clock.now += 2.0
    assert box.pulse_count() == 301
    assert box.stop() == 301
    clock.now += 1.0
    assert follower.pulses_so_far() == 301
