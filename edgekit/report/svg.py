"""Small, dependency-free SVG charts for the offline HTML report.

Every chart is a string of inline SVG: the report opens without a network,
a CDN or a JavaScript library. Axes are linear; ticks are "nice" numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
W, H = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 150, 30, 44


@dataclass(frozen=True)
class Series:
    label: str
    points: list[tuple[float, float]]


@dataclass(frozen=True)
class Line:
    """A horizontal reference line, e.g. a power budget or a thermal limit."""

    label: str
    y: float


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0]
    if hi <= lo:  # a single value: centre it in a small range
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks, v = [], start
    while v <= hi + step * 1e-9:
        ticks.append(round(v, 10))
        v += step
    if ticks[-1] < hi:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1e4 else f"{v:.2e}"


class _Frame:
    def __init__(self, xs: list[float], ys: list[float], x_from_zero=False, y_from_zero=True):
        xlo, xhi = (min(xs), max(xs)) if xs else (0.0, 1.0)
        ylo, yhi = (min(ys), max(ys)) if ys else (0.0, 1.0)
        if x_from_zero:
            xlo = min(0.0, xlo)
        if y_from_zero:
            ylo = min(0.0, ylo)
        self.xt = nice_ticks(xlo, xhi)
        self.yt = nice_ticks(ylo, yhi)
        self.x0, self.x1 = self.xt[0], self.xt[-1]
        self.y0, self.y1 = self.yt[0], self.yt[-1]

    def px(self, x: float) -> float:
        return LEFT + (x - self.x0) / ((self.x1 - self.x0) or 1) * (W - LEFT - RIGHT)

    def py(self, y: float) -> float:
        return H - BOTTOM - (y - self.y0) / ((self.y1 - self.y0) or 1) * (H - TOP - BOTTOM)

    def axes(self, title: str, x_label: str, y_label: str, x_tick_fmt=_fmt) -> list[str]:
        out = [f'<text x="{W / 2}" y="18" text-anchor="middle" class="title">{escape(title)}</text>']
        for t in self.yt:
            y = self.py(t)
            out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
            out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
        for t in self.xt:
            x = self.px(t)
            out.append(f'<text x="{x:.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">{escape(x_tick_fmt(t))}</text>')
        out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{H - BOTTOM}" y2="{H - BOTTOM}" class="axis"/>')
        out.append(f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{H - BOTTOM}" class="axis"/>')
        out.append(f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - 6}" text-anchor="middle">{escape(x_label)}</text>')
        out.append(f'<text transform="translate(14,{(TOP + H - BOTTOM) / 2}) rotate(-90)" '
                   f'text-anchor="middle">{escape(y_label)}</text>')
        return out


def _value_axis(f: "_Frame", title: str, y_label: str) -> list[str]:
    """Title, horizontal grid lines and the y axis of a chart whose x axis is categories (bars, boxes)."""
    body = [f'<text x="{W / 2}" y="18" text-anchor="middle" class="title">{escape(title)}</text>']
    for t in f.yt:
        y = f.py(t)
        body.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        body.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    body.append(f'<text transform="translate(14,{(TOP + H - BOTTOM) / 2}) rotate(-90)" '
                f'text-anchor="middle">{escape(y_label)}</text>')
    return body


def _legend(entries: list[tuple[str, str, str]]) -> list[str]:
    out = []
    for i, (label, color, kind) in enumerate(entries):
        y = TOP + 14 * i
        dash = ' stroke-dasharray="5,3"' if kind == "dash" else ""
        out.append(f'<line x1="{W - RIGHT + 8}" x2="{W - RIGHT + 24}" y1="{y}" y2="{y}" stroke="{color}" '
                   f'stroke-width="2"{dash}/>')
        out.append(f'<text x="{W - RIGHT + 28}" y="{y + 4}" class="legend">{escape(label[:22])}</text>')
    return out


def _svg(body: list[str], kind: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
            f'class="chart" data-chart="{escape(kind)}" role="img">' + "".join(body) + "</svg>")


def line_chart(series: list[Series], *, title: str, x_label: str, y_label: str,
               lines: list[Line] = (), x_tick_fmt=_fmt) -> str:
    xs = [x for s in series for x, _ in s.points]
    ys = [y for s in series for _, y in s.points] + [ln.y for ln in lines]
    f = _Frame(xs, ys)
    body = f.axes(title, x_label, y_label, x_tick_fmt)
    legend = []
    for i, s in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        pts = " ".join(f"{f.px(x):.1f},{f.py(y):.1f}" for x, y in sorted(s.points))
        body.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="1.5" class="series"/>')
        legend.append((s.label, color, "solid"))
    for ln in lines:
        y = f.py(ln.y)
        body.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#444" '
                    f'stroke-dasharray="5,3" class="limit"/>')
        legend.append((f"{ln.label} {_fmt(ln.y)}", "#444", "dash"))
    if not xs:
        body.append(f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle">no data in this period</text>')
    return _svg(body + _legend(legend), "line")


def bar_chart(bars: list[tuple[str, float]], *, title: str, y_label: str, marks: dict[str, str] | None = None) -> str:
    """Vertical bars; ``marks`` adds a note under a bar (e.g. "estimate")."""
    marks = marks or {}
    f = _Frame([0.0, float(max(len(bars), 1))], [v for _, v in bars] or [0.0])
    body = _value_axis(f, title, y_label)
    slot = (W - LEFT - RIGHT) / max(len(bars), 1)
    for i, (label, v) in enumerate(bars):
        x = LEFT + i * slot + slot * 0.15
        y = f.py(v)
        color = "#bbb" if label in marks else PALETTE[i % len(PALETTE)]
        body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{f.py(f.y0) - y:.1f}" '
                    f'fill="{color}" class="bar"><title>{escape(label)}: {_fmt(v)}</title></rect>')
        body.append(f'<text x="{x + slot * 0.35:.1f}" y="{H - BOTTOM + 14}" text-anchor="middle" '
                    f'class="small">{escape(label[:32])}</text>')
        if label in marks:
            body.append(f'<text x="{x + slot * 0.35:.1f}" y="{H - BOTTOM + 26}" text-anchor="middle" '
                        f'class="small">{escape(marks[label])}</text>')
    if not bars:
        body.append(f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle">no data in this period</text>')
    return _svg(body, "bar")


def pareto_front(points: list[tuple[str, float, float]]) -> list[tuple[str, float, float]]:
    """Points not dominated on (x, y), both minimised; sorted by x."""
    front, best_y = [], math.inf
    for label, x, y in sorted(points, key=lambda p: (p[1], p[2])):
        if y < best_y:
            front.append((label, x, y))
            best_y = y
    return front


def scatter_pareto(points: list[tuple[str, float, float]], *, title: str, x_label: str, y_label: str) -> str:
    # 10 % headroom so no point sits on the frame's edge
    f = _Frame([p[1] * 1.1 for p in points], [p[2] * 1.1 for p in points], x_from_zero=True)
    body = f.axes(title, x_label, y_label)
    front = pareto_front(points)
    if len(front) > 1:
        pts = " ".join(f"{f.px(x):.1f},{f.py(y):.1f}" for _, x, y in front)
        body.append(f'<polyline points="{pts}" fill="none" stroke="#d62728" stroke-dasharray="4,2" class="front"/>')
    on_front = {p[0] for p in front}
    for i, (label, x, y) in enumerate(points):
        color = "#d62728" if label in on_front else "#1f77b4"
        body.append(f'<circle cx="{f.px(x):.1f}" cy="{f.py(y):.1f}" r="4" fill="{color}" class="point">'
                    f'<title>{escape(label)}: {_fmt(x)}, {_fmt(y)}</title></circle>')
        body.append(f'<text x="{f.px(x) + 6:.1f}" y="{f.py(y) - 6:.1f}" class="small">{escape(label[:28])}</text>')
    if not points:
        body.append(f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle">no data in this period</text>')
    return _svg(body + _legend([("Pareto front", "#d62728", "dash")] if front else []), "scatter")


def linear_trend(values: list[float]) -> list[float] | None:
    """Least-squares line through ``values`` at x = 0, 1, 2, ...; None for fewer than two values."""
    n = len(values)
    if n < 2:
        return None
    mx, my = (n - 1) / 2, sum(values) / n
    slope = sum((i - mx) * (v - my) for i, v in enumerate(values)) / sum((i - mx) ** 2 for i in range(n))
    return [my + slope * (i - mx) for i in range(n)]


def stacked_bars(columns: list[tuple[str, dict[str, float]]], *, title: str, y_label: str, trend: bool = True) -> str:
    """One bar per column (e.g. a day), stacked by key (e.g. a target); a dashed least-squares trend of the totals."""
    keys = sorted({k for _, stack in columns for k in stack})
    totals = [sum(stack.values()) for _, stack in columns]
    f = _Frame([0.0, float(max(len(columns), 1))], totals or [0.0])
    body = _value_axis(f, title, y_label)
    slot = (W - LEFT - RIGHT) / max(len(columns), 1)
    label_every = max(1, len(columns) // 12)
    for i, (label, stack) in enumerate(columns):
        x, base = LEFT + i * slot + slot * 0.15, 0.0
        for k in keys:
            v = stack.get(k, 0.0)
            if v <= 0:
                continue
            y_top, y_bottom = f.py(base + v), f.py(base)
            body.append(f'<rect x="{x:.1f}" y="{y_top:.1f}" width="{slot * 0.7:.1f}" height="{y_bottom - y_top:.1f}" '
                        f'fill="{PALETTE[keys.index(k) % len(PALETTE)]}" class="bar">'
                        f'<title>{escape(label)} {escape(k)}: {_fmt(v)}</title></rect>')
            base += v
        if i % label_every == 0:
            body.append(f'<text x="{x + slot * 0.35:.1f}" y="{H - BOTTOM + 14}" text-anchor="middle" '
                        f'class="small">{escape(label[:12])}</text>')
    legend = [(k, PALETTE[i % len(PALETTE)], "solid") for i, k in enumerate(keys)]
    line = linear_trend(totals) if trend else None
    if line is not None:
        pts = " ".join(f"{LEFT + (i + 0.5) * slot:.1f},{f.py(v):.1f}" for i, v in enumerate(line))
        body.append(f'<polyline points="{pts}" fill="none" stroke="#444" stroke-dasharray="5,3" class="trend"/>')
        legend.append(("trend", "#444", "dash"))
    if not columns:
        body.append(f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle">no data in this period</text>')
    return _svg(body + _legend(legend), "stacked")


def quartiles(values: list[float]) -> tuple[float, float, float, float, float]:
    """(min, lower quartile, median, upper quartile, max), quartiles by linear interpolation."""
    v = sorted(values)

    def at(p: float) -> float:
        k = (len(v) - 1) * p
        lo = math.floor(k)
        hi = min(lo + 1, len(v) - 1)
        return v[lo] + (v[hi] - v[lo]) * (k - lo)

    return v[0], at(0.25), at(0.5), at(0.75), v[-1]


def box_plot(groups: list[tuple[str, list[float], float | None]], *, title: str, y_label: str) -> str:
    """One box per group (min, quartiles, max of its values) and its limit as a dashed tick, e.g. a budget."""
    groups = [g for g in groups if g[1]]
    ys = [y for _, vals, lim in groups for y in vals + ([lim] if lim is not None else [])]
    f = _Frame([0.0, float(max(len(groups), 1))], ys or [0.0])
    body = _value_axis(f, title, y_label)
    slot = (W - LEFT - RIGHT) / max(len(groups), 1)
    for i, (label, vals, limit) in enumerate(groups):
        lo, q1, med, q3, hi = quartiles(vals)
        cx, half = LEFT + (i + 0.5) * slot, slot * 0.25
        color = PALETTE[i % len(PALETTE)]
        over = sum(1 for v in vals if limit is not None and v > limit)
        tip = (f"{label}: {len(vals)} devices, min {_fmt(lo)}, median {_fmt(med)}, max {_fmt(hi)}"
               + (f", {over} over {_fmt(limit)}" if limit is not None else ""))
        body.append(f'<g class="box"><title>{escape(tip)}</title>'
                    f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{f.py(hi):.1f}" y2="{f.py(lo):.1f}" stroke="{color}"/>'
                    f'<rect x="{cx - half:.1f}" y="{f.py(q3):.1f}" width="{2 * half:.1f}" '
                    f'height="{max(f.py(q1) - f.py(q3), 1):.1f}" fill="#fff" stroke="{color}" stroke-width="1.5"/>'
                    f'<line x1="{cx - half:.1f}" x2="{cx + half:.1f}" y1="{f.py(med):.1f}" y2="{f.py(med):.1f}" '
                    f'stroke="{color}" stroke-width="2"/></g>')
        if limit is not None:
            body.append(f'<line x1="{cx - slot * 0.4:.1f}" x2="{cx + slot * 0.4:.1f}" y1="{f.py(limit):.1f}" '
                        f'y2="{f.py(limit):.1f}" stroke="#b00020" stroke-dasharray="5,3" class="limit"/>')
        body.append(f'<text x="{cx:.1f}" y="{H - BOTTOM + 14}" text-anchor="middle" class="small">'
                    f'{escape(label[:20])}</text>')
        body.append(f'<text x="{cx:.1f}" y="{H - BOTTOM + 26}" text-anchor="middle" class="small">n={len(vals)}'
                    f'{f", {over} over" if limit is not None else ""}</text>')
    legend = [("budget", "#b00020", "dash")] if any(g[2] is not None for g in groups) else []
    if not groups:
        body.append(f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle">no data in this period</text>')
    return _svg(body + _legend(legend), "box")
