"""Which worker process this is, and the files each worker owns (docs/workers.md).

Worker 0 keeps the paths of a single-process proxy, so `workers: 1` is exactly today's layout
and a proxy that goes from N workers to one keeps its first outbox and cooldowns.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

WORKER_DIR_PREFIX = "worker-"


@dataclass(frozen=True, slots=True)
class WorkerSlot:
    index: int = 0
    count: int = 1

    @property
    def shared_port(self) -> bool:
        """Several processes listen on the port (SO_REUSEPORT)."""
        return self.count > 1

    def usage_dir(self, base: Path) -> Path:
        """This worker's own outbox: the usage folder for worker 0, a subfolder for the rest."""
        return base if self.index == 0 else base / f"{WORKER_DIR_PREFIX}{self.index}"

    def state_file(self, path: Path) -> Path:
        """A per-process state file: `cooldowns.json`, then `cooldowns-worker-1.json`, ..."""
        if self.index == 0:
            return path
        return path.with_name(f"{path.stem}-{WORKER_DIR_PREFIX}{self.index}{path.suffix}")


SINGLE = WorkerSlot()
