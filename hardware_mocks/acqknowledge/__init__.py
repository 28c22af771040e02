"""AcqKnowledge emulator: NDT XML-RPC control and single-connection TCP data on loopback.

:class:`AcqKnowledgeEmulator` serves a :class:`SampleStream` (e.g. :class:`ArraySource` from arrays, .acq,
CSV or NPY files). Run ``python -m hardware_mocks.acqknowledge FILE.acq`` to serve a recording.
"""

from hardware_mocks.acqknowledge.emulator import DEFAULT_RPC_PORT, DEFAULT_SINGLE_PORT, AcqKnowledgeEmulator
from hardware_mocks.acqknowledge.sources import ArraySource, ChannelSpec, SampleStream, assign_indices

__all__ = [
    "DEFAULT_RPC_PORT",
    "DEFAULT_SINGLE_PORT",
    "AcqKnowledgeEmulator",
    "ArraySource",
    "ChannelSpec",
    "SampleStream",
    "assign_indices",
]
