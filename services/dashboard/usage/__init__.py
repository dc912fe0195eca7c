"""Usage: the history of a window (series, breakdowns, events) read from the collector's
rollups, who may see what, windows and time zones, the CSV export, asking the collector to
collect now, and model pricing. Pages: /dashboard/usage, /dashboard/pricing; API: /api/usage/*,
/api/model-pricing, /api/admin/model-pricing."""
