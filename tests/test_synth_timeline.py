"""Synthetic timelines: MECG durations, the MEGC class rule, envelopes whose truth is where the motion is."""

from __future__ import annotations

import numpy as np
import pytest

from acquisition.readers.annotations import classify_expression
from hardware_mocks.synth.timeline import (
    REFERENCE_FACE_PX,
    ShiftedLognormal,
    TimelineProfile,
    blink_envelope,
    draw_blink,
    draw_expression,
    expression_envelope,
    make_timeline,
)

N_DRAWS = 4000
FPS = 150.0


@pytest.fixture(scope="module")
def drawn() -> list:
    rng = np.random.default_rng(11)
    profile = TimelineProfile()
    return [draw_expression(rng, profile) for _ in range(N_DRAWS)]


def test_durations_match_the_mecg_figures(drawn: list) -> None:
    total = np.array([e.offset_s - e.onset_s for e in drawn])
    rise = np.array([e.apex_s - e.onset_s for e in drawn])
    assert np.median(total) == pytest.approx(0.54, abs=0.08)
    q1, q3 = np.percentile(total, [25, 75])
    assert q1 == pytest.approx(0.38, abs=0.08) and q3 == pytest.approx(0.92, abs=0.12)
    assert np.median(rise) == pytest.approx(0.37, abs=0.08)
    share = np.mean([e.kind == "ME" for e in drawn])
    assert 0.4 <= share <= 0.6
    me_total = total[[e.kind == "ME" for e in drawn]]
    assert me_total.min() >= 0.2 and np.percentile(me_total, 99) <= 1.2  # real ME intervals: ~0.2-1.2 s


def test_class_follows_the_megc_rule_and_amplitudes_the_class(drawn: list) -> None:
    profile = TimelineProfile()
    for e in drawn:
        assert e.kind == classify_expression(e.onset_s, e.apex_s, e.offset_s)
        span = profile.me_amplitude_px if e.kind == "ME" else profile.macro_amplitude_px
        assert span[0] <= e.amplitude <= span[1]


def test_shifted_lognormal_fits_the_quartiles_exactly() -> None:
    law = ShiftedLognormal.from_quartiles(0.38, 0.54, 0.92)
    rng = np.random.default_rng(0)
    values = np.array([law.draw(rng, 100.0) for _ in range(20000)])
    np.testing.assert_allclose(np.percentile(values, [25, 50, 75]), [0.38, 0.54, 0.92], atol=0.02)
    with pytest.raises(ValueError):
        ShiftedLognormal.from_quartiles(0.4, 0.5, 0.55)


def test_timeline_is_deterministic_and_keeps_expressions_apart() -> None:
    profile = TimelineProfile(me_per_minute=12)
    a = make_timeline(120.0, np.random.default_rng(5), profile, frame_period_s=1 / FPS)
    b = make_timeline(120.0, np.random.default_rng(5), profile, frame_period_s=1 / FPS)
    assert a == b
    assert len(a.micro_expressions) >= 12
    assert any(e.offset_s - e.onset_s >= 1.0 and e.kind == "macro" for e in a.expressions)  # long macros
    for first, second in zip(a.expressions, a.expressions[1:], strict=False):
        assert second.onset_s >= first.offset_s + profile.min_gap_s - 1e-9
    for e in a.expressions:  # on the frame grid
        for t in (e.onset_s, e.apex_s, e.offset_s):
            assert abs(t * FPS - round(t * FPS)) < 1e-6


def test_heart_response_fraction_changes_no_other_event() -> None:
    rng = lambda: np.random.default_rng(9)  # noqa: E731
    every = make_timeline(60.0, rng(), TimelineProfile(hr_response_fraction=1.0))
    none = make_timeline(60.0, rng(), TimelineProfile(hr_response_fraction=0.0))
    strip = [(e.onset_s, e.offset_s, e.action_units, e.amplitude) for e in every.expressions]
    assert strip == [(e.onset_s, e.offset_s, e.action_units, e.amplitude) for e in none.expressions]
    assert all(e.response is not None for e in every.micro_expressions)
    assert not any(e.hr_response for e in none.expressions)
    assert every.blinks == none.blinks


def test_amplitudes_scale_with_the_face() -> None:
    big = draw_expression(np.random.default_rng(3), TimelineProfile(), face_px=2 * REFERENCE_FACE_PX)
    small = draw_expression(np.random.default_rng(3), TimelineProfile())
    assert big.amplitude == pytest.approx(2 * small.amplitude)


@pytest.mark.parametrize("seed", range(6))
def test_envelope_starts_peaks_and_ends_where_the_truth_says(seed: int) -> None:
    e = draw_expression(np.random.default_rng(seed), TimelineProfile(residual_probability=0.5), start=2.0)
    t = np.arange(0, 12.0, 1 / FPS)
    env = expression_envelope(t, e.onset_s, e.apex_s, e.offset_s, e.hold_s, e.rise_shape, e.fall_shape,
                              e.residual, e.release_s)
    assert np.all(env[t <= e.onset_s] == 0) and env[np.searchsorted(t, e.onset_s) + 1] > 0
    assert env.max() == pytest.approx(1.0, abs=5e-3)  # the apex lies between two samples
    assert t[np.argmax(env)] == pytest.approx(e.apex_s, abs=1 / FPS)
    at_offset = env[np.searchsorted(t, e.offset_s)]
    assert at_offset == pytest.approx(e.residual, abs=0.02)
    speed = np.abs(np.diff(env)) * FPS
    moving = speed[(t[1:] > e.onset_s) & (t[1:] < e.offset_s)].max()
    assert np.all(speed[t[1:] > e.offset_s + 1 / FPS] < 0.2 * moving)  # after the offset: slow drift only
    assert env[-1] == pytest.approx(0.0, abs=1e-9)


def test_blinks_close_fast_and_open_slowly() -> None:
    profile = TimelineProfile()
    for seed in range(20):
        b = draw_blink(np.random.default_rng(seed), profile, 1.0)
        close, opening = b.apex_s - b.onset_s, b.offset_s - b.apex_s - b.closed_s
        assert 0.05 <= close <= 0.15 and opening > close
        t = np.arange(0, 2.0, 1 / 1000)
        env = blink_envelope(t, b)
        assert env.max() == pytest.approx(b.amplitude, abs=1e-3)
        assert np.all(env[(t < b.onset_s) | (t > b.offset_s)] == 0)
