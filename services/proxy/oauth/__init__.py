"""OAuth subscription accounts: auth files, tokens, refresh, logins, providers (docs/oauth.md)."""
