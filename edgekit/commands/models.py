"""``edgekit models list`` and ``edgekit models pull NAME``."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path



# the model code (pydantic, the catalog) is imported when a models command runs, not for every edgekit call
CACHE_HELP = "model cache (default $XDG_CACHE_HOME/edgekit/models, else ~/.cache/edgekit/models)"


def register(sub) -> None:
    p = sub.add_parser("models", help="bundled models and the catalog of public models")
    msub = p.add_subparsers(dest="models_command", metavar="SUBCOMMAND")

    lp = msub.add_parser("list", help="list bundled and catalog models")
    lp.add_argument("--json", action="store_true", help="print the list as JSON")
    lp.add_argument("--cache-dir", type=Path, default=None, help=CACHE_HELP)
    lp.add_argument("--catalog", type=Path, default=None, help="read this catalog.toml instead of models/catalog.toml")
    lp.set_defaults(func=run_list)

    pp = msub.add_parser("pull", help="download a catalog model, verify its sha256, cache it; prints its path")
    pp.add_argument("name", metavar="NAME", help="model name (see `edgekit models list`)")
    pp.add_argument("--cache-dir", type=Path, default=None, help=CACHE_HELP)
    pp.add_argument("--catalog", type=Path, default=None, help="read this catalog.toml instead of models/catalog.toml")
    pp.add_argument("--json", action="store_true", help="print a JSON summary")
    pp.set_defaults(func=run_pull)

    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _rows(args) -> list[dict]:
    from edgekit.models.bundled import bundled_models
    from edgekit.models.catalog import MODELS_DIR, load_catalog
    from edgekit.models.pull import cached_path

    rows = []
    for b in bundled_models().values():
        rows.append({
            "name": b.name,
            "source": "bundled",
            "license": "Apache-2.0",
            "path": str(MODELS_DIR / b.onnx),
            "cached": True,
            "eval": str(MODELS_DIR / b.eval) if b.eval else None,
            "calibration": str(MODELS_DIR / b.calibration) if b.calibration else None,
            "description": b.description,
        })  # fmt: skip
    for e in load_catalog(args.catalog):
        path = cached_path(e, args.cache_dir)
        rows.append({
            "name": e.name,
            "source": f"pypi:{e.package}=={e.version}",
            "license": e.license,
            "file": e.file,
            "sha256": e.sha256,
            "export": e.export is not None,
            "path": str(path) if path else None,
            "cached": path is not None,
            "eval": str(e.data_path("eval")) if e.eval else None,
            "calibration": str(e.data_path("calibration")) if e.calibration else None,
            "inputs": [t.model_dump(mode="json", exclude_none=True) for t in e.inputs],
            "description": e.description,
        })  # fmt: skip
    return rows


def run_list(args) -> int:
    rows = _rows(args)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="edgekit models")
    table.add_column("name", no_wrap=True)
    table.add_column("source", ratio=2)
    table.add_column("license", no_wrap=True)
    table.add_column("cached", no_wrap=True)
    table.add_column("description", ratio=3)
    for r in rows:
        source = r["source"] + (" (+torch export)" if r.get("export") else "")
        summary = re.split(r"[:;(]", r["description"], maxsplit=1)[0].strip()
        table.add_row(r["name"], source, r["license"], "yes" if r["cached"] else "no", summary)
    Console().print(table)
    return 0


def run_pull(args) -> int:
    from edgekit.models.pull import pull

    def log(msg: str) -> None:
        print(f"edgekit: {msg}", file=sys.stderr)

    path = pull(args.name, cache_dir=args.cache_dir, catalog_path=args.catalog, log=log)
    if args.json:
        print(json.dumps({"name": args.name, "path": str(path), "bytes": path.stat().st_size}))
    else:
        print(path)
    return 0
