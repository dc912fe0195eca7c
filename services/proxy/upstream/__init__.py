"""Sending a call upstream: the executor (attempts, failover, streaming relay), the codecs that
bind translation to an upstream call, endpoints per upstream format, and the client sessions
(outbound proxies, redirects refused)."""
