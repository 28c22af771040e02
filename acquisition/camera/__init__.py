"""Cameras: the :class:`Camera` interface and the XIMEA driver (real xiAPI or the mock).

Nothing here imports XIMEA's package at import time; :func:`load_xiapi` does, when a real camera opens.
"""

from acquisition.camera._base import (
    DEFAULT_BUFFER_QUEUE_SIZE,
    DEFAULT_EXPOSURE_US,
    DEFAULT_FPS,
    DEFAULT_TIMEOUT_MS,
    Camera,
    CameraSettings,
    CameraTimeout,
    CapturedFrame,
    PixelFormat,
    TriggerMode,
    check_out_buffer,
)
from acquisition.camera.ximea import SkippedFrames, XiApi, XimeaCamera, load_xiapi

__all__ = [
    "DEFAULT_BUFFER_QUEUE_SIZE",
    "DEFAULT_EXPOSURE_US",
    "DEFAULT_FPS",
    "DEFAULT_TIMEOUT_MS",
    "Camera",
    "CameraSettings",
    "CameraTimeout",
    "CapturedFrame",
    "PixelFormat",
    "SkippedFrames",
    "TriggerMode",
    "XiApi",
    "XimeaCamera",
    "check_out_buffer",
    "load_xiapi",
]
