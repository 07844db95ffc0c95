"""The documentation site builds with ``mkdocs build --strict`` (no broken link, no page
left out of the nav, every API reference resolved); its how-to scenario is valid; the
README links only to pages that exist."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml

import fleetsim
from tests.conftest import ROOT

DOCS = ROOT / "docs"


def _nav_pages(nav) -> set[str]:
    pages = set()
    for entry in nav:
        for value in entry.values() if isinstance(entry, dict) else [entry]:
            pages |= _nav_pages(value) if isinstance(value, list) else {value}
    return pages


@pytest.mark.slow
def test_site_builds_strict(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "index.html").is_file()
    api = (tmp_path / "api.html").read_text(encoding="utf-8")
    for name in ("fleetsim.run", "fleetsim.load_scenario", "fleetsim.predict", "run_sweep"):
        assert name in api, f"the API page lacks {name}"
    studies = (tmp_path / "studies.html").read_text(encoding="utf-8")
    assert "Where to train" in studies and "readme:" not in studies


def test_every_page_is_in_the_nav():
    config = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert pages == _nav_pages(config["nav"])


def test_readme_links_exist():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = [t.split("#")[0] for t in re.findall(r"\]\(([^)\s]+)\)", readme) if "://" not in t]
    assert targets, "the README links to the site's pages"
    assert [t for t in targets if not (ROOT / t).exists()] == []


def test_howto_scenario_is_valid(tmp_path):
    page = (DOCS / "howto-scenario.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", page, re.S) if b.startswith("name:"))
    path = tmp_path / "my_fleet.yaml"
    path.write_text(block, encoding="utf-8")
    scenario = fleetsim.load_scenario(path)
    assert scenario.fleet.groups[0].accelerator == "coral_usb"
