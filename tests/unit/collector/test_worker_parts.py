"""Small pure parts of the collector: retention cutoff, backoff, settings, status."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.collector.ingest import retention_cutoff
from services.collector.settings import CollectorSettings
from services.collector.status import CollectorStatus, Metrics
from services.collector.worker import Backoff

GOOD = {
    "database_url": "postgresql://u@127.0.0.1:1/db",
    "proxy_urls": "http://a:8317/, http://b:8317",
    "collector_api_key": "a-real-collector-key-123",
}


@pytest.mark.parametrize(
    ("now", "months", "cutoff"),
    [
        (datetime(2026, 11, 27, tzinfo=UTC), 12, datetime(2025, 11, 1, tzinfo=UTC)),
        (datetime(2026, 1, 1, tzinfo=UTC), 1, datetime(2025, 12, 1, tzinfo=UTC)),
        (datetime(2026, 3, 31, 23, tzinfo=UTC), 14, datetime(2025, 1, 1, tzinfo=UTC)),
        (datetime(2026, 3, 31, tzinfo=UTC), 0, datetime(2000, 1, 1, tzinfo=UTC)),
    ],
)
def test_retention_cutoff_is_a_month_start(now, months, cutoff):
    """Raw events are kept from the first day of the month `months` back."""
    assert retention_cutoff(now, months) == cutoff


def test_backoff_grows_to_its_cap_and_resets():
    """Delays double up to the maximum (with at most 20% jitter below) and reset."""
    backoff = Backoff(0.5, 4.0)
    delays = [backoff.next() for _ in range(6)]
    assert 0.4 <= delays[0] <= 0.5
    assert 3.2 <= delays[-1] <= 4.0
    assert all(a <= b * 1.26 for a, b in itertools.pairwise(delays))
    backoff.reset()
    assert backoff.next() <= 0.5


def test_settings_split_proxy_urls():
    """PROXY_URL is a comma list; trailing slashes go."""
    settings = CollectorSettings.model_validate(GOOD)
    assert settings.proxy_urls == ("http://a:8317", "http://b:8317")
    assert settings.health_port == 8319


def test_settings_take_dns_entries_and_the_discovery_interval():
    settings = CollectorSettings.model_validate(
        {**GOOD, "proxy_urls": "dns+http://tasks.proxy:8317,http://c:1/", "discovery_interval_s": 3}
    )
    assert settings.proxy_urls == ("dns+http://tasks.proxy:8317", "http://c:1")
    assert settings.discovery_interval_s == 3
    assert CollectorSettings.model_validate(GOOD).discovery_interval_s == 10.0
    with pytest.raises(ValidationError, match="needs a port"):
        CollectorSettings.model_validate({**GOOD, "proxy_urls": "dns+http://tasks.proxy"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"collector_api_key": "changeme"}, "COLLECTOR_API_KEY is unset or still"),
        ({"collector_api_key": "short"}, "COLLECTOR_API_KEY must be at least"),
        ({"proxy_urls": "ftp://x"}, "must start with http://"),
        ({"proxy_urls": ""}, "proxy_urls"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_settings_refuse_bad_values(change, message):
    """Placeholders, short keys and bad URLs are refused at start-up, naming the variable."""
    with pytest.raises(ValidationError) as caught:
        CollectorSettings.model_validate({**GOOD, **change})
    assert message in str(caught.value)


def test_status_reports_lag_and_health():
    """The health snapshot is degraded while the database is down; lag follows drains."""
    status = CollectorStatus.for_urls("host:1", ("http://a",))
    assert status.snapshot()["status"] == "degraded"
    status.database_ok = True
    status.proxies["http://a"].last_drained_at = 100.0
    assert status.proxies["http://a"].lag_seconds(103.5) == 3.5
    assert status.snapshot()["status"] == "ok"
    metrics = Metrics()
    metrics.observe(status)
    assert metrics.leader._value.get() == 0
