"""The part of xiAPI's tables that the mock speaks: status codes, enumerators and parameter types.

Names, numbers and status texts are those of the real package (``xiapipy`` 4.33.26, ``xidefs.py``); only the
subset the mock implements is listed.  ``tests/test_ximea_contract.py`` checks them against the real
package when it is installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

# ----------------------------------------------------------------------------------------------------------
# Status codes (xidefs.ERROR_CODES; C names from xiApi.h)

XI_OK: Final = 0
XI_INVALID_HANDLE: Final = 1
XI_TIMEOUT: Final = 10
XI_INVALID_ARG: Final = 11
XI_NOT_SUPPORTED: Final = 12
XI_ACQUISITION_ALREADY_UP: Final = 41
XI_ACQUISITION_STOPED: Final = 45
XI_ACQUISITION_STOPED_WERR: Final = 46
XI_NO_DEVICES_FOUND: Final = 56
XI_RESOURCE_OR_FUNCTION_LOCKED: Final = 57
XI_UNKNOWN_PARAM: Final = 100
XI_WRONG_PARAM_VALUE: Final = 101
XI_PARAM_NOT_SETTABLE: Final = 114
XI_PARAM_INFO_NOT_SUPPORTED: Final = 107
XI_NOT_SUPPORTED_DATA_FORMAT: Final = 108
XI_READ_ONLY_PARAM: Final = 109
XI_NOT_SUPPORTED_PARAM_WHILE_ACQ: Final = 121

ERROR_CODES: Final[dict[int, str]] = {
    XI_OK: "Result OK",  # the real table lists 0 twice; the later text is the one that stays
    XI_INVALID_HANDLE: "Invalid handle",
    XI_TIMEOUT: "Timeout",
    XI_INVALID_ARG: "Invalid arguments supplied",
    XI_NOT_SUPPORTED: "Not supported",
    XI_ACQUISITION_ALREADY_UP: "Acquisition already started",
    XI_ACQUISITION_STOPED: "Acquisition is stopped. It needs to be started to perform operation.",
    XI_ACQUISITION_STOPED_WERR: "Acquisition has been stopped with an error.",
    XI_NO_DEVICES_FOUND: "No Devices Found",
    XI_RESOURCE_OR_FUNCTION_LOCKED: "Resource (device) or function locked by mutex",
    XI_UNKNOWN_PARAM: "Unknown parameter",
    XI_WRONG_PARAM_VALUE: "Wrong parameter value",
    XI_PARAM_INFO_NOT_SUPPORTED: "Parameter info not supported",
    XI_NOT_SUPPORTED_DATA_FORMAT: "Data format is not supported",
    XI_READ_ONLY_PARAM: "Read only parameter",
    XI_PARAM_NOT_SETTABLE: "Parameter value cannot be set (might be out of range or invalid).",
    XI_NOT_SUPPORTED_PARAM_WHILE_ACQ: "Parameter is not supported while acquisition is running.",
}
"""Status -> text, as ``Xi_error.descr`` gives it."""

# ----------------------------------------------------------------------------------------------------------
# Enumerators (xidefs.XI_*; the real tables hold ctypes c_uint values, plain ints here)

XI_IMG_FORMAT: Final[dict[str, int]] = {
    "XI_MONO8": 0, "XI_MONO16": 1, "XI_RGB24": 2, "XI_RGB32": 3, "XI_RAW8": 5, "XI_RAW16": 6,
}
EIGHT_BIT_FORMATS: Final = frozenset({"XI_MONO8", "XI_RAW8"})
"""The formats the mock can emit (it is a monochrome 8-bit sensor)."""

XI_TRG_SOURCE: Final[dict[str, int]] = {
    "XI_TRG_OFF": 0, "XI_TRG_EDGE_RISING": 1, "XI_TRG_EDGE_FALLING": 2, "XI_TRG_SOFTWARE": 3,
    "XI_TRG_LEVEL_HIGH": 4, "XI_TRG_LEVEL_LOW": 5,
}
HARDWARE_TRIGGER_SOURCES: Final = frozenset(
    {"XI_TRG_EDGE_RISING", "XI_TRG_EDGE_FALLING", "XI_TRG_LEVEL_HIGH", "XI_TRG_LEVEL_LOW"})

XI_TRG_SELECTOR: Final[dict[str, int]] = {
    "XI_TRG_SEL_FRAME_START": 0, "XI_TRG_SEL_EXPOSURE_ACTIVE": 1, "XI_TRG_SEL_FRAME_BURST_START": 2,
    "XI_TRG_SEL_EXPOSURE_START": 5,
}
XI_ACQ_TIMING_MODE: Final[dict[str, int]] = {
    "XI_ACQ_TIMING_MODE_FREE_RUN": 0, "XI_ACQ_TIMING_MODE_FRAME_RATE": 1,
    "XI_ACQ_TIMING_MODE_FRAME_RATE_LIMIT": 2,
}
FRAME_RATE_TIMING_MODES: Final = frozenset(
    {"XI_ACQ_TIMING_MODE_FRAME_RATE", "XI_ACQ_TIMING_MODE_FRAME_RATE_LIMIT"})

XI_GPI_MODE: Final[dict[str, int]] = {"XI_GPI_OFF": 0, "XI_GPI_TRIGGER": 1, "XI_GPI_EXT_EVENT": 2}
XI_GPI_SELECTOR: Final[dict[str, int]] = {
    "XI_GPI_PORT1": 1, "XI_GPI_PORT2": 2, "XI_GPI_PORT3": 3, "XI_GPI_PORT4": 4,
}
XI_BP: Final[dict[str, int]] = {"XI_BP_UNSAFE": 0, "XI_BP_SAFE": 1}
XI_COUNTER_SELECTOR: Final[dict[str, int]] = {
    "XI_CNT_SEL_TRANSPORT_SKIPPED_FRAMES": 0, "XI_CNT_SEL_API_SKIPPED_FRAMES": 1,
    "XI_CNT_SEL_TRANSPORT_TRANSFERRED_FRAMES": 2,
}
XI_OPEN_BY: Final[dict[str, int]] = {
    "XI_OPEN_BY_INST_PATH": 0, "XI_OPEN_BY_SN": 1, "XI_OPEN_BY_USER_ID": 2, "XI_OPEN_BY_LOC_PATH": 3,
}

# ----------------------------------------------------------------------------------------------------------
# Parameters


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """A parameter the mock knows: its xiAPI type, enumerator, and when it may be set."""

    kind: Literal["int", "float", "enum", "str"]
    default: int | float | str
    enum: dict[str, int] | None = None
    read_only: bool = False
    live: bool = True
    """May be set while acquisition runs (xiAPI refuses some with status 121)."""


PARAMS: Final[dict[str, ParamSpec]] = {
    "exposure": ParamSpec("float", 10_000.0),
    "gain": ParamSpec("float", 0.0),
    "imgdataformat": ParamSpec("enum", "XI_MONO8", XI_IMG_FORMAT, live=False),
    "framerate": ParamSpec("float", 150.0),
    "acq_timing_mode": ParamSpec("enum", "XI_ACQ_TIMING_MODE_FREE_RUN", XI_ACQ_TIMING_MODE, live=False),
    "trigger_source": ParamSpec("enum", "XI_TRG_OFF", XI_TRG_SOURCE),
    "trigger_selector": ParamSpec("enum", "XI_TRG_SEL_FRAME_START", XI_TRG_SELECTOR),
    "gpi_selector": ParamSpec("enum", "XI_GPI_PORT1", XI_GPI_SELECTOR),
    "gpi_mode": ParamSpec("enum", "XI_GPI_OFF", XI_GPI_MODE),
    "buffers_queue_size": ParamSpec("int", 4, live=False),
    "buffer_policy": ParamSpec("enum", "XI_BP_UNSAFE", XI_BP, live=False),
    "counter_selector": ParamSpec("enum", "XI_CNT_SEL_TRANSPORT_SKIPPED_FRAMES", XI_COUNTER_SELECTOR),
    "counter_value": ParamSpec("int", 0, read_only=True),
    "width": ParamSpec("int", 0, live=False),
    "height": ParamSpec("int", 0, live=False),
    "offsetX": ParamSpec("int", 0),
    "offsetY": ParamSpec("int", 0),
    "device_sn": ParamSpec("str", "", read_only=True),
    "device_name": ParamSpec("str", "", read_only=True),
}
"""The mock's parameters (xidefs.VAL_TYPE / ASSOC_ENUM subset)."""

ROI_PARAMS: Final = ("width", "height", "offsetX", "offsetY")
"""The readout region's parameters; each also answers ``:min``, ``:max`` and ``:inc`` queries."""
ROI_INCREMENTS: Final[dict[str, int]] = {"width": 8, "height": 2, "offsetX": 8, "offsetY": 2}
"""Steps of the region's size and corner (a typical XIMEA USB3 model's; the real ones are model-specific)."""

DEVICE_INFO_KEYS: Final = ("device_sn", "device_name", "device_inst_path", "device_loc_path", "device_type")
"""What ``Camera.get_device_info_string`` answers (its docstring in the real package lists these)."""
