"""`python -m services.dashboard`: read settings from the environment and serve with uvicorn."""

from __future__ import annotations

import sys

import uvicorn
from pydantic import ValidationError

from services.core.logging import configure_logging
from services.dashboard.app import create_app
from services.dashboard.logs.ring import RING, RingHandler
from services.dashboard.settings import DashboardSettings


def load_settings() -> DashboardSettings:
    """Settings from the environment; exits with a message naming the bad variable."""
    try:
        return DashboardSettings()  # fields come from the environment
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = "_".join(str(p) for p in err["loc"]).upper()
            message = err["msg"].removeprefix("Value error, ")
            lines.append(f"  {name}: {message}" if name else f"  {message}")
        print("dashboard: invalid configuration\n" + "\n".join(lines), file=sys.stderr)
        raise SystemExit(2) from None


def main() -> None:
    settings = load_settings()
    # The Logs page shows this replica's own records from an in-memory ring.
    configure_logging(settings.log_level, settings.log_format, extra_handlers=[RingHandler(RING)])
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, proxy_headers=True)


if __name__ == "__main__":
    main()
