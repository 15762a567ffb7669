"""How `edgekit fleet report` and `fleet status` scale with telemetry: a store filled with N devices × M rows.

The store is filled through its public write path (``store.run`` → ``Tx.store_batch``, the collector's
batch transaction, rollups included; no MQTT, no budget checks), in batches of 500 messages, time-major:
every device sends one 10 s telemetry window, then the next. Devices cycle through three targets, with
steady per-device power, temperature and a throttled window now and then. Then, for each size in
``--rows`` (ascending; the store grows from one size to the next), it times as subprocesses, best of
``--runs``:

- ``edgekit fleet report --db URL --json`` (stdout discarded),
- ``edgekit fleet report --db URL --html FILE`` (and the file's size),
- ``edgekit fleet status --db URL`` (the terminal summary),

and prints each size's figures and the growth ratio last size / first size. Goals (issue 13): at 10,000
devices and 1,000,000 rows, --json ≤ 3 s, --html ≤ 5 s and ≤ 2 MB; ten times the rows within 1.5× the time.

    python bench/bench_report.py [--db sqlite|postgres|URL] [--devices 10000] [--rows 1000000 3000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edgekit.fleet.collector.store import open_store  # noqa: E402
from edgekit.fleet.records import Message, TelemetryFigures, iso_utc  # noqa: E402

TARGETS = ("rpi5", "jetson-orin-nano", "rpi4")
WINDOW_S = 10.0
BATCH = 500
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


def telemetry_message(fleet: str, i: int, seq: int, t_s: float) -> Message:
    base_w = 2.0 + (i % 17) * 0.35
    power = base_w + 0.5 * math.sin(seq / 7.0 + i)
    fig = TelemetryFigures(window_s=WINDOW_S, power_w_avg=power, power_w_peak=power * 1.3, energy_j=power * WINDOW_S,
                           temp_c_max=45.0 + (i % 23) + 3 * math.sin(seq / 11.0), throttled=(seq + i) % 97 == 0,
                           battery_pct=None, battery_drain_pct_h=None, power_source="bench-fill", scope="board",
                           estimated=False)
    device = f"dev-{i:05d}"
    return Message(topic=f"edgekit/v1/{fleet}/{device}/telemetry", kind="telemetry", fleet=fleet, device_id=device,
                   message_id=uuid.uuid4().hex, seq=seq, sent_at=iso_utc(t_s), sent_at_s=t_s,
                   target=TARGETS[i % len(TARGETS)], body={}, payload_bytes=300, received_at_s=t_s + 0.5,
                   telemetry=fig)


def fill(store, devices: int, first_seq: int, last_seq: int, t0_s: float) -> float:
    """Rows ``first_seq..last_seq`` of every device; the seconds it took."""
    start = time.monotonic()
    batch: list[Message] = []
    for seq in range(first_seq, last_seq + 1):
        t_s = t0_s + (seq - 1) * WINDOW_S
        for i in range(devices):
            batch.append(telemetry_message("bench", i, seq, t_s + (i % 97) * 0.01))
            if len(batch) == BATCH:
                msgs, batch = batch, []
                store.run(lambda tx: tx.store_batch(msgs, [], time.time()))
    if batch:
        store.run(lambda tx: tx.store_batch(batch, [], time.time()))
    return time.monotonic() - start


def timed(args: list[str], runs: int) -> float:
    best = math.inf
    for _ in range(runs):
        start = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "edgekit", *args], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, cwd=REPO,
                              env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"})
        elapsed = time.monotonic() - start
        if proc.returncode != 0:
            sys.exit(f"edgekit {' '.join(args)} failed: {proc.stderr[-2000:]}")
        best = min(best, elapsed)
    return best


def measure(url: str, workdir: Path, runs: int) -> dict[str, float]:
    html = workdir / "fleet.html"
    out = {"report --json s": timed(["fleet", "report", "--db", url, "--json"], runs),
           "report --html s": timed(["fleet", "report", "--db", url, "--html", str(html)], runs),
           "status s": timed(["fleet", "status", "--db", url], runs)}
    out["html MB"] = html.stat().st_size / 1e6
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default="sqlite", help="sqlite, postgres (a private schema in " + PG_DEFAULT +
                    ", dropped afterwards) or a database URL")
    ap.add_argument("--devices", type=int, default=10_000)
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 3_000_000], help="telemetry rows, ascending")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="keep the SQLite file in this folder")
    a = ap.parse_args()
    sizes = sorted(a.rows)
    with tempfile.TemporaryDirectory(prefix="edgekit-bench-report-") as tmp:
        workdir = Path(tmp)
        schema = None
        if a.db == "sqlite":
            folder = a.keep or workdir
            folder.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{folder / 'bench-report.db'}"
        elif a.db == "postgres":
            import psycopg
            schema = f"ek_bench_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(PG_DEFAULT, autocommit=True) as c:
                c.execute(f"CREATE SCHEMA {schema}")
            url = f"{PG_DEFAULT}?options=-csearch_path%3D{schema}"
        else:
            url = a.db
        try:
            rows_per_device = [max(1, n // a.devices) for n in sizes]
            t0_s = time.time() - rows_per_device[-1] * WINDOW_S - 3600  # the last window ends an hour ago
            results = []
            store = open_store(url)
            done = 0
            try:
                for size, per_device in zip(sizes, rows_per_device):
                    fill_s = fill(store, a.devices, done + 1, per_device, t0_s)
                    done = per_device
                    rows = store.counts()["telemetry"]
                    print(f"filled {a.devices} devices x {per_device} rows = {rows} telemetry rows "
                          f"({fill_s:.0f} s, {rows / max(fill_s, 1e-9):.0f} rows/s added)", flush=True)
                    figures = measure(url, workdir, a.runs)
                    results.append((rows, figures))
                    print(f"  {rows:>10} rows: " + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()), flush=True)
            finally:
                store.close()
        finally:
            if schema is not None:
                import psycopg
                with psycopg.connect(PG_DEFAULT, autocommit=True) as c:
                    c.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    print(f"\n{a.db}, {a.devices} devices, best of {a.runs}:")
    keys = list(results[0][1])
    print(f"{'rows':>12}  " + "  ".join(f"{k:>16}" for k in keys))
    for rows, figures in results:
        print(f"{rows:>12}  " + "  ".join(f"{figures[k]:>16.2f}" for k in keys))
    if len(results) > 1:
        (r0, f0), (r1, f1) = results[0], results[-1]
        print(f"{'growth':>12}  " + "  ".join(f"{f1[k] / f0[k]:>15.2f}x" for k in keys)
              + f"   ({r1 / r0:.1f}x the rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
