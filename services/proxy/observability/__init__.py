"""The proxy watching itself: Prometheus metrics and its own log files (main.log, error logs)."""
