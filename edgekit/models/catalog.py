"""The model catalog (``models/catalog.toml``): public models that PyPI packages ship.

Each entry names a wheel (package + version), the file inside it and that file's sha256; entries
whose file is not ONNX carry an ``export`` recipe. The catalog is validated on load: unknown keys
and bad values raise :class:`~edgekit.errors.ConfigError` naming the file, the entry and the key.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edgekit.errors import ConfigError

#: ``models/`` at the repository root: bundled models, sample data and the catalog.
#: ``models/`` of the repository, shipped in the wheel as ``edgekit/_data/models`` (a link in a checkout).
MODELS_DIR = Path(__file__).resolve().parent.parent / "_data" / "models"
DEFAULT_CATALOG = MODELS_DIR / "catalog.toml"

_NAME = r"^[a-z0-9][a-z0-9._-]*$"
_SHA256 = r"^[0-9a-f]{64}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TensorDecl(_Strict):
    """An input or output as the catalog declares it (symbolic dims are strings)."""

    name: str = Field(min_length=1)
    dtype: Literal["float32", "float16", "int64", "int32", "int8", "uint8", "bool"]
    shape: tuple[int | str, ...]
    preprocess: str | None = None

    @field_validator("shape")
    @classmethod
    def _dims(cls, shape):
        for d in shape:
            if isinstance(d, int) and d < 1:
                raise ValueError("dimensions must be positive integers or names")
        return shape


class ExportRecipe(_Strict):
    """How a non-ONNX file (PyTorch weights) becomes ONNX after the download.

    edgekit builds the graph itself from the weights, with numpy and onnx only (no framework):
    ``builder`` names the function in ``edgekit.models``,
    ``builder(weights_path, architecture, opset=, ir_version=, input_name=, output_name=)``.
    """

    exporter: Literal["edgekit"]
    builder: str = Field(pattern=r"^edgekit\.models\.[a-z_]+\.[a-z_]+$",
                         description="module.function in edgekit.models that builds the graph")
    architecture: str = Field(min_length=1)
    opset: int = Field(ge=7, le=23)
    ir_version: int = Field(ge=3, le=11)


class CatalogEntry(_Strict):
    name: str = Field(pattern=_NAME)
    package: str = Field(pattern=_NAME)
    version: str = Field(min_length=1)
    license: str = Field(min_length=1)
    file: str = Field(min_length=1, description="path of the file inside the wheel")
    sha256: str = Field(pattern=_SHA256)
    bytes: int | None = Field(default=None, gt=0)
    description: str = Field(min_length=1)
    notes: str | None = None
    inputs: tuple[TensorDecl, ...] = Field(min_length=1)
    outputs: tuple[TensorDecl, ...] = ()
    calibration: str | None = Field(default=None, description="bundled .npz in models/")
    eval: str | None = Field(default=None, description="bundled .npz in models/")
    export: ExportRecipe | None = None

    @model_validator(mode="after")
    def _onnx_or_recipe(self):
        if not self.file.endswith(".onnx") and self.export is None:
            raise ValueError(f"file {self.file!r} is not .onnx, so the entry needs an [model.export] recipe")
        if self.file.endswith(".onnx") and self.export is not None:
            raise ValueError("an .onnx file needs no [model.export] recipe")
        if self.export is not None:
            if len(self.inputs) != 1 or not all(isinstance(d, int) for d in self.inputs[0].shape):
                raise ValueError("an exported model needs exactly one input with a fixed integer shape")
            if not self.outputs:
                raise ValueError("an exported model needs its output declared in [[model.outputs]]")
        return self

    @property
    def file_name(self) -> str:
        return self.file.rsplit("/", 1)[-1]

    @property
    def onnx_name(self) -> str:
        """File name of the ONNX model in the cache."""
        return self.file_name if self.export is None else f"{self.name}.onnx"

    def data_path(self, which: Literal["calibration", "eval"], models_dir: Path = MODELS_DIR) -> Path | None:
        """Path of the bundled calibration or eval .npz for this model, if it has one."""
        name = self.calibration if which == "calibration" else self.eval
        return None if name is None else Path(models_dir) / name


class _CatalogFile(_Strict):
    schema_version: Literal[1]
    model: tuple[CatalogEntry, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self):
        seen: set[str] = set()
        for entry in self.model:
            if entry.name in seen:
                raise ValueError(f"duplicate model name {entry.name!r}")
            seen.add(entry.name)
        return self


def _format_error(path: Path, data: dict, exc: ValidationError) -> str:
    first = exc.errors()[0]
    loc = list(first["loc"])
    where = ""
    if len(loc) >= 2 and loc[0] == "model" and isinstance(loc[1], int):
        try:
            name = data["model"][loc[1]].get("name", "?")
        except (KeyError, IndexError, TypeError, AttributeError):
            name = "?"
        where = f"model[{loc[1]}] ({name}): "
        loc = loc[2:]
    key = ".".join(str(p) for p in loc) or "(entry)"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    elif first["type"] == "missing":
        msg = "missing key"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{path}: {where}key '{key}': {msg}{more}; fix the catalog"


def load_catalog(path: Path | str | None = None) -> list[CatalogEntry]:
    """Read and validate the catalog (default ``models/catalog.toml``)."""
    path = Path(path) if path is not None else DEFAULT_CATALOG
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: model catalog not found; pass the path of a catalog.toml") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the catalog") from None
    try:
        catalog = _CatalogFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(path, data, exc)) from None
    return list(catalog.model)


def find_entry(name: str, entries: list[CatalogEntry], also_known: tuple[str, ...] = ()) -> CatalogEntry:
    """The entry called ``name``; an unknown name is an error listing the known ones."""
    for entry in entries:
        if entry.name == name:
            return entry
    known = sorted({e.name for e in entries} | set(also_known))
    raise ConfigError(f"unknown model {name!r}; known models: {', '.join(known)} (`edgekit models list`)")


def is_valid_name(name: str) -> bool:
    return re.match(_NAME, name) is not None
