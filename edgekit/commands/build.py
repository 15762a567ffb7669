"""``edgekit build MODEL --target NAME``: the command-line face of :func:`edgekit.builder.build_model`."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from pathlib import Path

from edgekit.errors import EdgekitError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "build", help="convert, quantize and verify a model for a target device",
        description="Build MODEL (.onnx) for a target profile: load and check, optimize, reduce precision, "
                    "convert for the device family, verify against the fp32 original (accuracy gate), and "
                    "write OUT/<model>-<target>/ with the artifacts and manifest.json.",
    )
    p.add_argument("model", type=Path, help="the fp32 ONNX model")
    p.add_argument("--target", "-t", required=True, help="target profile name or alias (jetson, rpi, phone)")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "fp16", "int8", "int4"),
                   help="auto: the target's preferred precision that passes the gate (default); int4: 4-bit "
                        "weight-only MatMul/Gemm (onnxruntime CPU targets)")
    p.add_argument("--int4-block-size", type=int, default=32, metavar="N",
                   help="int4: weights per scale along K, 16/32/64/128/256 (default 32)")
    p.add_argument("--calibration", type=Path, metavar="FILE.npz",
                   help="calibration inputs for int8, keyed by input name")
    p.add_argument("--eval", dest="eval_data", type=Path, metavar="FILE.npz",
                   help="evaluation inputs keyed by input name, optional integer 'labels'")
    p.add_argument("--calibration-method", default="minmax", choices=("minmax", "entropy", "percentile"))
    p.add_argument("--out", type=Path, default=Path("edgekit-out"), help="output root (default ./edgekit-out)")
    p.add_argument("--targets-dir", type=Path, help="directory of target profiles (default: the bundled ones)")
    p.add_argument("--cache-dir", type=Path, help="pass cache (default $XDG_CACHE_HOME/edgekit/build)")
    p.add_argument("--no-cache", action="store_true", help="run every pass, store nothing")
    p.add_argument("--max-accuracy-drop", type=float, metavar="PTS", help="override the target's tolerance")
    p.add_argument("--min-agreement", type=float, metavar="FRACTION", help="override min top-1 agreement")
    p.add_argument("--min-cosine", type=float, help="override min cosine similarity")
    p.add_argument("--min-snr-db", type=float, help="override min SNR in dB")
    p.add_argument("--verify-on", metavar="PLATFORMS", default=None,
                   help="where to verify: host, or host,arm64 (the emulated device: `edgekit toolchain install "
                        "arm64`); default: every platform installed")
    p.add_argument("--on-disagreement", choices=("fail", "worst"), default="fail",
                   help="when platforms disagree beyond the tolerances: fail the build (default) or record the "
                        "worst platform's figures")
    p.add_argument("--exclusion-rounds", type=int, default=3,
                   help="int8 retries that keep the worst nodes in float (default 3)")
    p.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")
    p.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"),
                   help="log to stderr; info shows onnxruntime's own error text (default warning)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgekit.builder.pipeline import build_model
    from edgekit.builder.platforms import PlatformPlan, parse_verify_on
    from edgekit.builder.progress import RichProgress

    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    progress = RichProgress()
    tolerances = {
        "max_accuracy_drop_pts": args.max_accuracy_drop, "min_top1_agreement": args.min_agreement,
        "min_cosine": args.min_cosine, "min_snr_db": args.min_snr_db,
    }
    kwargs = {"verify_on": PlatformPlan(parse_verify_on(args.verify_on), args.on_disagreement)}
    if args.no_cache:
        kwargs["cache_dir"] = None
    elif args.cache_dir is not None:
        kwargs["cache_dir"] = args.cache_dir
    try:
        # stdout carries only the result (the JSON summary, or the output directory): libraries that
        # print while they work (onnxruntime's entropy calibrator does) are sent to stderr with the progress
        with contextlib.redirect_stdout(sys.stderr):
            result = build_model(
                args.model, args.target, precision=args.precision, calibration=args.calibration,
                eval_data=args.eval_data, out_dir=args.out, calibration_method=args.calibration_method,
                targets_dir=args.targets_dir, tolerances=tolerances, max_exclusion_rounds=args.exclusion_rounds,
                int4_block_size=args.int4_block_size, progress=progress, **kwargs)
    except EdgekitError as exc:
        progress.close()
        if args.json:
            print(json.dumps({"ok": False, "error": str(exc)}))
        raise
    finally:
        progress.close()
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        progress.console.print(result.summary, soft_wrap=True)
        print(result.output_dir, file=sys.stdout)
    return 0
