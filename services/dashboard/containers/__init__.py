"""The stack's containers through the docker SDK, via docker-socket-proxy only: the engine link
(`engine.py`), which containers belong to the stack (`stack.py`), what may be done to each
(`policy.py`), their state, health and resources (`inventory.py`) and the actions
(`actions.py`). Page: /dashboard/containers; API: /api/containers."""
