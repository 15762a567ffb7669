"""What a build ends with: each precision's attempt, the result, and the lines that describe them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edgekit.builder import verify
from edgekit.builder.package import Artifact
from edgekit.targets import Target


@dataclass
class BuildResult:
    output_dir: Path
    manifest: dict
    summary: str
    warnings: list[str] = field(default_factory=list)
    cache_hits: list[str] = field(default_factory=list)

    @property
    def precision(self) -> str:
        return self.manifest["precision"]

    def to_json(self) -> dict:
        m = self.manifest
        return {
            "ok": True, "output_dir": str(self.output_dir), "model": m["model"]["name"],
            "target": m["target"]["name"], "precision": m["precision"], "summary": self.summary,
            "artifacts": m["artifacts"], "verification": m["verification"],
            "nodes_excluded": m.get("quantization", {}).get("nodes_excluded", []),
            "attempts": m["attempts"], "warnings": self.warnings, "cache_hits": self.cache_hits,
        }


@dataclass
class Attempt:
    precision: str
    passed: bool
    model: Path | None = None
    artifacts: list[Artifact] = field(default_factory=list)
    checks: list[verify.ArtifactCheck] = field(default_factory=list)
    quantization: dict = field(default_factory=dict)
    tflite: dict | None = None
    conversion: dict = field(default_factory=dict)
    rounds: list[dict] = field(default_factory=list)
    reason: str = ""
    errored: bool = False  # the attempt stopped on an error (no gate verdict), e.g. an fp16 model that won't load

    def to_json(self) -> dict:
        return {"precision": self.precision, "passed": self.passed, "reason": self.reason or "passed",
                "outcome": "error" if self.errored else ("passed" if self.passed else "failed the gate"),
                "exclusion_rounds": self.rounds}


def named(exc: Exception, work_path: Path, name: str) -> str:
    """The error text with the build's temporary file path replaced by the name the user knows."""
    return str(exc).replace(str(work_path), name)


def check_text(c: verify.ArtifactCheck) -> str:
    mark = "pass" if c.passed else "FAIL"
    if c.accuracy_drop_pts is not None:
        return (f"{mark} — accuracy {c.accuracy_fp32:.4f} → {c.accuracy:.4f} (drop {c.accuracy_drop_pts:.2f} pts), "
                f"agreement {c.top1_agreement:.4f}")
    agree = f", agreement {c.top1_agreement:.4f}" if c.top1_agreement is not None else ""
    return f"{mark} — cosine {c.cosine:.5f}, SNR {c.snr_db:.1f} dB, max |Δ| {c.max_abs_error:.3g}{agree}"


def failure_line(model_path: Path, tgt: Target, attempts: list[Attempt], auto: bool) -> str:
    parts = []
    for a in attempts:
        excl = a.quantization.get("nodes_excluded") or []
        extra = f" even with {len(excl)} node{'s' if len(excl) != 1 else ''} kept in float ({', '.join(excl)})" if excl else ""
        parts.append(f"{a.precision}: {a.reason}{extra}")
    if all(a.errored for a in attempts):
        return (f"{model_path.name} for {tgt.name}: no precision could be built — {' | '.join(parts)}; "
                f"fix the cause named for the precision you need, or pass --precision for one precision alone")
    what = "no precision passed the accuracy gate" if auto else f"{attempts[0].precision} build fails the accuracy gate"
    return (f"{model_path.name} for {tgt.name}: {what} — {' | '.join(parts)}; "
            f"try representative --calibration data, another --calibration-method or --precision, "
            f"or relax the tolerance flags")
