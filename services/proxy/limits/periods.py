"""Budget periods (UTC day and month) and the durations of the `x-ratelimit-reset-*` headers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class PeriodIds:
    """`(day_id, month_id)` of a time, computed once per UTC day (strftime costs microseconds,
    and the request path asks for every budgeted request)."""

    def __init__(self) -> None:
        self._until = float("-inf")
        self._since = float("inf")
        self._ids = ("", "")

    def at(self, now: float) -> tuple[str, str]:
        if not self._since <= now < self._until:
            self._ids = (day_id(now), month_id(now))
            self._until = day_end(now)
            self._since = self._until - 86_400
        return self._ids


def day_id(now: float) -> str:
    """The UTC day of `now` (epoch seconds) as `YYYY-MM-DD`."""
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")


def month_id(now: float) -> str:
    """The UTC month of `now` as `YYYY-MM`."""
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m")


def day_end(now: float) -> float:
    """Epoch seconds of the next UTC midnight."""
    start = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (start + timedelta(days=1)).timestamp()


def month_end(now: float) -> float:
    """Epoch seconds of the first instant of the next UTC month."""
    at = datetime.fromtimestamp(now, UTC)
    year, month = (at.year + 1, 1) if at.month == 12 else (at.year, at.month + 1)
    return datetime(year, month, 1, tzinfo=UTC).timestamp()


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def duration(ms: int) -> str:
    """A duration as OpenAI writes it in `x-ratelimit-reset-*` (Go style: 20ms, 1.5s, 6m0s)."""
    ms = max(ms, 0)
    if ms < 1000:
        return f"{ms}ms"
    minutes, rest = divmod(ms, 60_000)
    seconds = f"{rest / 1000:.3f}".rstrip("0").rstrip(".")
    return f"{minutes}m{seconds}s" if minutes else f"{seconds}s"
