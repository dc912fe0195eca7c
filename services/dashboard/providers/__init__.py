"""Providers: direct provider keys (Claude, Gemini, Codex, OpenAI-compatible), custom
OpenAI-compatible providers and their groups, model discovery, the SSRF guard on every
user-supplied upstream URL and the admin settings that govern them. Page: /dashboard/providers;
API: /api/providers/keys, /api/custom-providers, /api/provider-groups."""
