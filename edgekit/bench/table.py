"""The human-readable table of a result document: every energy figure carries how it was measured."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from edgekit.bench.provenance import is_emulated


def _f(x, fmt: str = ".3f", unit: str = "") -> str:
    return "—" if x is None else f"{x:{fmt}}{unit}"


def provenance(doc: dict) -> str:
    """'<source> (<scope>), <hz> Hz x <n> samples, <method>; <validity>' — the label every energy figure gets."""
    p, e, v = doc.get("power"), doc.get("energy"), doc["validity"]
    if p is None:
        return "no power sensor"
    est = "ESTIMATE " if p["estimated"] else ""
    method = e["method"] if e else "—"
    bad = [f["code"] for f in v["flags"] if f["severity"] == "invalid"]
    verdict = "valid" if v["energy_valid"] else f"NOT VALID: {', '.join(bad) or 'no energy'}"
    hz = p.get("achieved_hz") or p["sample_hz"]
    return f"{est}{p['source']} ({p['scope']}), {hz:.1f} Hz × {p['samples']} samples, {method}; {verdict}"


def result_table(doc: dict) -> Table:
    art, rt, lat = doc["artifact"], doc["runtime"], doc["latency"]
    t = Table(title=f"edgekit bench — {art['path']}", show_lines=False)
    t.add_column("metric")
    t.add_column("value", justify="right")
    t.add_column("how it was measured")
    timing = f"{lat.get('source', 'edgekit')} timer, {lat['count']} inferences in {lat['window_s']:.1f} s, warm-up excluded"
    if is_emulated(doc):
        timing = f"EMULATED (qemu-user on this host), NOT the device's latency; {timing}"
    t.add_row("runtime", f"{rt['name']} {rt['version']}", "providers that ran: " + ", ".join(rt["providers"]))
    t.add_row("first inference", _f(lat["first_inference_ms"], ".2f", " ms"), "first call after load, not in the stats")
    for key, label in (("mean_ms", "latency mean"), ("std_ms", "latency std"), ("min_ms", "latency min"),
                       ("p50_ms", "latency p50"), ("p90_ms", "latency p90"), ("p99_ms", "latency p99"),
                       ("max_ms", "latency max")):
        t.add_row(label, _f(lat[key], ".3f", " ms"), timing if key == "mean_ms" else "〃")
    t.add_row("throughput", _f(lat["throughput_ips"], ".1f", " inf/s"), "inferences / window (idle gaps included)")
    if doc.get("rate"):
        r = doc["rate"]
        t.add_row("fixed rate", _f(r["rate_hz"], ".2f", " Hz"),
                  f"{r['missed_deadlines']} missed deadlines, {r['dropped_arrivals']} dropped arrivals")
    p, e = doc.get("power"), doc.get("energy")
    prov = provenance(doc)
    if p is not None:
        t.add_row("power idle", _f(p["idle_w"], ".3f", " W"),
                  f"mean of idle before/after ({_f(p['idle_before_w'])} / {_f(p['idle_after_w'])} W); {prov}")
        t.add_row("power avg", _f(p["avg_w"], ".3f", " W"), prov)
        t.add_row("power peak", _f(p["peak_w"], ".3f", " W"), f"highest sample; {prov}")
    if e is not None:
        t.add_row("energy / inference", f"{_f(e['total_mj_per_inference'], '.4f')} ± "
                  f"{_f(e['uncertainty_mj_per_inference'], '.4f')} mJ", prov)
        t.add_row("net energy / inference", f"{_f(e['net_mj_per_inference'], '.4f')} ± "
                  f"{_f(e['net_uncertainty_mj_per_inference'], '.4f')} mJ", f"above idle; {prov}")
    th = doc.get("thermal")
    if th is not None:
        names = ", ".join(z["name"] for z in th["zones"][:6]) + ("…" if len(th["zones"]) > 6 else "")
        t.add_row("temperature max / end", f"{_f(th['max_temp_c'], '.1f')} / {_f(th['end_temp_c'], '.1f')} °C",
                  f"{len(th['zones'])} zones ({names}), {th['snapshots']} snapshots")
        t.add_row("throttled", "yes" if th["throttled"] else "no", "; ".join(th["reasons"]) or "no throttling signal")
    b = doc.get("battery")
    if b is not None:
        bprov = f"{b['method']}; {prov}"
        t.add_row("battery drain", f"{_f(b['drain_pct_per_h'], '.2f')} %/h, {_f(b['drain_mah'], '.3f')} mAh", bprov)
        t.add_row("mAh / 1,000 inferences", _f(b["mah_per_1000_inferences"], ".4f"), bprov)
        t.add_row("projected battery life", _f(b["projected_life_h"], ".1f", " h"), bprov)
    return t


def print_result(doc: dict, console: Console | None = None) -> None:
    console = console or Console()
    console.print(result_table(doc))
    for f in doc["validity"]["flags"]:
        style = "bold red" if f["severity"] == "invalid" else "yellow"
        console.print(f"[{style}]{f['severity']}[/]: {f['code']}: {f['message']}", highlight=False)
