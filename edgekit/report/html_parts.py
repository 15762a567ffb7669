"""Pieces the HTML report's sections share: tables, times, time axes."""

from __future__ import annotations

from html import escape

from edgekit.timefmt import utc_strftime


def when(t_s: float | None) -> str:
    return "–" if t_s is None else utc_strftime(t_s, "%Y-%m-%d %H:%M")


def table(headers: list[str], rows: list[list[str]], left: int = 1, cls: str = "") -> str:
    """Cells are HTML already (escape text before); the first ``left`` columns and the last are left-aligned."""
    head = "".join(f'<th class="{"l" if i < left else ""}">{escape(h)}</th>' for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td class="{"l" if i < left or i == len(r) - 1 else ""}">{c}</td>'
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def time_unit(span_s: float) -> tuple[str, float]:
    """A readable unit for a time axis spanning ``span_s`` seconds."""
    if span_s <= 120:
        return "seconds", 1.0
    if span_s <= 2 * 3600:
        return "minutes", 60.0
    if span_s <= 3 * 86400:
        return "hours", 3600.0
    return "days", 86400.0


def since(points: list[tuple[float, float]], t0: float, unit_s: float) -> list[tuple[float, float]]:
    return [((t - t0) / unit_s, y) for t, y in points]
