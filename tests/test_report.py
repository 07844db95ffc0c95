"""HTML reports: ``fleetsim report`` and ``fleetsim compare`` on real saved runs.

Two runs are made once for the module through ``fleetsim run``: the placement scenario
(onboard, MEC and cloud groups, so network legs; its report written by ``run``) and a small
retraining run whose one model is deployed (outputs.plots false, so ``run`` writes no report
and ``fleetsim report`` writes it).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from fleetsim.cli import app
from fleetsim.metrics.ledger import N_BINS, histogram_bin, histogram_quantile
from fleetsim.report.summary import lookup
from fleetsim.runfolder import scenario_sha256, seal
from tests.conftest import ROOT, small_scenario_data, with_overrides

runner = CliRunner()
SECTIONS = ("summary", "latency-breakdown", "latency-cdf", "energy", "accuracy", "network")


def _run(scenario: Path, out: Path) -> str:
    result = runner.invoke(app, ["run", str(scenario), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def placement(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "place"
    _run(ROOT / "scenarios" / "placement_edge_vs_cloud.yaml", out)
    return out


@pytest.fixture(scope="module")
def retraining(tmp_path_factory) -> Path:
    data = with_overrides(small_scenario_data(), simulation__duration="6 min", outputs__frame_table=False,
                          cloud__retraining={"kind": "periodic", "interval": "3 min", "cluster": "gpus",
                                             "min_samples": 5})
    data["cloud"]["fine_tune"] = {"max_samples": 64, "validation_frames": 40, "min_gain": -1}
    folder = tmp_path_factory.mktemp("runs")
    (folder / "small.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    said = _run(folder / "small.yaml", folder / "small")
    assert not (folder / "small" / "report.html").exists() and "fleetsim report" in said
    result = runner.invoke(app, ["report", str(folder / "small")])
    assert result.exit_code == 0 and (folder / "small" / "report.html").is_file(), result.output
    return folder / "small"


class _Page(HTMLParser):
    """Section ids, image sources, link targets and the texts of data-key cells of a page."""

    def __init__(self, text: str):
        super().__init__()
        self.ids: list[str] = []
        self.sources: list[str] = []
        self.links: list[str] = []
        self.keyed: dict[str, list[str]] = {}
        self._key: str | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.ids.append(a["id"])
        for name in ("src", "href"):
            if name in a:
                (self.sources if name == "src" else self.links).append(a[name])
        self._key = a.get("data-key") if tag == "td" else None
        if self._key is not None:
            self.keyed.setdefault(self._key, []).append("")

    def handle_data(self, data):
        if self._key is not None:
            self.keyed[self._key][-1] += data

    def handle_endtag(self, tag):
        if tag == "td":
            self._key = None


def _page(path: Path) -> _Page:
    return _Page(path.read_text(encoding="utf-8"))


def _as_float(text: str) -> float:
    return float(text.replace(",", "").replace("≤", "").strip())


def test_run_writes_a_self_contained_report(placement):
    report = placement / "report.html"
    text = report.read_text(encoding="utf-8")
    page = _Page(text)
    assert page.sources and all(s.startswith("data:image/svg+xml;base64,") for s in page.sources)
    assert all(link.startswith("#") for link in page.links)
    assert not re.search(r"""(src|href|url)\s*[=(]\s*["']?\s*(https?:|//)""", text, re.IGNORECASE)
    assert "<script" not in text and "<link" not in text and "@import" not in text
    assert list(page.ids) == list(SECTIONS)


def test_every_section_has_its_figures_and_tables(placement):
    text = (placement / "report.html").read_text(encoding="utf-8")
    bodies = dict(re.findall(r'<section id="([a-z-]+)">(.*?)</section>', text, re.DOTALL))
    assert set(bodies) == set(SECTIONS)
    for anchor in SECTIONS:
        assert "<table>" in bodies[anchor] or anchor == "accuracy", anchor
        assert "<img" in bodies[anchor] or anchor == "summary", anchor
    for leg in ("send queue", "uplink (frame)", "remote queue", "downlink (detections)"):
        assert leg in bodies["latency-breakdown"]
    assert "exposure and the ISP" in bodies["latency-breakdown"]  # said to be not modelled, not invented


def test_numbers_on_the_page_are_the_summary_and_tables(placement):
    summary = json.loads((placement / "summary.json").read_text())
    legs = pd.read_parquet(placement / "tables" / "latency_legs.parquet").set_index(["group", "leg"])
    keyed = _page(placement / "report.html").keyed
    checked = 0
    for key, text in ((k, t) for k, texts in keyed.items() for t in texts):
        if text.strip() == "-":
            continue
        if key.startswith("latency_legs."):
            _, group, leg, stat = key.split(".")
            expected = legs.loc[(group, leg), f"{stat}_s"] * 1e3
            if text.startswith("≤"):
                assert expected <= _as_float(text)
                continue
        else:
            expected = lookup(summary, key)
            if isinstance(expected, str):
                assert text == expected
                continue
        assert _as_float(text) == pytest.approx(expected, rel=1e-3, abs=1e-9), key
        checked += 1
    assert checked > 100
    assert _as_float(keyed["latency_ms.p99"][0]) == pytest.approx(summary["latency_ms"]["p99"], rel=1e-3)
    assert _as_float(keyed["groups.mec.energy.radio_j"][0]) == pytest.approx(
        summary["groups"]["mec"]["energy"]["radio_j"], rel=1e-3)


def test_latency_histogram_round_trips(placement):
    summary = json.loads((placement / "summary.json").read_text())
    histogram = pd.read_parquet(placement / "tables" / "latency_histogram.parquet")
    total = histogram[histogram["leg"] == "total"]
    legs = pd.read_parquet(placement / "tables" / "latency_legs.parquet")
    for group, figures in summary["groups"].items():
        rows = total[total["group"] == group].sort_values("latency_low_s")
        assert rows["frames"].sum() == figures["frames"]["processed"]
        for leg in legs.loc[legs["group"] == group, "leg"]:
            part = histogram[(histogram["group"] == group) & (histogram["leg"] == leg)]
            assert part["frames"].sum() == figures["frames"]["processed"], (group, leg)
        # the bins hold the summary's percentiles: rebuild the dense histogram and ask it again
        dense = np.zeros(N_BINS, dtype=np.int64)
        middle = np.sqrt(rows["latency_low_s"] * rows["latency_high_s"]).to_numpy()
        dense[histogram_bin(middle)] = rows["frames"]
        # clamped as the summary clamps it: to the exact maximum, and to the exact minimum, which the
        # summary does not store; its p50 stands in (at or below p99's bin, or both are the minimum)
        p99 = histogram_quantile(dense, 0.99, low_s=figures["latency_ms"]["p50"] / 1e3,
                                 high_s=figures["latency_ms"]["max"] / 1e3)
        assert p99 * 1e3 == pytest.approx(figures["latency_ms"]["p99"], rel=1e-9)
        assert figures["latency_ms"]["p50"] <= figures["latency_ms"]["p99"] <= figures["latency_ms"]["max"]
    assert (total["latency_high_s"] > total["latency_low_s"]).all()


def test_retraining_report_marks_the_deployment(retraining):
    versions = pd.read_parquet(retraining / "tables" / "model_versions.parquet")
    assert versions["deployed"].any()
    text = (retraining / "report.html").read_text(encoding="utf-8")
    accuracy = re.search(r'<section id="accuracy">(.*?)</section>', text, re.DOTALL).group(1)
    assert "<h3>Model versions</h3>" in accuracy and "<img" in accuracy
    assert "No model version was released" not in accuracy


def test_compare_lists_both_runs(placement, retraining, tmp_path):
    out = tmp_path / "compare.html"
    result = runner.invoke(app, ["compare", str(placement), str(retraining), "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = _page(out)
    assert page.ids == ["summary", "latency-cdf", "energy", "accuracy"]
    assert len(page.sources) == 3 and all(s.startswith("data:") for s in page.sources)
    for folder in (placement, retraining):
        summary = json.loads((folder / "summary.json").read_text())
        shown, = page.keyed[f"{folder.name}/frames.generated"]
        assert _as_float(shown) == summary["frames"]["generated"]
        assert summary["run"]["scenario"] in out.read_text(encoding="utf-8")


@pytest.mark.parametrize("make", ["missing", "no_summary", "bad_json"])
def test_bad_run_folder_is_one_clear_error(tmp_path, make):
    folder = tmp_path / "run"
    if make != "missing":
        folder.mkdir()
    if make == "bad_json":
        (folder / "summary.json").write_text("{not json", encoding="utf-8")
    for args in (["report", str(folder)], ["compare", str(folder), str(folder)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert str(folder) in result.stderr and "Traceback" not in result.output
        assert len(result.stderr.strip().splitlines()) == 1
    assert not (folder / "report.html").exists()


def test_compare_needs_two_runs(placement):
    result = runner.invoke(app, ["compare", str(placement)])
    assert result.exit_code == 2 and "at least two" in result.stderr


def test_older_run_folder_gets_notes_not_a_traceback(placement, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(placement, old, ignore=shutil.ignore_patterns("report.html"))
    for name in ("latency_histogram", "vehicles", "accuracy_windows", "latency_legs"):
        (old / "tables" / f"{name}.parquet").unlink()
    summary = json.loads((old / "summary.json").read_text())
    del summary["energy"]["remote_inference_j"]
    (old / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    seal(old, scenario_sha256(old))  # complete as an older fleetsim wrote it, with fewer tables and keys
    result = runner.invoke(app, ["report", str(old), "--out", str(tmp_path / "page.html")])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "page.html").read_text(encoding="utf-8")
    assert _page(tmp_path / "page.html").ids == list(SECTIONS)
    for fragment in ("no latency_histogram table", "no latency_legs table", "No accuracy over time",
                     "no figure for remote inference"):
        assert fragment in text, fragment


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
BROWSER = [CHROMIUM or "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
VIEWPORT = 1280
MEASURE = """<script>window.addEventListener("load", () => {
  const cut = [...document.querySelectorAll("div.scroll")].filter(d => d.scrollWidth > d.clientWidth + 1)
    .map(d => d.closest("section").id);
  const images = [...document.querySelectorAll("img")]
    .filter(i => i.getBoundingClientRect().right > VIEWPORT).map(i => i.closest("section").id);
  const out = document.createElement("pre");
  out.id = "measured";
  out.textContent = JSON.stringify({width: document.documentElement.scrollWidth, cut, images});
  document.body.appendChild(out);
});</script>""".replace("VIEWPORT", str(VIEWPORT))


def _browser(*args: str, timeout: int = 120) -> str:
    assert CHROMIUM, "the report tests need Chromium (Debian: apt-get install chromium)"
    return subprocess.run([*BROWSER, *args], check=True, capture_output=True, text=True,
                          timeout=timeout).stdout


def _measured(page: Path, tmp_path: Path) -> dict:
    """Lay ``page`` out in Chromium at 1280 px: the document's width, and the sections whose
    tables scroll sideways or whose figures leave the window."""
    probe = tmp_path / f"measured_{page.name}"
    text = page.read_text(encoding="utf-8")
    probe.write_text(text.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    dom = _browser(f"--window-size={VIEWPORT},900", "--virtual-time-budget=10000", "--dump-dom",
                   probe.resolve().as_uri())
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom, re.DOTALL).group(1)
    return json.loads(found.replace("&quot;", '"'))


def test_page_renders_in_headless_chromium(placement, tmp_path):
    from PIL import Image

    url = (placement / "report.html").resolve().as_uri()
    shot = tmp_path / "page.png"
    _browser(f"--window-size={VIEWPORT},5000", f"--screenshot={shot}", url)
    dom = _browser("--dump-dom", url)
    assert [s for s in SECTIONS if f'id="{s}"' in dom] == list(SECTIONS)
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    assert (pixels.min(axis=1) < 250).mean() > 0.05  # not a blank page
    # matplotlib's first colour (tab:blue) fills bars and lines: the figures were drawn
    tab_blue = (np.abs(pixels - (31, 119, 180)).max(axis=1) < 12).sum()
    assert tab_blue > 2000


def test_report_and_comparison_fit_1280_px(placement, retraining, tmp_path):
    compare = tmp_path / "compare.html"
    result = runner.invoke(app, ["compare", str(placement), str(retraining), "--out", str(compare)])
    assert result.exit_code == 0, result.output
    for page in (placement / "report.html", retraining / "report.html", compare):
        measured = _measured(page, tmp_path)
        assert measured["width"] <= VIEWPORT, page  # no horizontal scrolling of the page
        assert measured["cut"] == [] and measured["images"] == [], (page, measured)  # nor of a table


def test_numbers_read_alike_with_units(placement, retraining):
    for folder in (placement, retraining):
        text = re.sub(r'src="data:[^"]+"', "", (folder / "report.html").read_text(encoding="utf-8"))
        assert not re.search(r"\d[eE][+-]\d", text)  # no 2.13e+03 beside 19.4
        assert "≤" not in text, text[text.find("≤") - 300:text.find("≤") + 50]  # a zero queue reads 0
        headers = re.findall(r"<th>(.*?)</th>", text)
        for unit in ("(ms)", "(J)", "(USD)", "(mJ)"):
            assert any(unit in h for h in headers), unit
        assert not any(re.search(r"\b(ms|J|s)$", h) for h in headers)  # units in brackets


def test_accelerator_and_host_apart(retraining):
    summary = json.loads((retraining / "summary.json").read_text())
    coral = summary["groups"]["coral"]
    assert coral["hardware"]["host_cpu"] == "rpi4_cpu"  # a vehicle's Coral USB is fed by a Pi, not a desktop
    assert 0 < coral["energy"]["host_j"] < coral["energy"]["edge_j"]
    assert summary["groups"]["rpi"]["energy"]["host_j"] == 0  # a CPU is its own host
    keyed = _page(retraining / "report.html").keyed
    shown = _as_float(keyed["groups.coral.energy.host_j"][0])
    assert shown == pytest.approx(coral["energy"]["host_j"], rel=1e-3)
    assert keyed["groups.coral.hardware.host_cpu"] == ["rpi4_cpu"]
    assert _as_float(keyed["groups.coral.hardware.host_usd"][0]) == coral["hardware"]["host_usd"]


def test_compare_notes_identical_lines(placement, tmp_path):
    again = tmp_path / "again"
    shutil.copytree(placement, again)
    out = tmp_path / "same.html"
    assert runner.invoke(app, ["compare", str(placement), str(again), "--out", str(out)]).exit_code == 0
    text = out.read_text(encoding="utf-8")
    assert "Identical latency CDFs" in text and f"{placement.name}: mec = again: mec" in text


def test_network_rates_keep_every_byte(placement):
    from fleetsim.report.network import rate_over_time

    uploads = pd.read_parquet(placement / "tables" / "uploads.parquet")
    duration = json.loads((placement / "summary.json").read_text())["run"]["sim_s"]
    edges = np.linspace(0.0, duration, 121)
    start, end = uploads["t_start_s"].to_numpy(), uploads["t_end_s"].to_numpy()
    rate = rate_over_time(start, end, uploads["wire_bytes"].to_numpy(), edges)
    assert (rate * np.diff(edges)).sum() / 8 == pytest.approx(uploads["wire_bytes"].sum(), rel=1e-9)
    instant = rate_over_time(start, start, uploads["wire_bytes"].to_numpy(), edges)
    assert (instant * np.diff(edges)).sum() / 8 == pytest.approx(uploads["wire_bytes"].sum(), rel=1e-9)
