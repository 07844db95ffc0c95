"""The README's figures cannot go stale: they render from stored full runs made with today's results.

``fleetsim.tools.figures`` re-runs each study and stores its figures with a fingerprint of
the short-cut digests of its scenarios; here the README's marked blocks must equal what
the stored figures render to, and each study's fingerprint must equal the digests stored
now, so moving a study's results (new digests) without re-running it fails.
"""

from __future__ import annotations

import pytest

from fleetsim.digests import key_of, shipped_scenarios
from fleetsim.tools.figures import (
    BLOCK,
    DOCUMENTS,
    STUDIES,
    digest_fingerprint,
    load_figures,
    render_document,
    rendered_blocks,
    stale_documents,
)


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_each_study_was_run_with_the_results_stored_now(name):
    study = STUDIES[name]
    doc = load_figures(study)
    assert doc is not None, f"no stored figures for {name}: run `python -m fleetsim.tools.figures run {name}`"
    assert sorted(doc["scenarios"]) == sorted(study.scenarios)
    assert doc["digests"] is not None
    assert doc["digests"] == digest_fingerprint(study.scenarios, doc["cpu_class"]), (
        f"{name}'s results moved since its figures were made: "
        f"run `python -m fleetsim.tools.figures run {name}` in the same commit as the new digests")


def test_studies_run_shipped_scenarios_only():
    shipped = {key_of(p) for p in shipped_scenarios()}
    for study in STUDIES.values():
        assert set(study.scenarios) <= shipped, study.name


def test_readme_blocks_are_what_the_stored_figures_render():
    assert not stale_documents(), "run `python -m fleetsim.tools.figures render`"


def test_every_rendered_block_appears_in_a_document_and_every_marker_is_known():
    blocks = rendered_blocks()
    markers = {m["name"] for path in DOCUMENTS for m in BLOCK.finditer(path.read_text(encoding="utf-8"))}
    assert markers == set(blocks)


def test_render_replaces_only_the_marked_body():
    text = "a\n<!-- figures: x.y -->\nold\n<!-- /figures -->\nb\n"
    assert render_document(text, {"x.y": "new"}) == "a\n<!-- figures: x.y -->\nnew\n<!-- /figures -->\nb\n"
    assert render_document(text, {}) == text
