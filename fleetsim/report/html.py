"""HTML building blocks of a report: numbers, tables, notes, inline figures and the page.

Everything is inline (CSS, figures as base64 SVG data URIs), so the page is one file that
opens from file:// with no network.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from html import escape

import matplotlib.pyplot as plt

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1100px;
       padding: 0 1.5em 3em; color: #1d232a; line-height: 1.4; }
h1 { margin-bottom: 0.1em; } h2 { border-bottom: 2px solid #d0d7de; padding-bottom: 0.2em; margin-top: 2em; }
nav { font-size: 0.9em; margin: 0.5em 0 1em; } nav a { margin-right: 1em; }
table { border-collapse: collapse; margin: 0.6em 0 1em; font-size: 0.88em; }
th, td { border: 1px solid #d0d7de; padding: 0.25em 0.6em; }
th { background: #f3f5f7; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
p.note { background: #fff8e1; border-left: 4px solid #f0b429; padding: 0.4em 0.8em; font-size: 0.9em; }
figure { margin: 0.5em 0 1.2em; } figure img { max-width: 100%; height: auto; }
div.scroll { overflow-x: auto; }
figcaption { font-size: 0.85em; color: #57606a; }
"""


@dataclass(frozen=True)
class Section:
    """One titled part of a page; ``anchor`` is its id, for the page's table of contents."""

    anchor: str
    title: str
    body: str


def plain(value: object, digits: int = 4) -> str:
    """A figure as text (tables, figure labels): integers with thousands separators, other
    numbers to ``digits`` significant digits (no exponent between 0.001 and 1e12), '-' for none."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) or float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    if value == 0 or 1e-3 <= abs(value) < 1e12:
        decimals = max(0, digits - 1 - math.floor(math.log10(abs(value)))) if value else 0
        return f"{value:,.{decimals}f}"
    return f"{value:.{digits}g}"


def number(value: object) -> str:
    """:func:`plain`, escaped for a page."""
    return escape(plain(value))


def cell(value: object, key: str | None = None) -> str:
    """A table cell; numbers right-aligned; ``key`` (a summary.json key) goes into data-key."""
    attrs = f' data-key="{escape(key)}"' if key else ""
    if isinstance(value, int | float) and not isinstance(value, bool) or value is None:
        return f'<td class="num"{attrs}>{number(value)}</td>'
    return f"<td{attrs}>{escape(str(value))}</td>"


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A table from header texts and rows of ready cells (see :func:`cell`)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(f"<tr>{''.join(row)}</tr>" for row in rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def note(text: str) -> str:
    """A highlighted remark: what the page cannot show, or how to read a figure."""
    return f'<p class="note">{escape(text)}</p>'


def paragraph(text: str) -> str:
    """Plain escaped text."""
    return f"<p>{escape(text)}</p>"


def figure(fig, caption: str) -> str:
    """``fig`` as an inline SVG image with a caption; closes the figure."""
    buffer = io.BytesIO()
    with plt.rc_context({"svg.hashsalt": "fleetsim", "svg.fonttype": "path"}):
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (f'<figure><img alt="{escape(caption)}" src="data:image/svg+xml;base64,{data}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>")


def page(title: str, subtitle: str, sections: list[Section]) -> str:
    """The whole HTML document: title, table of contents and sections."""
    nav = "".join(f'<a href="#{s.anchor}">{escape(s.title)}</a>' for s in sections)
    body = "".join(f'<section id="{s.anchor}"><h2>{escape(s.title)}</h2>{s.body}</section>' for s in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{CSS}</style></head><body><h1>{escape(title)}</h1><p>{escape(subtitle)}</p>"
            f"<nav>{nav}</nav>{body}</body></html>\n")
