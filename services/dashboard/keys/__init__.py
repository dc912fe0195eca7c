"""Client API keys: issued once, listed masked, renamed, revoked, and pushed (as sha256 digests)
to every proxy's `api-keys` list. Page: /dashboard/api-keys; API: /api/user/api-keys."""
