"""Administration and the overview: users (list, create, change role, delete with everything
they own), the audit log, the admin settings page, health, background upkeep (resync, purges)
and the overview page that gathers every feature. Pages: /dashboard, /dashboard/users,
/dashboard/audit, /dashboard/settings; API: /api/admin/*, /api/health, /api/overview."""
