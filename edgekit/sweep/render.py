"""The sweep's table, as rows (for the terminal and JSON) and as one self-contained HTML page with a Pareto plot.

Derived figures, each with its basis stated in the notes:
* gCO2e per million inferences: total energy per inference x 10^6 at the grid intensity of ``region``
  (an annual average from ``edgekit/data/grid_intensity.csv``: an estimate);
* battery life (battery targets only): the battery's energy (capacity x nominal voltage) over the average
  power of a duty cycle of ``duty_hz`` inferences per second: shared idle power + duty_hz x net energy.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from edgekit.report.carbon import grams_co2e, grid_intensity
from edgekit.sweep.choose import Floors, Recommendation, accuracy_drop, energy_basis, pareto_front, recommend, \
    reference_accuracy
from edgekit.sweep.run import SweepResult

DEFAULT_DUTY_HZ = 1.0


@dataclass(frozen=True)
class Table:
    rows: list[dict]
    recommendation: Recommendation
    notes: list[str]

    def to_json(self) -> dict:
        r = self.recommendation
        return {"rows": self.rows, "notes": self.notes,
                "recommendation": {"variant": r.choice.key if r.choice else None,
                                   "runner_up": r.runner_up.key if r.runner_up else None,
                                   "energy_basis": r.energy_basis, "margin_mj": r.margin_mj,
                                   "margin_frac": r.margin_frac, "significant": r.significant,
                                   "excluded": r.excluded, "text": r.text}}


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(float(x), nd)


def build_table(sweep: SweepResult, floors: Floors, *, region: str = "WORLD", duty_hz: float = DEFAULT_DUTY_HZ) -> Table:
    variants = sweep.variants
    rec = recommend(variants, floors)
    front = pareto_front(variants)
    ref = reference_accuracy(variants)
    intensity = grid_intensity(region)
    t = sweep.target
    battery_wh = (t.battery_capacity_mah * t.battery_voltage_v / 1000.0
                  if t.battery_capacity_mah and t.battery_voltage_v else None)
    rows = []
    for v in variants:
        drop, how = accuracy_drop(v, ref)
        row = {"variant": v.key, "model": v.model, "precision": v.precision, "size_bytes": v.size_bytes,
               "gate": "passed" if v.gate_passed else "failed", "gate_reason": v.gate_reason or None,
               "accuracy": _r(v.accuracy), "agreement": _r(v.agreement),
               "accuracy_drop_pts": _r(drop, 2), "accuracy_drop_kind": how,
               "p50_ms": _r(v.p50_ms), "p99_ms": _r(v.p99_ms),
               "energy_total_mj": _r(v.energy_total_mj, 5), "energy_net_mj": _r(v.energy_net_mj, 5),
               "energy_uncertainty_mj": _r(v.energy_uncertainty_mj, 5),
               "gco2e_per_million": _r(grams_co2e(v.energy_total_mj * 1e3, intensity), 4)
               if v.energy_total_mj is not None else None,
               "battery_life_h": None, "pareto": v.key in front,
               "recommended": rec.choice is not None and v.key == rec.choice.key,
               "meets_floors": v.key not in rec.excluded, "why_not": rec.excluded.get(v.key)}
        if battery_wh and v.energy_net_mj is not None and sweep.idle_w is not None:
            avg_w = sweep.idle_w + duty_hz * v.energy_net_mj / 1000.0
            row["battery_life_h"] = _r(battery_wh / avg_w, 2)
        rows.append(row)
    order = " | ".join(" ".join(o) for o in sweep.order) or "nothing measured"
    notes = [
        f"energy: {sweep.provenance}; ranked on {energy_basis([v for v in variants if v.measured])} energy per "
        f"inference; shared idle baseline {sweep.idle_w:.3f} W from {sweep.idle_samples} idle windows"
        if sweep.idle_w is not None else f"energy: {sweep.provenance}",
        f"measured in {sweep.rounds} rounds, order reversed every other round: {order}; p50 = median of the "
        f"rounds' p50, p99 = the largest round p99, energy = mean over rounds",
        "accuracy: measured on labelled eval data, drop from the best fp32 model" if ref is not None else
        "accuracy NOT measured (no labels): 'agreement' is top-1 agreement with each model's own fp32, and the "
        "drop shown is its bound (share of changed predictions)",
        f"carbon: total energy x {intensity.label}",
    ]
    if battery_wh:
        notes.append(f"battery life: {battery_wh:.1f} Wh ({t.battery_capacity_mah:g} mAh x {t.battery_voltage_v:g} V) "
                     f"at {duty_hz:g} inference/s on top of the idle baseline")
    else:
        notes.append(f"battery life: not shown, {t.name} has no battery in its profile")
    return Table(rows, rec, notes)


COLUMNS = (("variant", "variant"), ("size KB", "size_bytes"), ("gate", "gate"), ("acc", "accuracy"),
           ("agree", "agreement"), ("drop pts", "accuracy_drop_pts"), ("p50 ms", "p50_ms"), ("p99 ms", "p99_ms"),
           ("mJ total", "energy_total_mj"), ("mJ net", "energy_net_mj"), ("± mJ", "energy_uncertainty_mj"),
           ("gCO2e/M", "gco2e_per_million"), ("battery h", "battery_life_h"), ("", "mark"))


def _cell(row: dict, key: str) -> str:
    if key == "mark":
        return ("RECOMMENDED " if row["recommended"] else "") + ("pareto" if row["pareto"] else "")
    v = row.get(key)
    if v is None:
        return "—"
    if key == "size_bytes":
        return f"{v / 1024:.1f}"
    if key == "accuracy_drop_pts" and row["accuracy_drop_kind"] == "bound":
        return f"≤{v:g}"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def text_lines(table: Table) -> list[str]:
    cells = [[h for h, _ in COLUMNS]] + [[_cell(r, k) for _, k in COLUMNS] for r in table.rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    for r in table.rows:
        if r["why_not"]:
            lines.append(f"  {r['variant']}: {r['why_not']}")
    lines.append(f"recommended: {table.recommendation.text}")
    return lines + [f"note: {n}" for n in table.notes]


def _svg(rows: list[dict]) -> str:
    pts = [r for r in rows if r["energy_total_mj"] is not None]
    if not pts:
        return "<p>no energy figures to plot</p>"
    e = [r["energy_net_mj"] if r["energy_net_mj"] is not None else r["energy_total_mj"] for r in pts]
    d = [r["accuracy_drop_pts"] or 0.0 for r in pts]
    lo_e, hi_e, hi_d = min(e), max(e), max(max(d), 0.01)
    span = (hi_e - lo_e) or abs(hi_e) or 1.0
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="560" height="320" role="img">',
           '<rect x="60" y="10" width="480" height="260" fill="none" stroke="#888"/>',
           '<text x="300" y="305" text-anchor="middle">energy per inference, mJ (lower is better)</text>',
           '<text x="15" y="140" transform="rotate(-90 15 140)" text-anchor="middle">accuracy drop, pts</text>']
    for r, x_e, y_d in zip(pts, e, d):
        x = 70 + 460 * (x_e - lo_e) / span
        y = 260 - 240 * (y_d / hi_d)
        colour = "#c0392b" if r["recommended"] else ("#2471a3" if r["pareto"] else "#999")
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="6" fill="{colour}"><title>{html.escape(r["variant"])}'
                   f'</title></circle><text x="{x + 8:.1f}" y="{y - 8:.1f}" font-size="11">'
                   f'{html.escape(r["variant"])}</text>')
    out.append("</svg>")
    return "".join(out)


def html_page(table: Table, title: str) -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h, _ in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{e(_cell(r, k))}</td>" for _, k in COLUMNS) + "</tr>" for r in table.rows)
    notes = "".join(f"<li>{e(n)}</li>" for n in table.notes)
    why = "".join(f"<li>{e(r['variant'])}: {e(r['why_not'])}</li>" for r in table.rows if r["why_not"])
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>"
            "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
            "padding:3px 8px;text-align:right}</style></head><body>"
            f"<h1>{e(title)}</h1><p><b>Recommended:</b> {e(table.recommendation.text)}</p>"
            f"{_svg(table.rows)}<p>blue: Pareto front (energy, accuracy, p99); red: recommended</p>"
            f"<table><tr>{head}</tr>{body}</table><ul>{why}</ul><h2>Notes</h2><ul>{notes}</ul></body></html>")
