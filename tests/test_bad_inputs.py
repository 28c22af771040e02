"""A sample of the generated bad-input cases (tests/bad_inputs.py; the whole table: `python -m
tests.bad_inputs`): each ends with exit 2 (or 3) and one line, no traceback, no hang, no nonsense accepted."""

from __future__ import annotations

import pytest

from tests.bad_inputs import all_cases, run_cases

EVERY = 6  # the suite runs this share of the cases (each is a process of its own)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("bad-inputs")
    cases = all_cases(work)
    assert len(cases) >= 200
    return run_cases(cases[::EVERY], work)


def test_every_sampled_bad_input_ends_cleanly(outcomes) -> None:
    failing = [f"{o.case.category} / {o.case.name}: exit {o.code}, traceback {o.traceback}, {o.lines} lines"
               for o in outcomes if not o.ok]
    assert not failing, "\n".join(failing)


def test_the_sample_covers_every_category(outcomes) -> None:
    assert len({o.case.category for o in outcomes}) >= 12
