"""The usage collector: pulls usage events from every proxy's outbox into Postgres."""
