"""Accounts: first-run setup, sign-in and sessions, passwords, the signed-in user of a request
(guard) and the actor every audit entry names. Pages: /setup, /login, /logout; API: /api/setup,
/api/auth/*."""
