"""Mock XIMEA camera: a drop-in for ``xiapipy.xiapi`` (``Camera``, ``Image``, ``Xi_error``) fed by feeders.

Pass this package (or :mod:`hardware_mocks.ximea.xiapi`) as the ``api`` of
:class:`acquisition.camera.XimeaCamera`; plug cameras in with :func:`register_device`.
"""

from hardware_mocks.ximea.feeders import SENSOR_SHAPE, ArrayFeeder, FrameFeeder, TimedFeeder, VideoFileFeeder
from hardware_mocks.ximea.xiapi import (
    Camera,
    Image,
    MockDevice,
    Xi_error,
    clear_devices,
    register_device,
    registered_devices,
    unregister_device,
)

__all__ = [
    "SENSOR_SHAPE",
    "ArrayFeeder",
    "Camera",
    "FrameFeeder",
    "Image",
    "MockDevice",
    "TimedFeeder",
    "VideoFileFeeder",
    "Xi_error",
    "clear_devices",
    "register_device",
    "registered_devices",
    "unregister_device",
]
