"""Monitoring: each proxy replica's health and rates from its /metrics, the collector's lag,
Postgres (`probes.py`), and the background checker that turns what it sees into
notifications (`checker.py`). Page: /dashboard/monitoring."""
