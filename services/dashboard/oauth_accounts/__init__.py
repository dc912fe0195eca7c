"""OAuth subscription accounts (issue 15): connect, import, ownership, settings, quota."""
