"""What a build may try: the precisions a target allows for ``--precision``, and the gate's tolerances."""

from __future__ import annotations

from pydantic import ValidationError

from edgekit.builder import int4
from edgekit.errors import ConfigError
from edgekit.targets import Target, Tolerances

PRECISION_CHOICES = ("auto", "fp32", "fp16", "int8", "int4")


def tolerances_for(target: Target, overrides: dict | None) -> Tolerances:
    data = target.tolerances.model_dump()
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return Tolerances.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"tolerance {first['loc'][0]}: {first['msg']}; fix the override") from None


def candidates(target: Target, precision: str) -> list[str]:
    if precision not in PRECISION_CHOICES:
        raise ConfigError(f"unknown precision {precision!r}; use one of {', '.join(PRECISION_CHOICES)}")
    if precision == "auto":
        return list(target.preferred_precisions)
    if precision == "int4" and (why := int4.refusal(target)):
        raise ConfigError(why)
    if precision not in target.precisions:
        raise ConfigError(
            f"{target.name} does not support {precision}; use one of {', '.join(target.precisions)} or auto"
        )
    return [precision]
