"""Jinja filters for usage numbers (compact counts, dollars, percentages, milliseconds) and
the server-drawn sparklines of the overview (SVG points, no script)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo


def compact(value: int | float | None) -> str:
    """1234 -> 1.2k, 5600000 -> 5.6M; small numbers as they are."""
    if value is None:
        return "—"
    number = float(value)
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(number) >= size:
            text = f"{number / size:.1f}".rstrip("0").rstrip(".")
            return f"{text}{suffix}"
    return f"{number:,.0f}" if number == int(number) else f"{number:,.1f}"


def usd(value: Decimal | float | None) -> str:
    """Dollars with cents, or four decimals below a dollar so small costs still show."""
    if value is None:
        return "—"
    amount = float(value)
    if amount == 0:
        return "$0"
    if abs(amount) < 1:
        return f"${amount:.4f}"
    return f"${amount:,.2f}"


def percent(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.1f}%"


def ms(value: float | int | None) -> str:
    if value is None:
        return "—"
    if value >= 10_000:
        return f"{value / 1000:.1f} s"
    return f"{value:,.0f} ms"


def local_time(value: datetime | None, tz: str = "UTC") -> str:
    if value is None:
        return "—"
    return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S")


def sparkline(
    values: Sequence[float | int | Decimal], zero: bool = True, width: int = 120, height: int = 32
) -> str:
    """SVG polyline points for `values` in width x height (2 px margin), scaled from 0 (or,
    with zero=False, from the smallest value) to the largest."""
    numbers = [float(v) for v in values]
    if not numbers:
        return ""
    low = 0.0 if zero else min(numbers)
    span = (max(numbers) - low) or 1.0
    step = (width - 4) / max(len(numbers) - 1, 1)
    return " ".join(
        f"{2 + i * step:.1f},{height - 2 - ((v - low) / span) * (height - 4):.1f}"
        for i, v in enumerate(numbers)
    )


def size(value: float | int | None) -> str:
    """Bytes in binary units: 512 B, 3.4 MiB."""
    if value is None:
        return "—"
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(amount) < 1024 or unit == "GiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GiB"  # pragma: no cover - the loop returns


def duration(seconds: float | int | None) -> str:
    """A span in its two largest units: 3 d 4 h, 5 min 2 s, 12 s."""
    if seconds is None:
        return "—"
    left = int(seconds)
    parts: list[str] = []
    for unit, length in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if left >= length or (unit == "s" and not parts):
            parts.append(f"{left // length} {unit}")
            left %= length
    return " ".join(parts[:2])


FILTERS: dict[str, Callable[..., Any]] = {
    "compact": compact,
    "size": size,
    "duration": duration,
    "usd": usd,
    "percent": percent,
    "ms": ms,
    "local_time": local_time,
    "sparkline": sparkline,
}
