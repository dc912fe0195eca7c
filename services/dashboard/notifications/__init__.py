"""The header's notification bell: conditions raised once under a dedupe key (by the monitoring
checker, or by a feature through `bell.notify_user`), shown to their audience, dismissed per
user. Partials: /dashboard/partials/notifications*; API: /api/notifications."""
