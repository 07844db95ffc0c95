"""Results never move silently: every shipped scenario's short cut matches its stored digests.

A change meant to keep results must keep these bit for bit; a change meant to move them
regenerates them (``python -m fleetsim.digests --write``) and the docs' figures in the same
commit. The digests are per CPU class: int8 and torch float kernels differ between them.
"""

from __future__ import annotations

import pytest

from fleetsim.digests import (
    cpu_class,
    digest_file,
    key_of,
    shipped_scenarios,
    short_run_digests,
    stored_digests,
)

STORED = stored_digests()


def test_digests_are_stored_for_this_cpu_class_and_every_shipped_scenario():
    assert STORED is not None, (
        f"no stored digests for CPU class {cpu_class()} ({digest_file()}): "
        "run `python -m fleetsim.digests --write` on a commit whose results you trust")
    assert sorted(STORED) == sorted(key_of(p) for p in shipped_scenarios())


@pytest.mark.slow
@pytest.mark.parametrize("path", shipped_scenarios(), ids=key_of)
def test_shipped_scenario_results_match_the_stored_digests(path):
    if STORED is None or key_of(path) not in STORED:
        pytest.fail(f"no stored digest for {key_of(path)} on CPU class {cpu_class()}")
    got = short_run_digests(path)
    expected = STORED[key_of(path)]
    moved = sorted(k for k in set(got) | set(expected) if got.get(k) != expected.get(k))
    assert not moved, f"{key_of(path)}: results moved in {moved}"
