"""NdtEcgSource (AcqKnowledge NDT client) against the AcqKnowledge emulator on loopback, free ports only."""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from acquisition.ecg import EcgBlock, EcgStallError, FrameDecoder, NdtEcgSource
from acquisition.errors import DeviceError
from hardware_mocks.acqknowledge import AcqKnowledgeEmulator, ArraySource, ChannelSpec

DATA = Path(__file__).parent / "data"
R42_ACQ = DATA / "acq" / "r42_test.acq"  # bioread's test data (MIT, LICENSE.bioread.txt beside it)
# BIOPAC file from bioread's test data (MIT), copied into tests/data/acq with its licence.
PHYSIO_ACQ = Path(__file__).parent / "data" / "acq" / "physio-5.0.1.acq"
RATE = 1000.0
READ_DEADLINE_S = 15.0


def _signals(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ECG-like noise, one trigger pulse every 7 samples (~150 fps at 1 kHz), a slow ramp at divider 4."""
    rng = np.random.default_rng(seed)
    ecg = rng.normal(0.0, 1.0, n)
    trigger = (np.arange(n) % 7 == 0).astype(np.float64) * 5.0
    resp = np.arange(-(-n // 4), dtype=np.float64) + 0.5
    return ecg, trigger, resp


def _source(n: int, *, with_trigger: bool = True, extra: bool = True) -> ArraySource:
    ecg, trigger, resp = _signals(n)
    channels = [(ChannelSpec("ECG", units="mV"), ecg)]
    if extra:
        channels.append((ChannelSpec("RESP", divider=4, units="V"), resp))
    if with_trigger:
        channels.append((ChannelSpec("TRIGGER", type="digital"), trigger))
    return ArraySource(RATE, channels)


@contextmanager
def _running(emulator: AcqKnowledgeEmulator, **options: Any) -> Iterator[NdtEcgSource]:
    source = NdtEcgSource(rpc_port=emulator.rpc_port, data_port=0, connect_timeout_s=5.0, **options)
    with source:
        source.start()
        yield source


def _read_n(source: NdtEcgSource, n: int) -> list[EcgBlock]:
    blocks: list[EcgBlock] = []
    total = 0
    deadline = time.monotonic() + READ_DEADLINE_S
    while total < n:
        assert time.monotonic() < deadline, f"only {total} of {n} samples arrived"
        block = source.read(0.5)
        if block is not None:
            blocks.append(block)
            total += block.n_samples
    return blocks


def _joined(blocks: list[EcgBlock]) -> np.ndarray:
    for before, after in itertools.pairwise(blocks):
        assert after.first_sample == before.end_sample
    return np.concatenate([b.data for b in blocks], axis=0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- exact streaming ----------------------------------------------------------------------------------


@pytest.mark.parametrize("exclusive", [True, False])
def test_stream_at_max_speed_is_sample_exact(exclusive: bool) -> None:
    n = 3000
    ecg, trigger, resp = _signals(n)
    source_data = _source(n)
    with AcqKnowledgeEmulator(source_data, delivery=True) as emulator:
        extra = ["RESP"] if exclusive else []
        with _running(emulator, extra_labels=extra, exclusive_delivery=exclusive) as ndt:
            assert ndt.sampling_rate == RATE and ndt.base_rate == RATE
            blocks = _read_n(ndt, n)
            assert ndt.read(0.2) is None  # the emulator holds the connection open, nothing more comes
            wire = [(c.label, c.divider) for c in ndt.wire_channels]
        assert not emulator.acquiring and emulator.wait_data_closed(2.0)
    data = _joined(blocks)
    assert blocks[0].first_sample == 0 and blocks[0].step == 1
    assert data.shape[0] == n == ndt.samples_received and ndt.samples_lost == 0
    assert np.array_equal(data[:, 0], ecg) and np.array_equal(data[:, 1], trigger)
    # RESP (divider 4) is in the stream either way: delivered on request, or left on and read past.
    assert wire == [("ECG", 1), ("RESP", 4), ("TRIGGER", 1)]
    if exclusive:
        assert ndt.channels == ["ECG", "TRIGGER", "RESP"]
        assert np.array_equal(data[:, 2], np.repeat(resp, 4)[:n])  # held between its samples
    else:
        assert ndt.channels == ["ECG", "TRIGGER"] and data.shape[1] == 2


def test_exclusive_delivery_turns_off_unread_channels() -> None:
    with AcqKnowledgeEmulator(_source(1000), delivery=True) as emulator:
        with _running(emulator) as ndt:
            _read_n(ndt, 1000)
            assert [c.label for c in ndt.wire_channels] == ["ECG", "TRIGGER"]
        assert not emulator.delivery("RESP") and emulator.delivery("ECG") and emulator.delivery("TRIGGER")
        little = {"type": "double", "endian": "little"}
        assert ("changeDataType", ({"type": "analog", "index": 0}, little)) in emulator.calls


def test_fragments_of_seven_bytes_are_reassembled_exactly() -> None:
    n = 2000
    ecg, trigger, resp = _signals(n)
    emulator = AcqKnowledgeEmulator(_source(n), fragment_bytes=7)
    with emulator, _running(emulator, extra_labels=["RESP"]) as ndt:
        data = _joined(_read_n(ndt, n))
    assert data.shape == (n, 3)
    assert np.array_equal(data[:, 0], ecg) and np.array_equal(data[:, 1], trigger)
    assert np.array_equal(data[:, 2], np.repeat(resp, 4)[:n])


def test_decoder_matches_for_any_split_of_the_stream() -> None:
    dividers = [2, 1, 3, 6]  # ECG at divider 2; a faster, a slower and a much slower channel
    n_base = 600
    rng = np.random.default_rng(3)
    values = rng.normal(size=(n_base, len(dividers)))
    wire = b"".join(
        values[i, c].astype("<f8").tobytes()
        for i in range(n_base)
        for c, d in enumerate(dividers)
        if i % d == 0
    )
    cuts = np.sort(rng.choice(np.arange(1, len(wire)), size=200, replace=False))
    decoder = FrameDecoder(dividers, columns=[0, 1, 2, 3])
    pieces = np.split(np.frombuffer(wire, np.uint8), cuts)
    blocks = [b for piece in pieces if (b := decoder.feed(piece.tobytes())) is not None]
    data = _joined(blocks)
    rows = np.arange(0, n_base, 2)
    assert data.shape == (n_base // 2, 4) and all(b.step == 2 for b in blocks)
    assert np.array_equal(data[:, 0], values[rows, 0])
    assert np.array_equal(data[:, 1], np.maximum(values[rows, 1], values[rows + 1, 1]))  # max over the period
    assert np.array_equal(data[:, 2], values[(rows // 3) * 3, 2])  # latest sample at or before the row
    assert np.array_equal(data[:, 3], values[(rows // 6) * 6, 3])
    assert decoder.pending_bytes == 0 and decoder.next_sample == n_base


def test_ecg_downsampled_keeps_one_sample_trigger_pulses() -> None:
    n = 4000  # base 2 kHz, ECG at 1 kHz (divider 2), trigger at 2 kHz with pulses one sample wide
    ecg = np.sin(np.arange(n // 2) / 25.0)
    trigger = np.zeros(n)
    trigger[[101, 700, 1333, 3998]] = 1.0
    channels = [(ChannelSpec("ECG", divider=2), ecg), (ChannelSpec("TRIGGER", type="digital"), trigger)]
    source = ArraySource(2 * RATE, channels)
    with AcqKnowledgeEmulator(source) as emulator, _running(emulator) as ndt:
        assert ndt.sampling_rate == RATE and ndt.base_rate == 2 * RATE
        blocks = _read_n(ndt, n // 2)
    data = _joined(blocks)
    assert blocks[0].step == 2
    assert np.array_equal(data[:, 0], ecg)
    assert list(np.flatnonzero(data[:, 1])) == [50, 350, 666, 1999]  # hardware index // 2


# --- pacing ----------------------------------------------------------------------------------------------


def test_real_time_pacing_is_roughly_the_base_rate() -> None:
    with AcqKnowledgeEmulator(_source(5000), speed=1.0) as emulator, _running(emulator) as ndt:
        started = time.monotonic()
        while time.monotonic() - started < 1.0:
            ndt.read(0.05)
        elapsed = time.monotonic() - started
        received = ndt.samples_received
    assert 0.6 * elapsed * RATE < received < 1.4 * elapsed * RATE + 100


# --- faults ------------------------------------------------------------------------------------------------


def test_connection_drop_is_reported_after_the_samples_before_it() -> None:
    n, drop = 3000, 1500
    ecg, trigger, _ = _signals(n)
    with AcqKnowledgeEmulator(_source(n), drop_after=drop, drop_extra_bytes=5) as emulator:
        with _running(emulator) as ndt:
            blocks: list[EcgBlock] = []
            deadline = time.monotonic() + READ_DEADLINE_S
            with pytest.raises(DeviceError) as raised:
                while time.monotonic() < deadline:
                    block = ndt.read(0.5)
                    if block is not None:
                        blocks.append(block)
            message = str(raised.value)
            assert "AcqKnowledge data connection lost after 1500 samples (1.500 s)" in message
            assert "5 bytes of an incomplete frame" in message
            assert ndt.fault is raised.value
            with pytest.raises(DeviceError, match="lost after 1500 samples"):
                ndt.read(0.0)  # it stays reported; the caller decides to carry on without ECG
        assert not emulator.acquiring  # stop() still turned the acquisition off
    data = _joined(blocks)
    assert data.shape[0] == drop and np.array_equal(data[:, 0], ecg[:drop])
    assert np.array_equal(data[:, 1], trigger[:drop])


def test_stall_is_reported_once_and_the_stream_resumes() -> None:
    n = 2000
    ecg, _, _ = _signals(n)
    emulator = AcqKnowledgeEmulator(_source(n), stall_after=500, stall_s=0.8)
    with emulator, _running(emulator, stall_timeout_s=0.3) as ndt:
        blocks: list[EcgBlock] = []
        stalls: list[EcgStallError] = []
        deadline = time.monotonic() + READ_DEADLINE_S
        while sum(b.n_samples for b in blocks) < n and time.monotonic() < deadline:
            try:
                block = ndt.read(0.1)
            except EcgStallError as exc:
                stalls.append(exc)
                assert ndt.stalled and ndt.fault is None
                continue
            if block is not None:
                blocks.append(block)
        assert ndt.stalls == 1 and not ndt.stalled
    assert len(stalls) == 1 and "no data from AcqKnowledge" in str(stalls[0])
    assert "after 500 samples" in str(stalls[0])
    assert np.array_equal(_joined(blocks)[:, 0], ecg)


def test_missing_channel_lists_the_labels_there_are() -> None:
    with AcqKnowledgeEmulator(_source(500, with_trigger=False)) as emulator:
        ndt = NdtEcgSource(rpc_port=emulator.rpc_port, data_port=0)
        with pytest.raises(DeviceError) as raised:
            ndt.start()
        ndt.close()
        assert not emulator.acquiring
    message = str(raised.value)
    assert "no enabled channel labelled 'TRIGGER'" in message
    assert "'ECG' (analog 0)" in message and "'RESP' (analog 1)" in message


def test_unreachable_acqknowledge_is_a_device_error() -> None:
    port = _free_port()
    ndt = NdtEcgSource(rpc_port=port, data_port=0, rpc_timeout_s=2.0)
    expected = rf"cannot reach AcqKnowledge at http://127\.0\.0\.1:{port}/RPC2 \(is NDT enabled\?\)"
    with pytest.raises(DeviceError, match=expected):
        ndt.start()
    ndt.close()


def test_acqknowledge_never_connecting_is_a_device_error() -> None:
    with AcqKnowledgeEmulator(_source(500)) as emulator:
        # AcqKnowledge is told to connect to 127.0.0.2, where nobody listens: its connection never comes.
        ndt = NdtEcgSource(
            rpc_port=emulator.rpc_port, data_port=0, data_host="127.0.0.2", connect_timeout_s=0.5
        )
        with pytest.raises(DeviceError, match="did not open its data connection"):
            ndt.start()
        ndt.close()
        assert not emulator.acquiring


def test_an_acquisition_already_running_is_refused() -> None:
    with AcqKnowledgeEmulator(_source(500)) as emulator:
        first = NdtEcgSource(rpc_port=emulator.rpc_port, data_port=0)
        with first:
            first.start()
            second = NdtEcgSource(rpc_port=emulator.rpc_port, data_port=0)
            with pytest.raises(DeviceError, match="already running"):
                second.start()
            assert emulator.acquiring


def test_consumer_falling_behind_loses_the_oldest_samples_visibly() -> None:
    n = 3000
    with AcqKnowledgeEmulator(_source(n)) as emulator, _running(emulator, max_buffer_s=0.5) as ndt:
        deadline = time.monotonic() + READ_DEADLINE_S
        while emulator.samples_sent < n or ndt.samples_received < n:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        blocks = []
        while (block := ndt.read(0.2)) is not None:
            blocks.append(block)
    kept = sum(b.n_samples for b in blocks)
    assert kept == 500 and ndt.samples_lost == n - 500  # max_buffer_s x rate rows kept: the newest
    assert blocks[0].first_sample == ndt.samples_lost and blocks[-1].end_sample == n


# --- events ------------------------------------------------------------------------------------------------


def test_insert_event_calls_insert_global_event() -> None:
    with AcqKnowledgeEmulator(_source(1000)) as emulator, _running(emulator) as ndt:
        _read_n(ndt, 1000)
        ndt.insert_event("ME onset", sample=123)
        ndt.insert_event("ME apex")
        with pytest.raises(ValueError):
            ndt.insert_event("  ")
    assert emulator.events == [("ME onset", 123), ("ME apex", 1000)]
    assert emulator.event_calls == [("ME onset", "flag", "123"), ("ME apex", "flag", "")]
    assert ndt.events == [("ME onset", 123), ("ME apex", 1000)]


# --- real recordings ----------------------------------------------------------------------------------


def test_r42_ecg_streams_exactly_as_bioread_reads_it() -> None:
    if not R42_ACQ.exists():
        pytest.skip(f"{R42_ACQ} missing")
    import bioread

    expected = np.asarray(bioread.read_file(str(R42_ACQ)).channels[0].data, dtype=np.float64)
    source = ArraySource.from_acq(R42_ACQ)
    with AcqKnowledgeEmulator(source) as emulator, _running(emulator, trigger_label=None) as ndt:
        assert ndt.channels == ["ECG (.05 - 150 Hz)"] and ndt.sampling_rate == 1000.0
        data = _joined(_read_n(ndt, expected.size))
        assert [c.label for c in ndt.wire_channels] == ["ECG (.05 - 150 Hz)"]
    assert data.shape == (expected.size, 1) and np.array_equal(data[:, 0], expected)


def test_physio_file_with_three_channel_rates() -> None:
    source = ArraySource.from_acq(
        PHYSIO_ACQ, labels=["EKG - ERS100C", "RESP - RSP100C", "EDA - GSR100C"], max_seconds=3.0
    )
    ekg, resp, eda = (source.channel_data(c.label) for c in source.channel_specs())
    assert [c.divider for c in source.channel_specs()] == [2, 512, 1]
    rows = source.n_samples // 2
    emulator = AcqKnowledgeEmulator(source, fragment_bytes=1000)
    with emulator, _running(emulator, ecg_label="EKG", trigger_label="EDA", extra_labels=["RESP"]) as ndt:
        assert ndt.sampling_rate == 1000.0 and ndt.base_rate == 2000.0
        data = _joined(_read_n(ndt, rows))
    base = 2 * np.arange(rows)
    assert np.array_equal(data[:, 0], ekg[:rows])
    assert np.array_equal(data[:, 1], np.maximum(eda[base], eda[base + 1]))
    assert np.array_equal(data[:, 2], resp[base // 512])


# --- sources, blocks and arguments ---------------------------------------------------------------------


def test_csv_and_npy_sources_carry_channels_at_their_own_rates(tmp_path: Path) -> None:
    table = np.full((8, 2), np.nan)
    table[:, 0] = np.arange(8.0)
    table[:4, 1] = [10.0, 11.0, 12.0, 13.0]
    csv_path = tmp_path / "ecg.csv"
    lines = ["ECG,RESP"] + [f"{a:g},{'' if np.isnan(b) else f'{b:g}'}" for a, b in table]
    csv_path.write_text("\n".join(lines) + "\n")
    npy_path = tmp_path / "ecg.npy"
    np.save(npy_path, table)
    for source in (
        ArraySource.from_csv(csv_path, 100.0, dividers={"RESP": 2}),
        ArraySource.from_npy(npy_path, 100.0, ["ECG", "RESP"], dividers={"RESP": 2}),
    ):
        assert source.n_samples == 8 and [c.divider for c in source.channel_specs()] == [1, 2]
        block = source.next_block(5)
        assert block is not None and np.array_equal(block[:, 0], np.arange(5.0))
        assert np.array_equal(block[::2, 1], [10.0, 11.0, 12.0]) and np.isnan(block[1::2, 1]).all()
        rest = source.next_block(100)
        assert rest is not None and rest.shape[0] == 3 and source.next_block(1) is None


def test_block_and_argument_validation() -> None:
    with pytest.raises(ValueError):
        EcgBlock(first_sample=-1, data=np.zeros((2, 1)))
    with pytest.raises(ValueError):
        EcgBlock(first_sample=0, data=np.zeros(3))
    with pytest.raises(ValueError):
        EcgBlock(first_sample=0, data=np.zeros((2, 1), dtype=np.float32))
    block = EcgBlock(first_sample=10, data=np.zeros((3, 2)), step=2)
    assert block.end_sample == 16 and list(block.sample_indices()) == [10, 12, 14]
    with pytest.raises(ValueError):
        NdtEcgSource(rpc_port=0)
    with pytest.raises(ValueError):
        NdtEcgSource(ecg_label="ECG", trigger_label="ecg")
    with pytest.raises(ValueError):
        NdtEcgSource(stall_timeout_s=0)
    ndt = NdtEcgSource()
    assert ndt.channels == ["ECG", "TRIGGER"] and ndt.url == "http://127.0.0.1:15010/RPC2"
    with pytest.raises(RuntimeError):
        ndt.read(0.1)
    with pytest.raises(ValueError):
        ndt.read(-1.0)
    with pytest.raises(RuntimeError):
        _ = ndt.sampling_rate


def test_the_data_listener_accepts_only_acqknowledges_host() -> None:
    import socket

    from acquisition.ecg.ndt import accept_from

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    intruder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    intruder.bind(("127.0.0.3", 0))  # another machine, as far as the address goes
    intruder.connect(("127.0.0.1", port))
    acqknowledge = socket.create_connection(("127.0.0.1", port))
    rejected: list[str] = []
    try:
        conn, peer = accept_from(listener, {"127.0.0.1"}, 2.0, rejected)
        assert conn is not None and peer[0] == "127.0.0.1" and rejected == ["127.0.0.3"]
        acqknowledge.sendall(b"x")
        assert conn.recv(1) == b"x"
        conn.close()
        assert intruder.recv(1) == b""  # closed on it
        assert accept_from(listener, {"127.0.0.1"}, 0.2, rejected) == (None, ())  # nobody else: time out
    finally:
        for sock in (listener, intruder, acqknowledge):
            sock.close()
