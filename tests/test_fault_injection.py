"""A few SIGKILLs of `mespot record` in the suite (the full run: `python -m tests.fault_injection`)."""

from __future__ import annotations

from pathlib import Path

from tests.fault_injection import run


def test_sessions_killed_at_random_moments_open_and_replay_to_their_end(tmp_path: Path) -> None:
    results = run(kills=2, seed=1, work=tmp_path)
    for r in results:
        assert r.opened and r.frames > 0, r
        assert r.lost <= r.chunk, r
        assert r.replay_code in (0, 3) and r.replay_frames == r.frames, r
