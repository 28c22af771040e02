"""The trigger box: TTL pulses at the camera rate to the camera's GPI and an MP160 digital input.

Protocol: docs/trigger-box-protocol.md. Firmware: firmware/trigger_box/. Mock: hardware_mocks.trigger_box.
"""

from acquisition.trigger._base import (
    DEFAULT_PULSE_WIDTH_US,
    DEFAULT_RATE_HZ,
    TriggerBox,
    TriggerStatus,
)
from acquisition.trigger.serial_box import SerialTriggerBox, TriggerCommandError

__all__ = [
    "DEFAULT_PULSE_WIDTH_US",
    "DEFAULT_RATE_HZ",
    "SerialTriggerBox",
    "TriggerBox",
    "TriggerCommandError",
    "TriggerStatus",
]
