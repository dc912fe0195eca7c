"""A deploy: pull the gateway image, run the migration with it, recreate the proxy and the
collector, each step logged in its `deploys` row; if a new container fails its health check,
every service recreated so far goes back to its old container.

Deploys run as background tasks of the replica that started them (the caller gets the id at
once); the partial unique index on `deploys` lets one run at a time across all replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

import docker.errors
import structlog

from services.core.db import Pool
from services.core.errors import AppError, Conflict, NotFound
from services.dashboard.accounts import audit
from services.dashboard.accounts.audit import Actor
from services.dashboard.containers import policy, stack
from services.dashboard.containers.engine import DockerLink
from services.dashboard.updates import check, recreate
from services.dashboard.updates.queries import deploys
from services.dashboard.updates.recreate import Swap

log = structlog.get_logger(__name__)


class Deployer:
    """Starts deploys and keeps their tasks referenced until they finish."""

    def __init__(self, pool: Pool, link: DockerLink, health_timeout_s: float = 120.0) -> None:
        self._pool = pool
        self._link = link
        self._health_timeout_s = health_timeout_s
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, trigger: str, actor: Actor, tag: str | None) -> int:
        """The new deploy's id; Conflict while another one runs anywhere."""
        image = await self._link.run(lambda c: self._target(c, tag))
        user = actor.user
        name = user.username if user else "webhook"
        async with self._pool.connection() as conn:
            deploy_id = await deploys.start(conn, trigger, user.id if user else None, name, image)
            if deploy_id is None:
                running = await deploys.running_id(conn)
                raise Conflict(
                    f"deploy {running} is still running",
                    code="deploy_running",
                    details={"deployId": running},
                )
            await audit.record(
                conn, actor, "DEPLOY_STARTED", "deploy", str(deploy_id),
                username=name, image=image, trigger=trigger,
            )  # fmt: skip
        task = asyncio.create_task(self._run(deploy_id, image, actor))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return deploy_id

    def _target(self, client: Any, tag: str | None) -> str:
        gateway = check.gateway_container(client, self._link.project)
        if gateway is None:
            raise NotFound("no proxy container in the stack to take the image from")
        return check.with_tag(str(gateway.attrs["Config"]["Image"]), tag)

    async def wait(self, timeout_s: float = 60.0) -> None:
        """Let running deploys finish (shutdown, tests)."""
        if self._tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*self._tasks), timeout_s)

    async def _run(self, deploy_id: int, image: str, actor: Actor) -> None:
        run = _Run(self._pool, self._link, deploy_id, image, self._health_timeout_s)
        try:
            status = await run.execute()
        except Exception as exc:  # a step failed: say which, and put the old containers back
            log.warning("deploy_failed", deploy=deploy_id, error=str(exc))
            message = exc.message if isinstance(exc, AppError) else f"{type(exc).__name__}: {exc}"
            await run.note("error", False, message)
            status = "rolled_back" if await run.roll_back() else "failed"
        async with self._pool.connection() as conn:
            await deploys.finish(conn, deploy_id, status)
            await audit.record(
                conn, actor, "DEPLOY_FINISHED", "deploy", str(deploy_id),
                username=actor.user.username if actor.user else "webhook", status=status,
            )  # fmt: skip
        log.info("deploy_finished", deploy=deploy_id, status=status)


class _Run:
    def __init__(
        self, pool: Pool, link: DockerLink, deploy_id: int, image: str, timeout_s: float
    ) -> None:
        self.pool, self.link, self.id, self.image = pool, link, deploy_id, image
        self.timeout_s = timeout_s
        self.switched: list[Swap] = []

    async def note(self, step: str, ok: bool | None, message: str) -> None:
        entry = {"at": datetime.now(UTC).isoformat(), "step": step, "ok": ok, "message": message}
        log.info("deploy_step", deploy=self.id, step=step, ok=ok, message=message)
        async with self.pool.connection() as conn:
            await deploys.add_step(conn, self.id, entry)

    async def execute(self) -> str:
        await self.note("pull", None, f"pulling {self.image}")
        image_id, fallback = await self.link.run(self._pull)
        await self.note("pull", True, fallback or f"{self.image} is image {image_id[7:19]}")
        await self._migrate(image_id)
        for service in policy.UPDATABLE:
            await self._recreate(service, image_id)
            if self.switched and self.switched[-1].failed:
                return "rolled_back" if await self.roll_back() else "failed"
        for swap in self.switched:
            await self.link.run(swap.commit)
        await self.note("done", True, "every service runs the new image")
        return "succeeded"

    def _pull(self, client: Any) -> tuple[str, str | None]:
        """The image id to deploy, and a note when it is the engine's copy, not a pulled one.

        Without registry access an image the operator loaded (`docker load`, a local build) can
        still be deployed: the step log says so, never silently."""
        repo, tag = check.split(self.image)
        try:
            return str(client.images.pull(repo, tag=tag).id), None
        except docker.errors.APIError as exc:
            try:
                local = client.images.get(self.image)
            except docker.errors.ImageNotFound:
                raise exc from None
            reason = check.short_reason(exc)
            return str(local.id), (
                f"the registry did not answer ({reason}); the engine has {self.image} as image"
                f" {str(local.id)[7:19]}: deploying that"
            )

    async def _migrate(self, image_id: str) -> None:
        found = await self.link.run(
            lambda c: stack.of_service(c, self.link.project, policy.MIGRATION_SERVICE)
        )
        if not found:
            return
        await self.note("migrate", None, "running the migration with the new image")
        ok, detail = await self.link.run(
            lambda c: recreate.run_once(c, found[0], self.image, self.timeout_s)
        )
        await self.note("migrate", ok, detail)
        if not ok:
            raise _StepFailed(f"the migration failed: {detail}")

    async def _recreate(self, service: str, image_id: str) -> None:
        found = await self.link.run(lambda c: stack.of_service(c, self.link.project, service))
        for old in found:
            if old.attrs["Image"] == image_id and old.status == "running":
                await self.note(service, True, f"{old.name} already runs this image")
                continue
            if not await self._swap(service, old):
                return

    async def _swap(self, service: str, old: Any) -> bool:
        """Replace one container; False when the new one did not become ready."""
        await self.note(service, None, f"recreating {old.name}")
        swap: Swap = await self.link.run(lambda c: recreate.prepare(c, old, self.image))
        self.switched.append(swap)  # from here on a rollback must see it, even if switch fails
        await self.link.run(swap.switch)
        ok, detail = await self.link.run(
            lambda c: recreate.wait_ready(c, swap.new_id, self.timeout_s)
        )
        if ok:
            await self.note(service, True, f"{old.name} is {detail} on the new image")
            return True
        tail = await self.link.run(lambda c: recreate.container_logs_tail(c, swap.new_id))
        swap.failed = True
        await self.note(service, False, f"{old.name}: {detail}" + (f" | {tail}" if tail else ""))
        return False

    async def _ready(self, container_id: str) -> tuple[bool, str]:
        return await self.link.run(lambda c: recreate.wait_ready(c, container_id, self.timeout_s))

    async def roll_back(self) -> bool:
        """Put back every old container switched out; True when there was any."""
        if not self.switched:
            return False
        for swap in reversed(self.switched):
            await self.note("rollback", None, f"restoring {swap.name}")
            await self.link.run(swap.rollback)
            ok, detail = await self._ready(swap.old_id)
            await self.note("rollback", ok, f"{swap.name} runs its old container again ({detail})")
        self.switched.clear()
        return True


class _StepFailed(AppError):
    code = "deploy_step_failed"
