"""The session format: one directory per recorded (or synthesized) trial. See docs/session-format.md."""

from acquisition.session._format import FRAME_INDEX_DTYPE
from acquisition.session.metadata import EcgInfo, SessionMetadata, TriggerInfo, VideoInfo
from acquisition.session.reader import SessionReader
from acquisition.session.writer import SessionWriter

__all__ = [
    "FRAME_INDEX_DTYPE",
    "EcgInfo",
    "SessionMetadata",
    "SessionReader",
    "SessionWriter",
    "TriggerInfo",
    "VideoInfo",
]
