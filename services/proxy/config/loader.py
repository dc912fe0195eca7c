"""Read and validate `config.yaml`: round-trip YAML, errors that name key and line."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from services.core.errors import Unprocessable

from .model import ProxyConfig


class ConfigError(Unprocessable):
    """The file is not valid YAML or does not match the model; the message names key and line."""

    code = "invalid_config"


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    config: ProxyConfig
    text: str
    digest: str
    warnings: tuple[str, ...] = field(default=())


def yaml_roundtrip() -> YAML:
    """A YAML instance that keeps comments, key order and quoting on dump."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


EMPTY_MESSAGE = (
    "config.yaml is empty (no settings, only whitespace or comments); write `{}` to mean "
    "all defaults"
)


def parse_document(text: str) -> CommentedMap:
    """Parse YAML text into a round-trip document; an empty file is a ConfigError.

    A zero-byte file is what a non-atomic writer leaves for a moment (truncate, then write):
    applying it would drop every client key and refuse every client, so it is never taken as
    a config. An explicit `{}` still means "all defaults".
    """
    try:
        doc = yaml_roundtrip().load(text) if text.strip() else None
    except YAMLError as exc:
        raise ConfigError(f"config.yaml is not valid YAML: {exc}") from exc
    if doc is None:
        raise ConfigError(EMPTY_MESSAGE)
    if not isinstance(doc, CommentedMap):
        raise ConfigError("config.yaml must be a mapping at the top level")
    return doc


def dump_document(doc: CommentedMap) -> str:
    out = io.StringIO()
    yaml_roundtrip().dump(doc, out)
    return out.getvalue()


def _line_of(doc: Any, loc: tuple[int | str, ...]) -> int | None:
    """1-based line of the deepest YAML node along a pydantic error location."""
    line: int | None = None
    node = doc
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            pos = node.lc.key(part)
            line = pos[0] + 1 if pos else line
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            pos = node.lc.item(part)
            line = pos[0] + 1 if pos else line
            node = node[part]
        else:
            break
    return line


def _describe(doc: CommentedMap, exc: ValidationError) -> str:
    problems = []
    for err in exc.errors()[:10]:
        loc = tuple(err["loc"])
        key = ".".join(str(p) for p in loc)
        line = _line_of(doc, loc)
        where = f" (line {line})" if line else ""
        problems.append(f"{key}{where}: {err['msg']}")
    return "invalid config: " + "; ".join(problems)


def _unknown_keys(model: BaseModel, prefix: str = "") -> list[str]:
    """Dotted paths of keys the model kept but does not understand."""
    found = [f"{prefix}{key}" for key in (model.model_extra or {})]
    for name in type(model).model_fields:
        value = getattr(model, name)
        alias = type(model).model_fields[name].alias or name
        if isinstance(value, BaseModel):
            found += _unknown_keys(value, f"{prefix}{alias}.")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    found += _unknown_keys(item, f"{prefix}{alias}[{i}].")
    return found


def validate_text(text: str) -> LoadedConfig:
    """Validate config text; raise ConfigError naming the bad key and its line."""
    doc = parse_document(text)
    try:
        config = ProxyConfig.model_validate(doc)
    except ValidationError as exc:
        raise ConfigError(_describe(doc, exc)) from None
    warnings = tuple(f"unknown config key kept: {key}" for key in _unknown_keys(config))
    digest = hashlib.sha256(text.encode()).hexdigest()
    return LoadedConfig(config=config, text=text, digest=digest, warnings=warnings)


def load_file(path: Path) -> LoadedConfig:
    return validate_text(path.read_text(encoding="utf-8"))
