"""The link to the proxies: the management client, pushing the dashboard's state to every proxy
(sync, list reconciliation, the config lock), the proxy settings and model alias editors, the
model catalog and each user's model preferences. Pages: /dashboard/config,
/dashboard/model-aliases; API: /api/models, /api/model-preferences, /api/model-aliases,
/api/proxy-settings."""
