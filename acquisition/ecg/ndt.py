"""Live ECG from a BIOPAC MP160 through AcqKnowledge's Network Data Transfer (NDT).

Control: XML-RPC at ``http://HOST:15010/RPC2`` (``acq.*`` methods, the names BIOPAC's ``biopacndt``
module calls). Data: 'single' connection mode over TCP, where AcqKnowledge *connects to us* on the
single-connection-mode port and streams headerless little-endian doubles (see
:mod:`acquisition.ecg._frames`). mespot starts the acquisition itself, so hardware sample 0 is the first
sample of the acquisition and every frame trigger recorded beside the ECG has an exact sample index.

Set-up sequence in :meth:`NdtEcgSource.start`: refuse if an acquisition is already running; transport
'tcp', connection method 'single'; list enabled analog, digital and calc channels with their labels; find
the ECG, trigger and extra channels by label; enable delivery for them (and, by default, disable it for
every other channel so the frame holds only what mespot reads); little-endian doubles; read dividers and
the base rate; listen on the data port and tell AcqKnowledge; toggle acquisition on; accept its data
connection; start the reader thread.
"""

from __future__ import annotations

import collections
import contextlib
import http.client
import ipaddress
import logging
import math
import socket
import threading
import time
import xmlrpc.client
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from acquisition.ecg._base import EcgBlock, EcgSource, EcgStallError
from acquisition.ecg._frames import SAMPLE_BYTES, FrameDecoder
from acquisition.errors import DeviceError

log = logging.getLogger(__name__)

DEFAULT_RPC_PORT = 15010  # AcqKnowledge's "Control TCP Port" (Preferences > Networking)
DEFAULT_DATA_PORT = 15020  # AcqKnowledge's default single-connection-mode data port
RPC_PATH = "/RPC2"
DEFAULT_ECG_LABEL = "ECG"
DEFAULT_TRIGGER_LABEL = "TRIGGER"
DEFAULT_EVENT_TYPE = "flag"  # AcqKnowledge's code for a flag event (bioread's marker type map)
CHANNEL_TYPES: tuple[str, ...] = ("analog", "digital", "calc")
DATA_TYPE: dict[str, str] = {"type": "double", "endian": "little"}
TRANSPORT = "tcp"
CONNECTION_METHOD = "single"

DEFAULT_RPC_TIMEOUT_S = 5.0
DEFAULT_CONNECT_TIMEOUT_S = 10.0
DEFAULT_STALL_TIMEOUT_S = 2.0
DEFAULT_MAX_BUFFER_S = 60.0
DEFAULT_DRAIN_S = 1.0
ACQUISITION_START_WAIT_S = 2.0
POLL_S = 0.05
RECV_BYTES = 1 << 16


@dataclass(frozen=True)
class NdtChannel:
    """A channel of the AcqKnowledge graph: NDT type and index, label, downsampling divider."""

    type: str
    index: int
    label: str
    divider: int = 1

    @property
    def struct(self) -> dict[str, Any]:
        """The channel structure the ``acq.*`` methods take."""
        return {"type": self.type, "index": self.index}

    def describe(self) -> str:
        return f"{self.label!r} ({self.type} {self.index})"


class _TimeoutTransport(xmlrpc.client.Transport):
    """xmlrpc.client transport whose HTTP connections time out (ServerProxy has no timeout argument)."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self._timeout_s = timeout_s

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        connection = super().make_connection(host)
        connection.timeout = self._timeout_s
        return connection


def _check_port(name: str, port: int, allow_zero: bool) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not (0 if allow_zero else 1) <= port <= 65535:
        raise ValueError(f"{name} must be an int in {0 if allow_zero else 1}..65535, got {port!r}")
    return port


def _is_positive_number(value: object) -> bool:
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    return is_number and math.isfinite(value) and value > 0


def _check_seconds(name: str, value: float) -> float:
    if not _is_positive_number(value):
        raise ValueError(f"{name} must be a finite number of seconds > 0, got {value!r}")
    return float(value)


def _check_label(name: str, label: str) -> str:
    if not isinstance(label, str) or not label.strip():
        raise ValueError(f"{name} must be a non-empty string, got {label!r}")
    return label


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _addresses(host: str) -> set[str]:
    """The IP addresses ``host`` names (the peers a data connection may come from)."""
    try:
        found = {info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)}
    except OSError:
        found = {host}
    return found | {"127.0.0.1", "::1"} if _is_loopback(host) else found


def _route_address(host: str, port: int) -> str:
    """This machine's address on the interface that reaches ``host`` (what AcqKnowledge connects to)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect((host, port))  # UDP: no packet is sent, the kernel only picks the route
        return probe.getsockname()[0]
    except OSError:
        return "0.0.0.0"  # no route known yet: every interface, peers still checked on accept
    finally:
        probe.close()


def accept_from(listener: socket.socket, allowed: set[str], timeout_s: float, rejected: list[str]
                ) -> tuple[socket.socket | None, tuple]:
    """The first connection from one of the ``allowed`` addresses within ``timeout_s`` ((None, ()) when none
    came); connections from elsewhere are closed and their addresses added to ``rejected``: only
    AcqKnowledge's host may deliver the ECG."""
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        listener.settimeout(left)
        try:
            conn, peer = listener.accept()
        except TimeoutError:
            break
        if peer[0] in allowed:
            return conn, peer
        rejected.append(peer[0])
        log.warning("refused a data connection from %s (not AcqKnowledge's host)", peer[0])
        conn.close()
    return None, ()


def find_channel(wanted: str, channels: Sequence[NdtChannel]) -> NdtChannel:
    """The channel labelled ``wanted``: exact (case-insensitive), else the one whose label starts with it
    followed by a non-alphanumeric character ('ECG' finds 'ECG (.05 - 150 Hz)'). DeviceError otherwise."""
    key = wanted.strip().casefold()
    exact = [c for c in channels if c.label.strip().casefold() == key]
    if len(exact) == 1:
        return exact[0]

    def starts(label: str) -> bool:
        text = label.strip().casefold()
        return text.startswith(key) and (len(text) == len(key) or not text[len(key)].isalnum())

    candidates = exact or [c for c in channels if starts(c.label)]
    if len(candidates) == 1:
        return candidates[0]
    listing = ", ".join(c.describe() for c in channels) or "none"
    if candidates:
        raise DeviceError(
            f"channel label {wanted!r} is ambiguous in AcqKnowledge: "
            f"{', '.join(c.describe() for c in candidates)}; enabled channels: {listing}"
        )
    raise DeviceError(f"no enabled channel labelled {wanted!r} in AcqKnowledge; enabled channels: {listing}")


class NdtEcgSource(EcgSource):
    """ECG (+ frame trigger, + extras) from AcqKnowledge NDT; blocks are at the ECG channel's rate.

    Columns: the ECG channel, then the trigger channel (unless ``trigger_label`` is None), then
    ``extra_labels``. ``data_port`` 0 listens on a free port and tells AcqKnowledge which. ``listen_host``
    defaults to loopback when AcqKnowledge is on this machine, else all interfaces; ``data_host`` (optional)
    is sent as AcqKnowledge's data connection hostname. ``exclusive_delivery`` turns off NDT delivery of
    channels mespot does not read (otherwise they are received and dropped). ``stall_timeout_s``: silence
    reported as :class:`EcgStallError`; ``max_buffer_s``: unread data kept before the oldest is dropped
    (counted in ``samples_lost``).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        rpc_port: int = DEFAULT_RPC_PORT,
        data_port: int = DEFAULT_DATA_PORT,
        *,
        ecg_label: str = DEFAULT_ECG_LABEL,
        trigger_label: str | None = DEFAULT_TRIGGER_LABEL,
        extra_labels: Sequence[str] = (),
        listen_host: str | None = None,
        data_host: str | None = None,
        rpc_timeout_s: float = DEFAULT_RPC_TIMEOUT_S,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        stall_timeout_s: float = DEFAULT_STALL_TIMEOUT_S,
        max_buffer_s: float = DEFAULT_MAX_BUFFER_S,
        drain_s: float = DEFAULT_DRAIN_S,
        exclusive_delivery: bool = True,
        event_type: str = DEFAULT_EVENT_TYPE,
    ) -> None:
        super().__init__()
        self._host = _check_label("host", host)
        self._rpc_port = _check_port("rpc_port", rpc_port, allow_zero=False)
        self._data_port = _check_port("data_port", data_port, allow_zero=True)
        labels = [_check_label("ecg_label", ecg_label)]
        if trigger_label is not None:
            labels.append(_check_label("trigger_label", trigger_label))
        if isinstance(extra_labels, str):
            raise TypeError("extra_labels must be a sequence of labels, not a string")
        labels += [_check_label("extra_labels item", x) for x in extra_labels]
        if len({x.strip().casefold() for x in labels}) != len(labels):
            raise ValueError(f"channel labels must be distinct, got {labels}")
        self._labels = labels
        self._listen_host = (
            listen_host if listen_host is not None
            else ("127.0.0.1" if _is_loopback(host) else _route_address(host, rpc_port))
        )
        self._data_host = data_host
        self._rpc_timeout_s = _check_seconds("rpc_timeout_s", rpc_timeout_s)
        self._connect_timeout_s = _check_seconds("connect_timeout_s", connect_timeout_s)
        self._stall_timeout_s = _check_seconds("stall_timeout_s", stall_timeout_s)
        self._max_buffer_s = _check_seconds("max_buffer_s", max_buffer_s)
        self._drain_s = _check_seconds("drain_s", drain_s)
        self._exclusive = bool(exclusive_delivery)
        self._event_type = _check_label("event_type", event_type)

        self.url = f"http://{host}:{rpc_port}{RPC_PATH}"
        self._rpc: xmlrpc.client.ServerProxy | None = None
        self._rpc_lock = threading.Lock()
        self._selected: list[NdtChannel] = []
        self._wire: list[NdtChannel] = []
        self._base_rate = math.nan
        self._decoder: FrameDecoder | None = None
        self._listener: socket.socket | None = None
        self.rejected_peers: list[str] = []  # data connections refused: not from AcqKnowledge's host
        self._conn: socket.socket | None = None
        self._reader: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._stopping = False
        self._acquiring = False
        self._queue: collections.deque[EcgBlock] = collections.deque()
        self._queued_rows = 0
        self._cond = threading.Condition()
        self._fault: DeviceError | None = None
        self._stall: EcgStallError | None = None
        self._stalled = False
        self._stalls = 0
        self._events: list[tuple[str, int]] = []

    # --- what is known after start() -----------------------------------------------------------------

    @property
    def channels(self) -> list[str]:
        """AcqKnowledge labels of the columns after start(); the requested labels before."""
        return [c.label for c in self._selected] if self._selected else list(self._labels)

    @property
    def sampling_rate(self) -> float:
        if not self._selected:
            raise RuntimeError("the ECG sampling rate is known after start()")
        return self._base_rate / self._selected[0].divider

    @property
    def base_rate(self) -> float:
        """AcqKnowledge's acquisition (hardware) sampling rate, Hz; NaN before start()."""
        return self._base_rate

    @property
    def selected_channels(self) -> list[NdtChannel]:
        """The channels behind the columns, with their dividers."""
        return list(self._selected)

    @property
    def wire_channels(self) -> list[NdtChannel]:
        """Every channel in the data stream, in wire order."""
        return list(self._wire)

    @property
    def data_port(self) -> int:
        """The port listened on for AcqKnowledge's data connection (the bound one once started)."""
        return self._listener.getsockname()[1] if self._listener is not None else self._data_port

    @property
    def fault(self) -> DeviceError | None:
        with self._cond:
            return self._fault

    @property
    def stalled(self) -> bool:
        with self._cond:
            return self._stalled

    @property
    def stalls(self) -> int:
        """How many stalls were reported."""
        with self._cond:
            return self._stalls

    @property
    def events(self) -> list[tuple[str, int]]:
        """(label, hardware sample) of every event inserted, as mespot placed it."""
        return list(self._events)

    # --- XML-RPC -------------------------------------------------------------------------------------

    def _call(self, method: str, *args: Any) -> Any:
        if self._rpc is None:
            self._rpc = xmlrpc.client.ServerProxy(
                self.url, transport=_TimeoutTransport(self._rpc_timeout_s), allow_none=True
            )
        with self._rpc_lock:
            try:
                return getattr(self._rpc, f"acq.{method}")(*args)
            except xmlrpc.client.Fault as exc:
                raise DeviceError(f"AcqKnowledge refused acq.{method}: {exc.faultString}") from exc
            except xmlrpc.client.ProtocolError as exc:
                raise DeviceError(f"{self._unreachable}: HTTP {exc.errcode} {exc.errmsg}") from exc
            except (OSError, http.client.HTTPException, xmlrpc.client.ResponseError) as exc:
                raise DeviceError(f"{self._unreachable}: {exc or type(exc).__name__}") from exc

    @property
    def _unreachable(self) -> str:
        return f"cannot reach AcqKnowledge at {self.url} (is NDT enabled?)"

    def _list_channels(self) -> list[NdtChannel]:
        channels: list[NdtChannel] = []
        for kind in CHANNEL_TYPES:
            for index in self._call("getEnabledChannels", kind) or []:
                probe = NdtChannel(kind, int(index), "")
                label = self._call("getChannelLabel", probe.struct)
                channels.append(replace(probe, label=str(label)))
        return channels

    # --- life cycle ----------------------------------------------------------------------------------

    def _start(self) -> None:
        try:
            self._configure()
            self._open_listener()
            self._begin_acquisition()
        except BaseException:
            self._teardown()
            raise
        self._reader = threading.Thread(target=self._read_loop, name="ndt-reader", daemon=True)
        self._reader.start()

    def _configure(self) -> None:
        if self._call("getAcquisitionInProgress"):
            raise DeviceError(
                "an acquisition is already running in AcqKnowledge; stop it there first "
                "(mespot starts the acquisition so that sample 0 is its first sample)"
            )
        self._call("changeTransportType", TRANSPORT)
        self._call("changeDataConnectionMethod", CONNECTION_METHOD)
        enabled = self._list_channels()
        picked = [find_channel(label, enabled) for label in self._labels]
        for label, channel in zip(self._labels, picked, strict=True):
            if picked.count(channel) > 1:
                raise DeviceError(f"label {label!r} and another label both name channel {channel.describe()}")
        wire: list[NdtChannel] = []
        for channel in enabled:
            wanted = channel in picked
            if wanted:
                self._call("changeDataDeliveryEnabled", channel.struct, True)
            elif self._exclusive:
                self._call("changeDataDeliveryEnabled", channel.struct, False)
                continue
            elif not self._call("getDataDeliveryEnabled", channel.struct):
                continue
            self._call("changeDataType", channel.struct, dict(DATA_TYPE))
            divider = self._call("getDownsamplingDivider", channel.struct)
            if isinstance(divider, bool) or not isinstance(divider, int) or divider < 1:
                raise DeviceError(f"AcqKnowledge gave divider {divider!r} for {channel.describe()}")
            wire.append(replace(channel, divider=divider))
        rate = self._call("getSamplingRate")
        if not _is_positive_number(rate):
            raise DeviceError(f"AcqKnowledge gave sampling rate {rate!r}")
        self._base_rate = float(rate)
        self._wire = wire
        by_key = {(c.type, c.index): c for c in wire}
        self._selected = [by_key[(c.type, c.index)] for c in picked]
        columns = [wire.index(c) for c in self._selected]
        self._decoder = FrameDecoder([c.divider for c in wire], columns)
        rates = ", ".join(f"{c.label} {self._base_rate / c.divider:g} Hz" for c in self._selected)
        log.info("AcqKnowledge at %s: base rate %g Hz; reading %s", self.url, self._base_rate, rates)

    def _open_listener(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self._listen_host, self._data_port))
            listener.listen(1)
        except OSError as exc:
            listener.close()
            where = f"{self._listen_host}:{self._data_port}"
            raise DeviceError(f"cannot listen for AcqKnowledge's data connection on {where}: {exc}") from exc
        self._listener = listener
        port = listener.getsockname()[1]
        if self._call("getSingleConnectionModePort") != port:
            self._call("changeSingleConnectionModePort", port)
        if self._data_host is not None:
            self._call("changeDataConnectionHostname", self._data_host)

    def _begin_acquisition(self) -> None:
        assert self._listener is not None
        self._acquiring = True  # before the call: if it fails half-way, teardown checks and stops it
        self._call("toggleAcquisition")
        deadline = time.monotonic() + ACQUISITION_START_WAIT_S
        while not self._call("getAcquisitionInProgress"):
            if time.monotonic() > deadline:
                raise DeviceError("AcqKnowledge did not start acquiring (is the MP160 on and connected?)")
            time.sleep(POLL_S)
        conn, peer = accept_from(self._listener, _addresses(self._host), self._connect_timeout_s,
                                 self.rejected_peers)
        if conn is None:
            refused = ", ".join(self.rejected_peers)
            refused = f"; refused connections from {refused}" if refused else ""
            raise DeviceError(
                f"AcqKnowledge did not open its data connection to port {self.data_port} within "
                f"{self._connect_timeout_s:g} s (firewall? data connection hostname?){refused}"
            )
        self._listener.close()
        self._listener = None
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.settimeout(POLL_S)
        self._conn = conn
        log.info("AcqKnowledge data connection from %s:%d", *peer[:2])

    def _stop(self) -> None:
        self._stopping = True
        if self._acquiring:
            self._acquiring = False
            self._toggle_off()
        if self._reader is not None:
            self._reader.join(self._drain_s)  # AcqKnowledge sends what it holds, then closes
        self._teardown()
        with self._cond:
            self._stall = None
            self._stalled = False

    def _toggle_off(self) -> None:
        """Stop the acquisition if AcqKnowledge says it is running (toggling blindly could start one)."""
        try:
            if self._call("getAcquisitionInProgress"):
                self._call("toggleAcquisition")
        except DeviceError as exc:
            log.warning("could not stop the AcqKnowledge acquisition: %s", exc)

    def _close(self) -> None:
        self._teardown()
        self._rpc = None

    def _teardown(self) -> None:
        self._stopping = True
        self._stop_event.set()
        if self._acquiring:
            self._acquiring = False
            self._toggle_off()
        for sock in (self._conn, self._listener):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join()
        self._conn = self._listener = self._reader = None

    # --- the reader thread ---------------------------------------------------------------------------

    def _read_loop(self) -> None:
        conn, decoder = self._conn, self._decoder
        assert conn is not None and decoder is not None
        last_data = time.monotonic()
        while not self._stop_event.is_set():
            try:
                chunk = conn.recv(RECV_BYTES)
            except TimeoutError:
                silent = time.monotonic() - last_data
                if silent > self._stall_timeout_s:
                    self._report_stall(silent)
                continue
            except OSError as exc:
                if not self._stopping:
                    self._report_lost(decoder, str(exc))
                return
            if not chunk:
                if not self._stopping:
                    self._report_lost(decoder, "")
                return
            last_data = time.monotonic()
            block = decoder.feed(chunk)
            with self._cond:
                if self._stalled:
                    self._stalled = False
                    log.info("AcqKnowledge data resumed after a stall")
                if block is not None:
                    self._enqueue(block)

    def _seconds(self, rows: int) -> float:
        return rows / self.sampling_rate

    def _report_lost(self, decoder: FrameDecoder, reason: str) -> None:
        n = self.samples_received
        message = f"AcqKnowledge data connection lost after {n} samples ({self._seconds(n):.3f} s)"
        if reason:
            message += f": {reason}"
        if decoder.pending_bytes:
            message += f"; {decoder.pending_bytes} bytes of an incomplete frame were dropped"
        log.warning(message)
        with self._cond:
            self._fault = DeviceError(message)
            self._cond.notify_all()

    def _report_stall(self, silent_s: float) -> None:
        with self._cond:
            if self._stalled:
                return
            n = self.samples_received
            message = (
                f"no data from AcqKnowledge for {silent_s:.1f} s after {n} samples "
                f"({self._seconds(n):.3f} s); still waiting"
            )
            log.warning(message)
            self._stalled = True
            self._stalls += 1
            self._stall = EcgStallError(message)
            self._cond.notify_all()

    def _enqueue(self, block: EcgBlock) -> None:
        """Called with ``self._cond`` held."""
        self._queue.append(block)
        self._queued_rows += block.n_samples
        self._count_received(block.n_samples)
        limit = max(1, int(self._max_buffer_s * self.sampling_rate))
        while self._queued_rows > limit:
            oldest = self._queue[0]
            excess = self._queued_rows - limit
            if oldest.n_samples <= excess:
                self._queue.popleft()
                dropped = oldest.n_samples
            else:
                self._queue[0] = EcgBlock(
                    first_sample=oldest.first_sample + excess * oldest.step,
                    data=oldest.data[excess:],
                    step=oldest.step,
                )
                dropped = excess
            self._queued_rows -= dropped
            self._count_lost(dropped)
        self._cond.notify_all()

    # --- reading -------------------------------------------------------------------------------------

    def _read(self, timeout_s: float) -> EcgBlock | None:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                if self._queue:
                    return self._take_contiguous()
                if self._fault is not None:
                    raise self._fault
                if self._stall is not None:
                    stall, self._stall = self._stall, None
                    raise stall
                left = deadline - time.monotonic()
                if left <= 0 or (self.state != "running" and self._reader is None):
                    return None
                self._cond.wait(left)

    def _take_contiguous(self) -> EcgBlock:
        """Pop the first queued block merged with the ones that directly follow it (``_cond`` held)."""
        blocks = [self._queue.popleft()]
        while self._queue and self._queue[0].first_sample == blocks[-1].end_sample:
            blocks.append(self._queue.popleft())
        rows = sum(b.n_samples for b in blocks)
        self._queued_rows -= rows
        if len(blocks) == 1:
            return blocks[0]
        data = np.concatenate([b.data for b in blocks], axis=0)
        return EcgBlock(first_sample=blocks[0].first_sample, data=data, step=blocks[0].step)

    # --- events --------------------------------------------------------------------------------------

    def _insert_event(self, label: str, sample: int | None) -> None:
        """``acq.insertGlobalEvent(label, type, position)``; position '' = AcqKnowledge's current sample.

        The position argument's format is not confirmed against BIOPAC's NDT reference: public callers
        pass ''. A given ``sample`` is sent as its decimal string.
        """
        decoder = self._decoder
        where = sample if sample is not None else (decoder.complete_through if decoder is not None else 0)
        self._call("insertGlobalEvent", label, self._event_type, "" if sample is None else str(sample))
        self._events.append((label, where))


__all__ = [
    "DEFAULT_DATA_PORT",
    "DEFAULT_RPC_PORT",
    "SAMPLE_BYTES",
    "NdtChannel",
    "NdtEcgSource",
    "find_channel",
]
