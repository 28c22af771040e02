"""An AcqKnowledge emulator speaking Network Data Transfer: XML-RPC control + single-mode TCP data.

Control: a real XML-RPC server (``SimpleXMLRPCServer``, path ``/RPC2``, ``system.*`` introspection and the
``acq.*`` methods mespot's client calls, same names and arguments as BIOPAC's). Data: after
``acq.toggleAcquisition()`` turns acquisition on, a sender thread *connects to* the client's
single-connection-mode port and streams, for every hardware sample index ``i`` from 0, one 8-byte double
per delivery-enabled channel whose divider divides ``i``, in channel order (analog, digital, calc, each by
index), in each channel's configured byte order. No header.

Pacing: ``speed`` 1.0 is real time (``speed`` x the base rate), None as fast as the client reads (a
source gated on a shared clock paces itself and uses None). Faults: ``fragment_bytes`` sends in tiny
pieces, ``drop_after`` closes the connection after that many hardware samples (plus ``drop_extra_bytes``
of the next frame), ``stall_after``/``stall_s`` pause the stream once; a missing channel is a source
without it. ``at_end``: what happens when the source ends: "hold" keeps the connection open and idle
(like a running acquisition with nothing new), "close" ends the acquisition and closes the connection.
"""

from __future__ import annotations

import contextlib
import logging
import math
import socket
import threading
import time
import xmlrpc.client
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

import numpy as np

from hardware_mocks.acqknowledge.sources import CHANNEL_TYPES, ChannelSpec, SampleStream, assign_indices

log = logging.getLogger(__name__)

DEFAULT_RPC_PORT = 15010
DEFAULT_SINGLE_PORT = 15020
RPC_PATH = "/RPC2"
DEFAULT_DATA_TYPE: dict[str, str] = {"type": "double", "endian": "big"}  # the client must ask for little
MAX_BLOCK_SAMPLES = 4096
PACING_TICK_S = 0.002
CONNECT_TIMEOUT_S = 5.0
SEND_TIMEOUT_S = 2.0
CONNECT_RETRY_S = 0.1
FAULT_INVALID_PARAMS = -32602
FAULT_REFUSED = 1

AtEnd = Literal["hold", "close"]


@dataclass
class _Channel:
    spec: ChannelSpec
    column: int
    delivery: bool
    data_type: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_DATA_TYPE))

    @property
    def key(self) -> tuple[str, int]:
        return (self.spec.type, int(self.spec.index or 0))


class _Handler(SimpleXMLRPCRequestHandler):
    rpc_paths = (RPC_PATH,)

    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug("rpc: " + fmt, *args)


def _fault(message: str, code: int = FAULT_REFUSED) -> xmlrpc.client.Fault:
    return xmlrpc.client.Fault(code, message)


class AcqKnowledgeEmulator:
    """Emulated AcqKnowledge + MP160 for tests and demos; use as a context manager or start()/close()."""

    def __init__(
        self,
        source: SampleStream,
        *,
        host: str = "127.0.0.1",
        rpc_port: int = 0,
        single_port: int = DEFAULT_SINGLE_PORT,
        speed: float | None = None,
        delivery: bool = False,
        fragment_bytes: int | None = None,
        drop_after: int | None = None,
        drop_extra_bytes: int = 0,
        stall_after: int | None = None,
        stall_s: float = 0.0,
        at_end: AtEnd = "hold",
    ) -> None:
        if speed is not None and not (math.isfinite(speed) and speed > 0):
            raise ValueError(f"speed must be a positive number or None, got {speed!r}")
        for name, value in (
            ("fragment_bytes", fragment_bytes),
            ("drop_after", drop_after),
            ("stall_after", stall_after),
        ):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"{name} must be an int >= 0 or None, got {value!r}")
        if fragment_bytes == 0:
            raise ValueError("fragment_bytes must be >= 1")
        if drop_extra_bytes < 0 or stall_s < 0:
            raise ValueError("drop_extra_bytes and stall_s must be >= 0")
        if at_end not in ("hold", "close"):
            raise ValueError(f"at_end must be 'hold' or 'close', got {at_end!r}")
        self._source = source
        self._host = host
        self._rpc_port_wanted = rpc_port
        self._speed = speed
        self._fragment = fragment_bytes
        self._drop_after = drop_after
        self._drop_extra = drop_extra_bytes
        self._stall_after = stall_after
        self._stall_s = float(stall_s)
        self._at_end = at_end
        specs = assign_indices(source.channel_specs())
        self._channels = [_Channel(spec, c, delivery) for c, spec in enumerate(specs)]
        self._by_key = {ch.key: ch for ch in self._channels}

        self._lock = threading.Lock()
        self._transport = "tcp"
        self._method = "multiple"
        self._single_port = single_port
        self._data_host: str | None = None
        self._acquiring = False
        self._samples_sent = 0
        self._session_stop: threading.Event | None = None
        self._sender: threading.Thread | None = None
        self._connected = threading.Event()
        self._closed = threading.Event()
        self.events: list[tuple[str, int]] = []
        self.event_calls: list[tuple[str, str, str]] = []
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.sender_error: str | None = None
        self._server: SimpleXMLRPCServer | None = None
        self._server_thread: threading.Thread | None = None

    # --- life cycle ----------------------------------------------------------------------------------

    def start(self) -> AcqKnowledgeEmulator:
        """Start the XML-RPC server (the data sender starts with the acquisition)."""
        if self._server is not None:
            raise RuntimeError("emulator already started")
        server = SimpleXMLRPCServer(
            (self._host, self._rpc_port_wanted), requestHandler=_Handler, allow_none=True, logRequests=False
        )
        server.register_introspection_functions()
        for name in dir(self):
            if name.startswith("acq_"):
                server.register_function(self._recorded(name), f"acq.{name[4:]}")
        self._server = server
        self._server_thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="acq-emulator-rpc", daemon=True
        )
        self._server_thread.start()
        return self

    def close(self) -> None:
        """Stop acquiring, stop the XML-RPC server, release the ports. Idempotent."""
        self._stop_sender()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._server_thread is not None:
                self._server_thread.join()
            self._server = self._server_thread = None

    def __enter__(self) -> AcqKnowledgeEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- for tests -----------------------------------------------------------------------------------

    @property
    def rpc_port(self) -> int:
        if self._server is None:
            raise RuntimeError("emulator not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.rpc_port}{RPC_PATH}"

    @property
    def acquiring(self) -> bool:
        with self._lock:
            return self._acquiring

    @property
    def samples_sent(self) -> int:
        """Hardware samples sent in the current (or last) acquisition."""
        with self._lock:
            return self._samples_sent

    @property
    def single_port(self) -> int:
        with self._lock:
            return self._single_port

    def delivery(self, label: str) -> bool:
        """Whether NDT delivery is on for the channel labelled ``label``."""
        return next(ch.delivery for ch in self._channels if ch.spec.label == label)

    def wait_connected(self, timeout_s: float) -> bool:
        """Wait until the data connection of the current acquisition is open."""
        return self._connected.wait(timeout_s)

    def wait_data_closed(self, timeout_s: float) -> bool:
        """Wait until the data connection of the current acquisition has been closed."""
        return self._closed.wait(timeout_s)

    # --- XML-RPC: every acq_<name> method is served as acq.<name> ----------------------------------

    def _recorded(self, name: str) -> Any:
        method = getattr(self, name)

        def call(*args: Any) -> Any:
            with self._lock:
                self.calls.append((name[4:], args))
            return method(*args)

        call.__name__ = name
        call.__doc__ = method.__doc__
        return call

    def _channel(self, struct: Any) -> _Channel:
        if not isinstance(struct, dict) or "type" not in struct or "index" not in struct:
            raise _fault(f"a channel is a struct {{type, index}}, got {struct!r}", FAULT_INVALID_PARAMS)
        channel = self._by_key.get((struct["type"], struct["index"]))
        if channel is None:
            raise _fault(f"no enabled {struct['type']} channel {struct['index']}")
        return channel

    def acq_getEnabledChannels(self, channel_type: str) -> list[int]:
        if channel_type not in (*CHANNEL_TYPES, "FaceReader"):
            raise _fault(f"unknown channel type {channel_type!r}", FAULT_INVALID_PARAMS)
        return [int(ch.spec.index or 0) for ch in self._channels if ch.spec.type == channel_type]

    def acq_getChannelLabel(self, struct: Any) -> str:
        return self._channel(struct).spec.label

    def acq_getChannelUnits(self, struct: Any) -> str:
        return self._channel(struct).spec.units

    def acq_getDownsamplingDivider(self, struct: Any) -> int:
        return self._channel(struct).spec.divider

    def acq_getSamplingRate(self) -> float:
        return float(self._source.base_rate)

    def acq_changeDataType(self, struct: Any, data_type: Any) -> int:
        channel = self._channel(struct)
        if not isinstance(data_type, dict) or data_type.get("type") != "double":
            raise _fault(f"the emulator sends only doubles, got {data_type!r}", FAULT_INVALID_PARAMS)
        if data_type.get("endian") not in ("little", "big"):
            raise _fault(f"endian must be 'little' or 'big', got {data_type!r}", FAULT_INVALID_PARAMS)
        self._refuse_while_acquiring("change the data type")
        channel.data_type = {"type": "double", "endian": data_type["endian"]}
        return 0

    def acq_getDataType(self, struct: Any) -> dict[str, str]:
        return dict(self._channel(struct).data_type)

    def acq_changeDataDeliveryEnabled(self, struct: Any, state: bool) -> int:
        channel = self._channel(struct)
        self._refuse_while_acquiring("change data delivery")
        channel.delivery = bool(state)
        return 0

    def acq_getDataDeliveryEnabled(self, struct: Any) -> bool:
        return self._channel(struct).delivery

    def acq_changeTransportType(self, transport: str) -> int:
        if transport not in ("tcp", "udp"):
            raise _fault(f"transport must be 'tcp' or 'udp', got {transport!r}", FAULT_INVALID_PARAMS)
        self._transport = transport
        return 0

    def acq_getTransportType(self) -> str:
        return self._transport

    def acq_changeDataConnectionMethod(self, method: str) -> int:
        if method not in ("single", "multiple"):
            raise _fault(f"method must be 'single' or 'multiple', got {method!r}", FAULT_INVALID_PARAMS)
        self._method = method
        return 0

    def acq_getDataConnectionMethod(self) -> str:
        return self._method

    def acq_getSingleConnectionModePort(self) -> int:
        return self.single_port

    def acq_changeSingleConnectionModePort(self, port: int) -> int:
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise _fault(f"port must be 1..65535, got {port!r}", FAULT_INVALID_PARAMS)
        with self._lock:
            self._single_port = port
        return 0

    def acq_changeDataConnectionHostname(self, hostname: str) -> int:
        self._data_host = str(hostname)
        return 0

    def acq_getDataConnectionHostname(self) -> str:
        return self._data_host or self._host

    def acq_getAcquisitionInProgress(self) -> bool:
        return self.acquiring

    def acq_toggleAcquisition(self) -> int:
        if self.acquiring:
            self._stop_sender()
            return 0
        if self._transport != "tcp" or self._method != "single":
            raise _fault(f"the emulator streams only tcp/single (set: {self._transport}/{self._method})")
        with self._lock:
            self._acquiring = True
            self._samples_sent = 0
        self._connected.clear()
        self._closed.clear()
        self.sender_error = None
        self._session_stop = threading.Event()
        self._sender = threading.Thread(
            target=self._send_loop, args=(self._session_stop,), name="acq-emulator-data", daemon=True
        )
        self._sender.start()
        return 0

    def acq_insertGlobalEvent(self, label: str, event_type: str, position: str = "") -> int:
        """Recorded as (label, hardware sample): position '' is the current sample, else its integer."""
        text = str(position).strip()
        if text and not text.isdigit():
            raise _fault(
                f"event position must be '' or a sample index, got {position!r}", FAULT_INVALID_PARAMS
            )
        sample = int(text) if text else self.samples_sent
        with self._lock:
            self.events.append((str(label), sample))
            self.event_calls.append((str(label), str(event_type), str(position)))
        return 0

    def _refuse_while_acquiring(self, what: str) -> None:
        if self.acquiring:
            raise _fault(f"cannot {what} while acquiring")

    # --- the data sender -----------------------------------------------------------------------------

    def _stop_sender(self) -> None:
        if self._session_stop is not None:
            self._session_stop.set()
        if self._sender is not None and self._sender is not threading.current_thread():
            self._sender.join()
        self._sender = None
        with self._lock:
            self._acquiring = False

    def _connect(self, stop: threading.Event) -> socket.socket | None:
        """Connect to the client's data port, retrying while the acquisition runs."""
        host = self._data_host or self._host
        while not stop.is_set():
            try:
                return socket.create_connection((host, self.single_port), timeout=CONNECT_TIMEOUT_S)
            except OSError as exc:
                if self.sender_error is None:
                    log.warning("emulator: cannot connect to %s:%d: %s", host, self.single_port, exc)
                self.sender_error = f"cannot connect to {host}:{self.single_port}: {exc}"
                stop.wait(CONNECT_RETRY_S)
        return None

    def _send_loop(self, stop: threading.Event) -> None:
        sock = self._connect(stop)
        if sock is None:
            return
        self.sender_error = None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(SEND_TIMEOUT_S)  # a client that stopped reading cannot block the emulator
        self._connected.set()
        try:
            self._stream(sock, stop)
        except OSError as exc:  # the client went away
            self.sender_error = str(exc)
        finally:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            self._closed.set()

    def _delivered(self) -> list[_Channel]:
        order = {t: n for n, t in enumerate(CHANNEL_TYPES)}
        chosen = [ch for ch in self._channels if ch.delivery]
        return sorted(chosen, key=lambda ch: (order[ch.spec.type], ch.spec.index or 0))

    def _stream(self, sock: socket.socket, stop: threading.Event) -> None:
        channels = self._delivered()
        rate = float(self._source.base_rate)
        stall_pending = self._stall_after is not None
        started = time.monotonic()
        sent = 0
        while not stop.is_set():
            allowed = MAX_BLOCK_SAMPLES
            if self._speed is not None:
                allowed = min(allowed, int((time.monotonic() - started) * rate * self._speed) - sent)
            if self._drop_after is not None:
                allowed = min(allowed, self._drop_after - sent)
                if allowed <= 0:
                    self._send(sock, self._next_frame_bytes(channels, sent)[: self._drop_extra])
                    log.info("emulator: dropping the data connection after %d samples", sent)
                    return
            if stall_pending and self._stall_after is not None:
                allowed = min(allowed, self._stall_after - sent)
                if allowed <= 0:
                    stall_pending = False
                    log.info("emulator: stalling %.2f s after %d samples", self._stall_s, sent)
                    stop.wait(self._stall_s)
                    continue
            if allowed <= 0 or not channels:
                stop.wait(PACING_TICK_S)
                continue
            block = self._source.next_block(allowed)
            if block is None:
                if self._at_end == "close":
                    with self._lock:
                        self._acquiring = False
                    return
                stop.wait()
                return
            if block.shape[0] == 0:
                stop.wait(PACING_TICK_S)
                continue
            self._send(sock, self._encode(channels, block, sent))
            sent += block.shape[0]
            with self._lock:
                self._samples_sent = sent

    def _next_frame_bytes(self, channels: list[_Channel], index: int) -> bytes:
        """The bytes of hardware sample ``index``'s frame with made-up values (for a mid-frame drop)."""
        return b"".join(
            np.array([float(index)], dtype=self._dtype(ch)).tobytes()
            for ch in channels
            if index % ch.spec.divider == 0
        )

    @staticmethod
    def _dtype(channel: _Channel) -> np.dtype:
        return np.dtype("<f8" if channel.data_type["endian"] == "little" else ">f8")

    def _encode(self, channels: list[_Channel], block: np.ndarray, start: int) -> bytes:
        n = block.shape[0]
        index = start + np.arange(n, dtype=np.int64)
        due = (index[:, None] % np.array([ch.spec.divider for ch in channels])[None, :]) == 0
        values = block[:, [ch.column for ch in channels]]
        raw = np.empty((n, len(channels), 8), dtype=np.uint8)
        for c, ch in enumerate(channels):
            raw[:, c, :] = values[:, c].astype(self._dtype(ch)).view(np.uint8).reshape(n, 8)
        return raw[due].tobytes()

    def _send(self, sock: socket.socket, payload: bytes) -> None:
        if not payload:
            return
        if self._fragment is None:
            sock.sendall(payload)
            return
        for offset in range(0, len(payload), self._fragment):
            sock.sendall(payload[offset : offset + self._fragment])
