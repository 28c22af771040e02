"""MockTriggerBox: the trigger box firmware's behaviour on a pseudo-terminal.

`serial.Serial(mock.port)` opens the pty's slave side like a real /dev/ttyACM0; a thread answers
on the master side per docs/trigger-box-protocol.md. Pulses go to a PulseListener, not to TTL lines.
The constants mirror firmware/trigger_box/trigger_box.ino, not the host driver, on purpose.
"""

from __future__ import annotations

import contextlib
import enum
import os
import select
import threading
import time
import tty
from types import TracebackType
from typing import Self

from hardware_mocks.trigger_box.pulses import PulseListener, TimedPulses

FIRMWARE_VERSION = "1.0.0"
DEVICE_NAME = "MESPOT-TRIGGER"
MAX_LINE_LENGTH = 32
MICROS_PER_SECOND = 1_000_000
MIN_RATE_HZ = 1
MAX_RATE_HZ = 1000
DEFAULT_RATE_HZ = 150
MIN_LOW_TIME_US = 10
MIN_WIDTH_US = 10
MAX_WIDTH_US = MICROS_PER_SECOND // MIN_RATE_HZ - MIN_LOW_TIME_US
DEFAULT_WIDTH_US = 2000
COUNTER_MODULUS = 2**32
LINE_END = b"\r\n"  # Arduino's Serial.println

POLL_INTERVAL_S = 0.02
READ_CHUNK_BYTES = 1024


class ErrorCode(enum.IntEnum):
    UNKNOWN = 1
    SYNTAX = 2
    RANGE = 3
    BUSY = 4
    TOO_LONG = 5
    NO_FIT = 6


def _error(code: ErrorCode, text: str) -> bytes:
    return f"ERR {int(code)} {text}".encode("latin-1") + LINE_END


class MockTriggerBox:
    """A trigger box on a pty. `start()` returns the port path; `close()` (or `with`) ends it.

    Fault injection: `unplug()` (the port vanishes), `mute()` (no replies), `hello_reply` (another
    device: answers HELLO with these raw bytes), `boot_delay_s` (input is lost for that long after
    the first byte arrives, like an Uno resetting on open, then the READY banner), and
    `send_before_next_reply()` (unsolicited bytes, e.g. a READY banner).
    """

    def __init__(
        self,
        listener: PulseListener | None = None,
        *,
        firmware_version: str = FIRMWARE_VERSION,
        hello_reply: bytes | None = None,
        boot_delay_s: float = 0.0,
    ) -> None:
        self.listener: PulseListener = listener if listener is not None else TimedPulses()
        self.port: str | None = None
        self._firmware_version = firmware_version
        self._hello_reply = hello_reply
        self._boot_delay_s = boot_delay_s
        self._boot_pending = boot_delay_s > 0
        self._boot_ends_at: float | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._master_fd: int | None = None
        self._slave_fd: int | None = None
        self._muted = False
        self._pending_noise = b""
        self._received: list[str] = []
        # firmware state
        self._running = False
        self._rate_hz = DEFAULT_RATE_HZ
        self._width_us = DEFAULT_WIDTH_US
        self._stopped_count = 0
        self._line = bytearray()
        self._line_too_long = False

    # ---- lifecycle ----

    def start(self) -> str:
        """Create the pty and start answering; returns (and sets) `port`."""
        if self._thread is not None:
            assert self.port is not None
            return self.port
        master_fd, slave_fd = os.openpty()
        tty.setraw(slave_fd)  # no echo or line editing before the driver configures the port
        os.set_blocking(master_fd, False)
        self._master_fd, self._slave_fd = master_fd, slave_fd
        self.port = os.ttyname(slave_fd)
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name="mock-trigger-box", daemon=True)
        self._thread.start()
        return self.port

    def close(self) -> None:
        """Stop answering and remove the pty; pulses stop as if the box lost power."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        for fd in (self._master_fd, self._slave_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master_fd = self._slave_fd = None
        with self._lock:
            if self._running:
                self._stop_pulses()

    def unplug(self) -> None:
        """Pull the USB cable: the port vanishes under the driver (its reads and writes fail)."""
        self.close()

    def mute(self, muted: bool = True) -> None:
        """Keep reading commands but stop answering (a hung box); `mute(False)` resumes."""
        with self._lock:
            self._muted = muted

    def send_before_next_reply(self, data: bytes) -> None:
        """Emit `data` just before the next reply, e.g. b"READY MESPOT-TRIGGER 1.0.0\\r\\n"."""
        with self._lock:
            self._pending_noise += data

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ---- inspection ----

    @property
    def received(self) -> list[str]:
        """Every non-empty command line received so far (answered or not)."""
        with self._lock:
            return list(self._received)

    @property
    def running(self) -> bool:
        with self._lock:
            return self._running

    @property
    def rate_hz(self) -> int:
        with self._lock:
            return self._rate_hz

    @property
    def pulse_width_us(self) -> int:
        with self._lock:
            return self._width_us

    # ---- serving ----

    def _serve(self) -> None:
        assert self._master_fd is not None
        master_fd = self._master_fd
        while not self._stop.is_set():
            self._finish_boot(master_fd)
            readable, _, _ = select.select([master_fd], [], [], POLL_INTERVAL_S)
            if not readable:
                continue
            try:
                data = os.read(master_fd, READ_CHUNK_BYTES)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:  # no slave side open: nothing to serve until one is
                time.sleep(POLL_INTERVAL_S)
                continue
            self._finish_boot(master_fd)
            if self._booting():
                continue  # lost, as bytes sent to a resetting board are
            for byte in data:
                reply = self._feed(byte)
                if reply is not None:
                    self._send(master_fd, reply)

    def _booting(self) -> bool:
        """True while input is lost; the first byte received (the driver opening the port) starts it."""
        if self._boot_pending:
            self._boot_pending = False
            self._boot_ends_at = time.monotonic() + self._boot_delay_s
        return self._boot_ends_at is not None

    def _finish_boot(self, master_fd: int) -> None:
        if self._boot_ends_at is not None and time.monotonic() >= self._boot_ends_at:
            self._boot_ends_at = None
            self._send(master_fd, f"READY {DEVICE_NAME} {self._firmware_version}".encode() + LINE_END)

    def _send(self, master_fd: int, data: bytes) -> None:
        with self._lock:
            if self._muted:
                return
            data, self._pending_noise = self._pending_noise + data, b""
        with contextlib.suppress(OSError):  # a full buffer or a closed pty: the reply is lost
            os.write(master_fd, data)

    def _feed(self, byte: int) -> bytes | None:
        """One received byte, as the firmware's loop() takes it; returns a reply when a line ends."""
        if byte == ord("\r"):
            return None
        if byte != ord("\n"):
            if len(self._line) < MAX_LINE_LENGTH:
                self._line.append(byte)
            else:
                self._line_too_long = True
            return None
        line, too_long = bytes(self._line), self._line_too_long
        self._line.clear()
        self._line_too_long = False
        with self._lock:
            if line.strip(b" ") or too_long:
                self._received.append(line.decode("latin-1"))
            if too_long:
                return _error(ErrorCode.TOO_LONG, "line too long")
            return self._handle(line)

    def _handle(self, line: bytes) -> bytes | None:
        tokens = [token for token in line.split(b" ") if token]
        if not tokens:
            return None
        word, args = tokens[0].upper(), tokens[1:]
        simple = {b"HELLO", b"START", b"STOP", b"STATUS", b"COUNT"}
        if word in simple and args:
            return _error(ErrorCode.SYNTAX, "this command takes no argument")
        if word == b"HELLO":
            if self._hello_reply is not None:
                return self._hello_reply
            return f"OK {DEVICE_NAME} {self._firmware_version}".encode() + LINE_END
        if word in (b"RATE", b"WIDTH"):
            return self._set(word, args)
        if word == b"START":
            if self._running:
                return _error(ErrorCode.BUSY, "busy: already running")
            self._running = True
            self.listener.trigger_started(self._rate_hz, self._width_us)
            return b"OK START" + LINE_END
        if word == b"STOP":
            if self._running:
                self._stop_pulses()
            return f"OK STOP {self._stopped_count}".encode() + LINE_END
        if word == b"STATUS":
            status = f"STATUS {int(self._running)} {self._rate_hz} {self._width_us} {self._count()}"
            return status.encode() + LINE_END
        if word == b"COUNT":
            return f"COUNT {self._count()}".encode() + LINE_END
        return _error(ErrorCode.UNKNOWN, "unknown command " + word.decode("latin-1"))

    def _set(self, word: bytes, args: list[bytes]) -> bytes:
        if len(args) != 1:
            return _error(ErrorCode.SYNTAX, "expected one argument")
        if not args[0].isdigit():
            return _error(ErrorCode.SYNTAX, "not an unsigned integer: " + args[0].decode("latin-1"))
        value = min(int(args[0]), COUNTER_MODULUS - 1)  # the firmware saturates at UINT32_MAX
        if self._running:
            return _error(ErrorCode.BUSY, "busy: STOP first")
        if word == b"RATE":
            if not MIN_RATE_HZ <= value <= MAX_RATE_HZ:
                return _error(ErrorCode.RANGE, "rate must be 1-1000 Hz")
            if not self._fits(self._width_us, value):
                return _error(ErrorCode.NO_FIT, "width does not fit that rate")
            self._rate_hz = value
        else:
            if not MIN_WIDTH_US <= value <= MAX_WIDTH_US:
                return _error(ErrorCode.RANGE, "width must be 10-999990 us")
            if not self._fits(value, self._rate_hz):
                return _error(ErrorCode.NO_FIT, "width does not fit the rate")
            self._width_us = value
        return f"OK {word.decode()} {value}".encode() + LINE_END

    @staticmethod
    def _fits(width_us: int, rate_hz: int) -> bool:
        return width_us + MIN_LOW_TIME_US <= MICROS_PER_SECOND // rate_hz

    def _count(self) -> int:
        count = self.listener.pulses_so_far() if self._running else self._stopped_count
        return count % COUNTER_MODULUS

    def _stop_pulses(self) -> None:
        self._stopped_count = self.listener.pulses_so_far() % COUNTER_MODULUS
        self.listener.trigger_stopped()
        self._running = False
