"""SerialTriggerBox: the trigger box firmware (docs/trigger-box-protocol.md) on a USB serial port."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from typing import NoReturn

import serial

from acquisition.errors import ConfigError, DeviceError
from acquisition.trigger._base import MICROS_PER_SECOND, TriggerBox, TriggerStatus

try:
    import termios
except ImportError:  # pragma: no cover - not POSIX
    _PORT_ERRORS: tuple[type[Exception], ...] = (serial.SerialException, OSError)
else:
    # reset_input_buffer() on a vanished tty raises termios.error, which is not an OSError.
    _PORT_ERRORS = (serial.SerialException, OSError, termios.error)

BAUD_RATE = 115200
DEFAULT_TIMEOUT_S = 1.0
DEFAULT_BOOT_WAIT_S = 2.5
"""Opening an Uno/Nano's port resets it; its bootloader then ignores the port for up to ~2 s."""
POLL_INTERVAL_S = 0.02
"""Longest single blocking serial read while waiting for a reply (bytes end it at once)."""
MAX_REPLY_BYTES = 128
"""More than this without a line end is not the trigger box talking."""
DEVICE_NAME = "MESPOT-TRIGGER"
SUPPORTED_FIRMWARE_MAJOR = 1
BANNER_WORD = "READY"
ERROR_WORD = "ERR"
_VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_ERROR_RE = re.compile(r"^ERR (\d+)(?: (.*))?$")
_SHOWN_CHARS = 60


class TriggerCommandError(DeviceError):
    """The box refused a command with `ERR <code> <text>`."""

    def __init__(self, port: str, command: str, code: int, text: str) -> None:
        self.port = port
        self.command = command
        self.code = code
        self.text = text
        super().__init__(f"trigger box on {port} refused {command!r}: ERR {code} {text}")


def _shown(data: str | bytes) -> str:
    """A short, printable rendering of what a device sent."""
    text = repr(data)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


class SerialTriggerBox(TriggerBox):
    """The trigger box on a serial port: `HELLO` handshake, then one reply line per command.

    Every exchange holds a lock, so threads may share one box. Faults raise DeviceError: no answer
    within `timeout_s`, an `ERR` reply (TriggerCommandError), a malformed reply, the port vanishing.
    """

    def __init__(
        self,
        port: str,
        baudrate: int = BAUD_RATE,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        boot_wait_s: float = DEFAULT_BOOT_WAIT_S,
    ) -> None:
        if not timeout_s > 0:
            raise ConfigError(f"trigger box timeout must be > 0 s, got {timeout_s!r}")
        if not boot_wait_s >= 0:
            raise ConfigError(f"trigger box boot wait must be >= 0 s, got {boot_wait_s!r}")
        self._port = port
        self._baudrate = baudrate
        self._timeout_s = timeout_s
        self._boot_wait_s = boot_wait_s
        self._serial: serial.Serial | None = None
        self._buffer = bytearray()
        self._lock = threading.RLock()
        self._firmware_version: str | None = None
        self._gone_message: str | None = None

    def __repr__(self) -> str:
        return f"SerialTriggerBox({self._port!r}, baudrate={self._baudrate}, timeout_s={self._timeout_s})"

    @property
    def port(self) -> str:
        """The serial port's path, e.g. /dev/ttyACM0."""
        return self._port

    @property
    def firmware_version(self) -> str | None:
        """The version the box reported in the handshake; None before `open()`."""
        return self._firmware_version

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    # ---- connection ----

    def open(self) -> None:
        """Open the port and shake hands; DeviceError if it fails or another device answers."""
        with self._lock:
            if self._serial is not None:
                return
            try:
                self._serial = serial.Serial(
                    self._port, self._baudrate, timeout=POLL_INTERVAL_S, write_timeout=self._timeout_s
                )
            except (*_PORT_ERRORS, ValueError) as exc:
                raise DeviceError(f"cannot open serial port {self._port} for the trigger box: {exc}") from exc
            self._buffer.clear()
            self._gone_message = None
            try:
                self._firmware_version = self._handshake()
            except BaseException:
                self._close_port()
                raise

    def close(self) -> None:
        """Stop the box (best effort) and close the port; quiet when the port is already gone."""
        with self._lock:
            if self._serial is None:
                return
            try:
                self.command("STOP")
            except DeviceError:
                pass
            finally:
                self._close_port()

    def _handshake(self) -> str:
        deadline = time.monotonic() + max(self._boot_wait_s, self._timeout_s)
        self._write(b"\n")  # end any half-received line in the box
        while True:
            self._discard_input()
            self._write(b"HELLO\n")
            attempt_deadline = min(deadline, time.monotonic() + self._timeout_s)
            reply = self._read_reply(attempt_deadline, during_handshake=True)
            if reply is not None:
                return self._parse_hello(reply)
            if time.monotonic() >= deadline:
                noise = f"; it sent only {_shown(bytes(self._buffer))}" if self._buffer else ""
                raise DeviceError(
                    f"no trigger box answered on {self._port} within "
                    f"{max(self._boot_wait_s, self._timeout_s):g} s{noise} "
                    f"(is the box plugged in, flashed with firmware/trigger_box, and on this port?)"
                )

    def _parse_hello(self, reply: str) -> str:
        tokens = reply.split(" ")
        if len(tokens) != 3 or tokens[:2] != ["OK", DEVICE_NAME] or not _VERSION_RE.match(tokens[2]):
            raise DeviceError(
                f"no trigger box answered on {self._port}: the device there replied {_shown(reply)} to HELLO "
                f"(another device on this port, or a baud rate other than {self._baudrate}?)"
            )
        version = tokens[2]
        major = int(version.split(".")[0])
        if major != SUPPORTED_FIRMWARE_MAJOR:
            raise DeviceError(
                f"the trigger box on {self._port} runs firmware {version}, but this driver speaks "
                f"version {SUPPORTED_FIRMWARE_MAJOR}.x: flash firmware/trigger_box/trigger_box.ino"
            )
        return version

    def _close_port(self) -> None:
        ser, self._serial = self._serial, None
        self._buffer.clear()
        if ser is not None:
            with contextlib.suppress(*_PORT_ERRORS):
                ser.close()

    def _port_gone(self, exc: BaseException) -> NoReturn:
        self._close_port()
        reason = exc
        if len(exc.args) == 2 and isinstance(exc.args[0], int):  # termios.error: (errno, text)
            reason = f"[Errno {exc.args[0]}] {exc.args[1]}"
        self._gone_message = f"serial port {self._port} is gone (trigger box unplugged?): {reason}"
        raise DeviceError(self._gone_message) from exc

    def _require_open(self) -> serial.Serial:
        if self._serial is not None:
            return self._serial
        if self._gone_message is not None:
            raise DeviceError(self._gone_message)
        raise DeviceError(f"the trigger box on {self._port} is not open: call open() first")

    # ---- line I/O ----

    def _write(self, data: bytes) -> None:
        ser = self._require_open()
        try:
            ser.write(data)
        except serial.SerialTimeoutException as exc:
            raise DeviceError(
                f"could not send to the trigger box on {self._port} within {self._timeout_s:g} s"
            ) from exc
        except _PORT_ERRORS as exc:
            self._port_gone(exc)

    def _discard_input(self) -> None:
        """Drop stale input (e.g. a late reply to a command that timed out)."""
        ser = self._require_open()
        self._buffer.clear()
        try:
            ser.reset_input_buffer()
        except _PORT_ERRORS as exc:
            self._port_gone(exc)

    def _read_line(self, deadline: float) -> str | None:
        """The next line without its terminator, or None at the deadline."""
        ser = self._require_open()
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                raw = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                return raw.decode("ascii", errors="replace").replace("\r", "").strip(" ")
            if len(self._buffer) > MAX_REPLY_BYTES:
                raise DeviceError(
                    f"the device on {self._port} sent {len(self._buffer)} bytes without a line end "
                    f"({_shown(bytes(self._buffer))}): not a trigger box, or a baud rate other than "
                    f"{self._baudrate}?"
                )
            if time.monotonic() >= deadline:
                return None
            try:
                chunk = ser.read(ser.in_waiting or 1)
            except _PORT_ERRORS as exc:
                self._port_gone(exc)
            self._buffer += chunk

    def _read_reply(self, deadline: float, during_handshake: bool = False) -> str | None:
        """The next non-empty line that is not the boot banner, or None at the deadline."""
        while True:
            line = self._read_line(deadline)
            if line is None or (line and line.split(" ")[0] != BANNER_WORD):
                return line
            if line and not during_handshake:
                raise DeviceError(
                    f"the trigger box on {self._port} restarted (it sent {_shown(line)}): "
                    f"its settings and pulse count are lost"
                )

    # ---- commands ----

    def command(self, line: str) -> str:
        """Send one command line and return the reply line.

        Raises TriggerCommandError for an `ERR` reply and DeviceError when no reply comes in time.
        """
        if not line.strip() or not line.isascii() or any(c in line for c in "\r\n"):
            raise ValueError(f"a trigger box command is one non-empty ASCII line, got {line!r}")
        with self._lock:
            self._discard_input()
            self._write(line.encode("ascii") + b"\n")
            reply = self._read_reply(time.monotonic() + self._timeout_s)
            if reply is None:
                raise DeviceError(
                    f"the trigger box on {self._port} did not answer {line!r} within {self._timeout_s:g} s"
                )
            if reply.split(" ")[0] == ERROR_WORD:
                match = _ERROR_RE.match(reply)
                if match is None:
                    raise DeviceError(
                        f"the trigger box on {self._port} sent a malformed error: {_shown(reply)}"
                    )
                raise TriggerCommandError(self._port, line, int(match.group(1)), match.group(2) or "")
            return reply

    def _exchange(self, line: str, expected: tuple[str, ...], n_values: int) -> list[int]:
        """Send `line`; the reply must be the `expected` words then `n_values` unsigned integers."""
        reply = self.command(line)
        tokens = reply.split(" ")
        words, values = tokens[: len(expected)], tokens[len(expected) :]
        if tuple(words) != expected or len(values) != n_values or not all(v.isdigit() for v in values):
            raise DeviceError(
                f"the trigger box on {self._port} answered {line!r} with {_shown(reply)}, expected "
                f"{' '.join(expected)}{' <n>' * n_values}"
            )
        return [int(v) for v in values]

    def _configure(self, rate_hz: int, pulse_width_us: int) -> None:
        with self._lock:
            # The box checks each new value against the other current one: send first the command
            # that keeps the pair valid in between.
            current = self.status()
            commands = [("WIDTH", pulse_width_us), ("RATE", rate_hz)]
            if pulse_width_us + self.MIN_LOW_TIME_US > MICROS_PER_SECOND // current.rate_hz:
                commands.reverse()
            for word, value in commands:
                (echoed,) = self._exchange(f"{word} {value}", ("OK", word), 1)
                if echoed != value:
                    raise DeviceError(
                        f"the trigger box on {self._port} set {word} {echoed} when asked for {value}"
                    )

    def start(self) -> None:
        self._exchange("START", ("OK", "START"), 0)

    def stop(self) -> int:
        (count,) = self._exchange("STOP", ("OK", "STOP"), 1)
        return count

    def status(self) -> TriggerStatus:
        running, rate, width, count = self._exchange("STATUS", ("STATUS",), 4)
        if running not in (0, 1) or rate == 0:
            raise DeviceError(f"the trigger box on {self._port} reported an impossible status")
        return TriggerStatus(running=bool(running), rate_hz=rate, pulse_width_us=width, pulse_count=count)

    def pulse_count(self) -> int:
        (count,) = self._exchange("COUNT", ("COUNT",), 1)
        return count
