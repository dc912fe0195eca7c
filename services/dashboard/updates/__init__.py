"""Image updates of the gateway's services: the registry check (`check.py`), recreating a
compose service with a new image and rolling back (`recreate.py`), a deploy and its step log
(`deploy.py`), the signed deploy webhook (`webhook.py`). Page: /dashboard/updates."""
