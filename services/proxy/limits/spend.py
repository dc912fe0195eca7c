"""What this replica knows about spend: the collector's figures per key, and its own since.

The collector publishes, every few seconds, the cost it computed per key for the current UTC
day and month, with the price list in force (`PUT /v0/usage/spend`). A budget check takes the
larger of the counters' spend and this floor:

    floor = published spend + what this replica settled since + its reservations in flight

so a budget holds across replicas even without a shared store, up to the spend not collected
yet when the figures were computed (docs/limits.md: the overspend bound).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.core.pricing import Price, PriceBook

NANO = 1_000_000_000


def to_nano(usd: float) -> int:
    return round(usd * NANO)


@dataclass(frozen=True, slots=True)
class Publication:
    """One message of the collector: spend per `api_key_id` in nano-USD."""

    as_of: str
    day: str
    month: str
    spend: Mapping[str, tuple[int, int]]  # key -> (day, month)
    prices: PriceBook = field(default_factory=PriceBook)


class InvalidPublication(ValueError):
    """The body of `PUT /v0/usage/spend` does not have the documented shape."""


def _usd(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise InvalidPublication(f"{what} must be a non-negative number")
    return to_nano(float(value))


def _text(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise InvalidPublication(f"{name} must be a string")
    return value


def parse_publication(body: Any) -> Publication:
    """`{"as_of", "day", "month", "keys": {id: {"day", "month"}}, "prices": [...]}`."""
    if not isinstance(body, dict):
        raise InvalidPublication("body must be a JSON object")
    keys = body.get("keys", {})
    prices = body.get("prices", [])
    if not isinstance(keys, dict) or not isinstance(prices, list):
        raise InvalidPublication("keys must be an object and prices a list")
    spend: dict[str, tuple[int, int]] = {}
    for key, value in keys.items():
        if not isinstance(value, dict):
            raise InvalidPublication("each key's spend must be an object {day, month}")
        spend[str(key)] = (_usd(value.get("day", 0), "day"), _usd(value.get("month", 0), "month"))
    try:
        book = PriceBook(Price.from_json(p) for p in prices)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidPublication(f"invalid price: {exc}") from None
    return Publication(_text(body, "as_of"), _text(body, "day"), _text(body, "month"), spend, book)


class SpendBook:
    """The latest publication, and this replica's spend since it arrived."""

    def __init__(self) -> None:
        self.latest = Publication("", "", "", {})
        self._since: dict[str, int] = defaultdict(int)  # settled here since `latest`
        self._inflight: dict[str, int] = defaultdict(int)  # reservations held here

    @property
    def prices(self) -> PriceBook:
        return self.latest.prices

    def publish(self, publication: Publication) -> None:
        self.latest = publication
        self._since.clear()

    def floor(self, key: str, day: str, month: str) -> tuple[int, int]:
        """(day, month) nano-USD spent by `key` as far as this replica knows."""
        pub = self.latest
        day_pub, month_pub = pub.spend.get(key, (0, 0))
        local = self._since.get(key, 0) + self._inflight.get(key, 0)
        return (
            (day_pub if pub.day == day else 0) + local,
            (month_pub if pub.month == month else 0) + local,
        )

    def reserve(self, key: str, nano: int) -> None:
        self._inflight[key] += nano

    def settle(self, key: str, reserved: int, nano: int) -> None:
        left = self._inflight[key] - reserved
        if left > 0:
            self._inflight[key] = left
        else:
            self._inflight.pop(key, None)
        self._since[key] += nano
