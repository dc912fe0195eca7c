"""Usage windows: 24h, 7d, 30d or custom from/to, in the viewer's time zone, on whole UTC hours.

Rollups are UTC-hour buckets, so every window is widened to whole UTC hours. Day buckets are the
viewer's calendar days; an hour that straddles two local days (time zones with a half-hour
offset) belongs to the day holding its middle, so such windows are approximate to the hour.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.requests import Request

from services.core.errors import ValidationFailed

Bucket = Literal["hour", "day"]
WINDOWS = ("24h", "7d", "30d")
DEFAULT_WINDOW = "7d"
MAX_DAYS = 400  # longest custom window
MAX_HOURLY_DAYS = 31  # hour buckets beyond this would be thousands of points
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
HALF_HOUR = timedelta(minutes=30)
_TZ_NAME = re.compile(r"[A-Za-z0-9_+\-/]{1,64}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
TZ_COOKIE = "tz"  # set by usage.js from the browser's time zone


@dataclass(frozen=True, slots=True)
class Window:
    """A validated window: [start, end) on whole UTC hours, bucketed in `tz`."""

    name: str  # 24h | 7d | 30d | custom
    start: datetime
    end: datetime
    tz: str
    bucket: Bucket
    approximate: bool  # the local bounds or days do not fall on whole UTC hours

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def bucket_starts(self) -> list[datetime]:
        """Every bucket's start (UTC), in order, so empty buckets can be shown as zero."""
        if self.bucket == "hour":
            count = int((self.end - self.start) / HOUR)
            return [self.start + i * HOUR for i in range(count)]
        day = day_of(self.start, self.zone)
        last = day_of(self.end - HOUR, self.zone)
        starts = []
        while day <= last:
            starts.append(local_midnight(day, self.zone))
            day += timedelta(days=1)
        return starts

    def query(self) -> dict[str, str]:
        """The query parameters that select this window again (links, CSV export)."""
        if self.name == "custom":
            return {
                "from": self.start.isoformat(),
                "to": self.end.isoformat(),
                "tz": self.tz,
                "bucket": self.bucket,
            }
        return {"window": self.name, "tz": self.tz, "bucket": self.bucket}


def day_of(hour_start: datetime, zone: ZoneInfo) -> date:
    """The local day an hour bucket belongs to: the one holding the hour's middle."""
    return (hour_start + HALF_HOUR).astimezone(zone).date()


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def floor_hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(at: datetime) -> datetime:
    floored = floor_hour(at)
    return floored if floored == at.astimezone(UTC) else floored + HOUR


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: {message}", details=[{"field": field, "message": message}])


def parse_tz(raw: str | None) -> str:
    """An IANA time zone name (default UTC); anything else is a 400."""
    name = (raw or "UTC").strip()
    if not _TZ_NAME.fullmatch(name) or ".." in name or name.startswith("/"):
        raise _invalid("tz", "not an IANA time zone name")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise _invalid("tz", f"unknown time zone {name!r}") from exc
    return name


def _instant(raw: str, field: str, zone: ZoneInfo, *, end: bool) -> tuple[datetime, bool]:
    """A from/to bound: a local date (whole day; `to` inclusive) or an ISO date-time."""
    text = raw.strip()
    try:
        if _DATE.fullmatch(text):
            day = date.fromisoformat(text) + timedelta(days=1 if end else 0)
            return local_midnight(day, zone), False
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _invalid(field, "use YYYY-MM-DD or an ISO 8601 date-time") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC), True


def _whole_hours(zone: ZoneInfo, *instants: datetime) -> bool:
    return all((zone.utcoffset(t) or timedelta()) % HOUR == timedelta() for t in instants)


def _bucket(raw: str | None, start: datetime, end: datetime) -> Bucket:
    span = end - start
    if raw in (None, ""):
        return "hour" if span <= timedelta(hours=48) else "day"
    if raw not in ("hour", "day"):
        raise _invalid("bucket", "must be hour or day")
    if raw == "hour" and span > timedelta(days=MAX_HOURLY_DAYS):
        raise _invalid("bucket", f"hour buckets need a window of at most {MAX_HOURLY_DAYS} days")
    return "hour" if raw == "hour" else "day"


def parse_window(params: Mapping[str, str], now: datetime) -> Window:
    """Validate window/from/to/tz/bucket query parameters into a Window (400 with the reason)."""
    tz = parse_tz(params.get("tz"))
    zone = ZoneInfo(tz)
    upto = floor_hour(now) + HOUR  # the current hour is included
    if params.get("from") or params.get("to"):
        return _custom(params, zone, tz, upto)
    name = params.get("window") or DEFAULT_WINDOW
    if name not in WINDOWS:
        raise _invalid("window", "must be 24h, 7d, 30d or custom from/to")
    if name == "24h":
        start = upto - timedelta(hours=24)
    else:
        days = 7 if name == "7d" else 30
        first = now.astimezone(zone).date() - timedelta(days=days - 1)
        start = floor_hour(local_midnight(first, zone))
    bucket = _bucket(params.get("bucket"), start, upto)
    approximate = bucket == "day" and not _whole_hours(zone, start, upto)
    return Window(name, start, upto, tz, bucket, approximate)


def _custom(params: Mapping[str, str], zone: ZoneInfo, tz: str, upto: datetime) -> Window:
    if params.get("window") not in (None, "", "custom"):
        raise _invalid("window", "give either window or from/to, not both")
    raw_from, raw_to = params.get("from"), params.get("to")
    if not raw_from or not raw_to:
        raise _invalid("from" if not raw_from else "to", "from and to are both required")
    start_at, _ = _instant(raw_from, "from", zone, end=False)
    end_at, _ = _instant(raw_to, "to", zone, end=True)
    if end_at <= start_at:
        raise _invalid("to", "must be after from")
    if start_at < EARLIEST:
        raise _invalid("from", "must be in the year 2000 or later")
    if end_at - start_at > timedelta(days=MAX_DAYS):
        raise _invalid("to", f"the window is longer than {MAX_DAYS} days")
    start, end = floor_hour(start_at), min(ceil_hour(end_at), upto)
    if end <= start:
        raise _invalid("from", "the window starts in the future")
    bucket = _bucket(params.get("bucket"), start, end)
    aligned = start == start_at and end == min(end_at, upto)
    approximate = not aligned or (bucket == "day" and not _whole_hours(zone, start, end))
    return Window("custom", start, end, tz, bucket, approximate)


def viewer_params(request: Request) -> tuple[dict[str, str], str]:
    """The query with the time zone filled in (query, else the tz cookie, else UTC), and where
    the zone came from: query | cookie | default."""
    params = dict(request.query_params)
    if params.get("tz"):
        return params, "query"
    cookie = request.cookies.get(TZ_COOKIE, "")
    try:
        params["tz"] = parse_tz(cookie) if cookie else "UTC"
    except ValidationFailed:
        params["tz"] = "UTC"
    return params, "cookie" if cookie and params["tz"] == cookie else "default"
