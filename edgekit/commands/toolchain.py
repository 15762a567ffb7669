"""``edgekit toolchain install tflite|arm64``, ``edgekit toolchain status`` and ``edgekit toolchain remove arm64``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from edgekit.builder.toolchain import ENV_NAME, PINS, default_toolchain_dir, find_toolchain
from edgekit.builder.toolchain_install import install_tflite

#: Toolchain kinds the command knows (name -> what it provides).
KINDS = {"tflite": f"{PINS[0]} in its own virtual environment (TFLite fp32/fp16/int8 from ONNX)",
         "arm64": "an emulated arm64 device (Debian bookworm under qemu-user, Python 3.11) with onnxruntime and "
                  "LiteRT for aarch64: verifies ARM artifacts in the target's own runtime"}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "toolchain", help="install and inspect conversion toolchains that need their own environment",
        description="Conversion tools whose pinned dependencies clash with edgekit's live in virtual "
                    "environments of their own, under --dir (default: $EDGEKIT_TOOLCHAIN_DIR or "
                    "~/.cache/edgekit/toolchains).")
    sub = p.add_subparsers(dest="toolchain_command", metavar="ACTION")

    inst = sub.add_parser("install", help="create a toolchain environment (idempotent)")
    inst.add_argument("kind", choices=sorted(KINDS), help="which toolchain: tflite = onnx2tf, arm64 = emulated root")
    inst.add_argument("--dir", type=Path, default=None, help="toolchain directory")
    inst.add_argument("--python", default=None,
                      help="base interpreter for the environment (Python 3.10-3.12; default: this one)")
    inst.add_argument("--mirror", default=None, help="Debian mirror for the arm64 root (default deb.debian.org)")
    inst.set_defaults(func=_install)

    rm = sub.add_parser("remove", help="delete an installed toolchain (arm64: the emulated root, about 700 MB)")
    rm.add_argument("kind", choices=["arm64"], help="which toolchain")
    rm.add_argument("--dir", type=Path, default=None, help="toolchain directory")
    rm.set_defaults(func=_remove)

    st = sub.add_parser("status", help="say which toolchains are installed, where, and their versions")
    st.add_argument("--dir", type=Path, default=None, help="toolchain directory")
    st.add_argument("--json", action="store_true", help="print a machine-readable summary")
    st.set_defaults(func=_status)

    p.set_defaults(func=lambda args: _help(p))


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _install(args) -> int:
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    out = Console()
    err = Console(stderr=True)
    if args.kind == "arm64":
        return _install_arm64(args, out, err)
    where = (args.dir or default_toolchain_dir()) / ENV_NAME
    if (found := find_toolchain(args.dir)) is not None:
        out.print(f"onnx2tf toolchain already installed in {found.root}")
        _print_versions(out, found.versions)
        return 0
    started = time.monotonic()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  TextColumn("[dim]{task.fields[detail]}"), console=err, transient=True) as progress:
        task = progress.add_task(f"installing the onnx2tf toolchain in {where}", detail="")

        def on_step(msg: str) -> None:
            progress.update(task, description=msg, detail="")
            err.print(f"[dim]{time.monotonic() - started:6.1f} s[/] {msg}")

        def on_line(line: str) -> None:
            line = line.strip()
            if line.startswith(("Collecting", "Downloading", "Installing", "Successfully", "Using cached")):
                progress.update(task, detail=line[:70])

        chain = install_tflite(args.dir, python=args.python, on_step=on_step, on_line=on_line)
    took_s = time.monotonic() - started
    out.print(f"onnx2tf toolchain installed in {chain.root} ({took_s:.0f} s, checked by converting a "
              f"tiny model)")
    _print_versions(out, chain.versions)
    return 0


def _install_arm64(args, out, err) -> int:
    from edgekit.builder.arm64_install import install_arm64
    from edgekit.builder.arm64root import MIRROR, find_arm64

    if (found := find_arm64(args.dir)) is not None:
        out.print(f"arm64 root already installed in {found.root}")
        _print_versions(out, found.versions)
        return 0
    started = time.monotonic()

    def on_step(msg: str) -> None:
        err.print(f"[dim]{time.monotonic() - started:6.1f} s[/] {msg}")

    chain = install_arm64(args.dir, mirror=args.mirror or MIRROR, on_step=on_step)
    out.print(f"arm64 root installed in {chain.root} ({time.monotonic() - started:.0f} s, checked by running a "
              f"tiny model in its onnxruntime)")
    _print_versions(out, chain.versions)
    return 0


def _remove(args) -> int:
    from edgekit.builder.arm64_install import remove_arm64

    removed = remove_arm64(args.dir)
    print("\n".join(f"removed {p}" for p in removed) if removed else "arm64 root: not installed, nothing removed")
    return 0


def _print_versions(console, versions: dict[str, str]) -> None:
    for name in sorted(versions):
        console.print(f"  {name:<16} {versions[name]}")


def _status(args) -> int:
    from edgekit.builder.arm64_install import missing_prerequisite
    from edgekit.builder.arm64root import entry_dir, find_arm64

    chain = find_toolchain(args.dir)
    arm = find_arm64(args.dir)
    root = (args.dir or default_toolchain_dir()).expanduser().resolve()
    doc = {"dir": str(root), "toolchains": {
        "tflite": {"installed": chain is not None, "provides": KINDS["tflite"],
                   **(chain.to_json() if chain else {"root": str(root / ENV_NAME)})},
        "arm64": {"installed": arm is not None, "provides": KINDS["arm64"],
                  **(arm.to_json() if arm else {"root": str(entry_dir(args.dir) / "root"),
                                                 "missing": missing_prerequisite()})},
    }}
    if args.json:
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(f"toolchain directory: {root}")
    if chain is None:
        print("tflite: not installed (run `edgekit toolchain install tflite`)")
    else:
        print(f"tflite: installed in {chain.root} on {chain.installed_at}")
        for name in sorted(chain.versions):
            print(f"  {name:<16} {chain.versions[name]}")
    if arm is None:
        why = doc["toolchains"]["arm64"]["missing"]
        print("arm64: not installed (run `edgekit toolchain install arm64`" + (f"; first: {why})" if why else ")"))
    else:
        print(f"arm64: installed in {arm.root} on {arm.installed_at}")
        for name in sorted(arm.versions):
            print(f"  {name:<16} {arm.versions[name]}")
    return 0
