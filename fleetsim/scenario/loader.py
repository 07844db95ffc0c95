"""Load a scenario file: YAML, then schema, then references, with located errors."""

from __future__ import annotations

from pathlib import Path

from fleetsim.errors import Issue, ScenarioError
from fleetsim.scenario.model_file import variant_problems
from fleetsim.scenario.models import Scenario
from fleetsim.scenario.references import check_references
from fleetsim.scenario.validation import dotted, validate_document
from fleetsim.scenario.yamlfile import read_yaml


def load_scenario(path: str | Path, catalog) -> Scenario:
    """Read, validate and cross-check ``path`` (its groups' detector model files too); raise ScenarioError
    listing every issue."""
    doc = read_yaml(path)
    scenario = validate_document(Scenario, doc)
    problems = check_references(scenario, catalog)
    if not problems:
        problems = variant_problems(scenario, Path(path).parent)
    if problems:
        raise ScenarioError([Issue(doc.file, doc.line_of(p), dotted(p), m) for p, m in problems])
    return scenario


def require_valid(scenario: Scenario, catalog, origin: str = "<scenario>") -> None:
    """Cross-check a scenario built in Python; raise ScenarioError on problems."""
    problems = check_references(scenario, catalog)
    if problems:
        raise ScenarioError([Issue(origin, None, dotted(p), m) for p, m in problems])
