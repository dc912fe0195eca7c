"""Logs: every proxy replica's main log and request error logs through the management API
(`proxy_logs.py`), and this dashboard replica's own records (`ring.py`). Page: /dashboard/logs."""
