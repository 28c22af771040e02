"""A mock trigger box on a pseudo-terminal, speaking docs/trigger-box-protocol.md."""

from hardware_mocks.trigger_box.box import MockTriggerBox
from hardware_mocks.trigger_box.pulses import FanoutPulses, PulseListener, TimedPulses

__all__ = ["FanoutPulses", "MockTriggerBox", "PulseListener", "TimedPulses"]
