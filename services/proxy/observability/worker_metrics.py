"""`/metrics` of a proxy with worker processes (docs/workers.md): every worker's series, each
with a `worker` label, whichever worker answers the scrape.

Each worker writes its own rendering to `state/metrics-worker-N.prom` every `interval`; a scrape
renders the answering worker's metrics fresh and adds the others' files (at most `interval`
old). Counters of a restarted worker start again from zero under its label, which Prometheus
reads as a reset of that series only. A single process renders its registry as before.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import structlog
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from ..config.files import write_atomic
from .metrics import Metrics

log = structlog.get_logger(__name__)

INTERVAL_S = 1.0


def metrics_file(folder: Path, index: int) -> Path:
    return folder / f"metrics-worker-{index}.prom"


def merge(renderings: list[tuple[int, str]]) -> bytes:
    """One exposition of several workers' renderings, each sample labelled with its worker."""
    families: dict[str, Metric] = {}
    for index, text in renderings:
        for family in text_string_to_metric_families(text):
            merged = families.get(family.name)
            if merged is None:
                merged = Metric(family.name, family.documentation, family.type, family.unit)
                families[family.name] = merged
            for sample in family.samples:
                labels = {**sample.labels, "worker": str(index)}
                merged.samples.append(sample._replace(labels=labels))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(list(families.values())))
    return generate_latest(registry)


class _Fixed:
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


class WorkerMetrics:
    def __init__(
        self, metrics: Metrics, folder: Path, index: int, count: int, interval: float = INTERVAL_S
    ) -> None:
        self.metrics = metrics
        self.folder = folder
        self.index = index
        self.count = count
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def render(self) -> bytes:
        others = await asyncio.to_thread(self._read_others)
        return merge([(self.index, self.metrics.render().decode()), *others])

    def _read_others(self) -> list[tuple[int, str]]:
        found = []
        for index in range(self.count):
            if index != self.index:
                with contextlib.suppress(OSError):  # not written yet: that worker is starting
                    found.append((index, metrics_file(self.folder, index).read_text()))
        return found

    async def publish(self) -> None:
        data = self.metrics.render()
        await asyncio.to_thread(write_atomic, metrics_file(self.folder, self.index), data)

    async def _run(self) -> None:
        while True:
            try:
                await self.publish()
            except OSError as exc:
                log.warning("worker_metrics_write_failed", reason=str(exc))
            await asyncio.sleep(self.interval)  # a periodic snapshot for the other workers

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="worker-metrics")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
