"""Figures measured by the Docker tests (timings, sizes, memory), printed at the end of the run
by tests/conftest.py and written to test-artifacts/docker-budgets.json."""

from __future__ import annotations

import json
from pathlib import Path

_FIGURES: dict[str, tuple[float, str, str]] = {}  # name -> (value, unit, note)


def record(name: str, value: float, unit: str, note: str = "") -> None:
    """Keep one figure; a later value under the same name replaces the earlier one."""
    _FIGURES[name] = (value, unit, note)


def value(name: str) -> float:
    return _FIGURES[name][0]


def lines() -> list[str]:
    width = max((len(name) for name in _FIGURES), default=0)
    return [
        f"{name:<{width}}  {value:10.1f} {unit:<3} {note}".rstrip()
        for name, (value, unit, note) in _FIGURES.items()
    ]


def write(path: Path) -> None:
    if not _FIGURES:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {name: {"value": v, "unit": u, "note": n} for name, (v, u, n) in _FIGURES.items()}
    path.write_text(json.dumps(data, indent=2) + "\n")
