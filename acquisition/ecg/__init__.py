"""Live ECG sources: the :class:`EcgSource` interface and BIOPAC AcqKnowledge NDT (:class:`NdtEcgSource`)."""

from acquisition.ecg._base import EcgBlock, EcgSource, EcgStallError
from acquisition.ecg._frames import FrameDecoder
from acquisition.ecg.ndt import DEFAULT_DATA_PORT, DEFAULT_RPC_PORT, NdtChannel, NdtEcgSource, find_channel

__all__ = [
    "DEFAULT_DATA_PORT",
    "DEFAULT_RPC_PORT",
    "EcgBlock",
    "EcgSource",
    "EcgStallError",
    "FrameDecoder",
    "NdtChannel",
    "NdtEcgSource",
    "find_channel",
]
