"""Per-client-key limits (docs/limits.md): requests and tokens per minute, requests in flight,
the models a key may reach, and spend budgets per UTC day and month.

`policy` reads a key's limits from the config snapshot; `counters` keeps the counters in this
process and `redis_counters` in a shared Redis or Valkey (`limits-store`), both with the same
rules; `spend` holds what the collector published (spend per key, the price list); `limiter`
admits a call or refuses it and settles what it used; `routes` takes the collector's
publications.
"""
