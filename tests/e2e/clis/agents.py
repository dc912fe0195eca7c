"""How each real CLI is run one-shot against the gateway: its own HOME and config, stdin from
/dev/null, a timeout, JSON output, and how its final answer is read from that output.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tools.clis import binary, missing_reason

from .gateway import CLIENT_KEYS

TIMEOUT = 60.0  # seconds per CLI run; a healthy run takes 1-10 s


@dataclass
class Run:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def describe(self) -> str:
        return (
            f"{' '.join(self.argv)}\nexit {self.returncode} after {self.seconds:.1f} s\n"
            f"stdout:\n{self.stdout[-4000:]}\nstderr:\n{self.stderr[-4000:]}"
        )


def require(name: str) -> Path:
    """The pinned CLI binary, or a skip that says how to install it."""
    path = binary(name)
    if path is None:
        pytest.skip(missing_reason(name))
    return path


def _base_env(home: Path) -> dict[str, str]:
    # A clean environment: nothing from the developer's own CLI set-up may leak in.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}
    env["TMPDIR"] = str(home / "tmp")
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    return env


def claude_command(base_url: str, model: str, prompt: str, home: Path) -> tuple[list, dict]:
    env = _base_env(home) | {
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": CLIENT_KEYS["claude"],
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    argv = [str(require("claude")), "-p", prompt, "--output-format", "json", "--model", model]
    return argv, env


def codex_command(base_url: str, model: str, prompt: str, home: Path) -> tuple[list, dict]:
    codex_home = home / ".codex"
    codex_home.mkdir(parents=True, exist_ok=True)
    (codex_home / "config.toml").write_text(
        f'model = "{model}"\n'
        'model_provider = "gateway"\n'
        "[model_providers.gateway]\n"
        'name = "gateway"\n'
        f'base_url = "{base_url}/v1"\n'
        'env_key = "GATEWAY_API_KEY"\n'
        'wire_api = "responses"\n'
    )
    env = _base_env(home) | {"CODEX_HOME": str(codex_home), "GATEWAY_API_KEY": CLIENT_KEYS["codex"]}
    argv = [str(require("codex")), "exec", "--json", "--skip-git-repo-check", prompt]
    return argv, env


def gemini_command(base_url: str, model: str, prompt: str, home: Path) -> tuple[list, dict]:
    settings = home / ".gemini" / "settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"security": {"auth": {"selectedType": "gemini-api-key"}}}))
    env = _base_env(home) | {
        "GOOGLE_GEMINI_BASE_URL": base_url,
        "GEMINI_API_KEY": CLIENT_KEYS["gemini"],
        # Skip the self-relaunch with a bigger heap: it doubles start-up time.
        "GEMINI_CLI_NO_RELAUNCH": "true",
    }
    argv = [str(require("gemini")), "-m", model, "-p", prompt, "--output-format", "json"]
    return [*argv, "--skip-trust"], env


COMMANDS = {"claude": claude_command, "codex": codex_command, "gemini": gemini_command}


async def run_cli(
    name: str, base_url: str, model: str, prompt: str, home: Path, cwd: Path | None = None
) -> Run:
    """Run CLI `name` once; the proxy lives in this event loop, so never block it."""
    home.mkdir(parents=True, exist_ok=True)
    argv, env = COMMANDS[name](base_url, model, prompt, home)
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=str(cwd or home),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # so a timeout can end the CLI's children too
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    except TimeoutError:
        os.killpg(proc.pid, 9)
        out, err = await proc.communicate()
        run = Run(argv, -9, out.decode(errors="replace"), err.decode(errors="replace"), TIMEOUT)
        raise AssertionError(f"{name} timed out\n{run.describe()}") from None
    assert proc.returncode is not None
    return Run(
        argv,
        proc.returncode,
        out.decode(errors="replace"),
        err.decode(errors="replace"),
        time.monotonic() - started,
    )


def final_answer(name: str, run: Run) -> str:
    """The CLI's own final answer, from its JSON output."""
    assert run.returncode == 0, run.describe()
    if name == "codex":
        # JSON lines; the answer is the last completed agent_message item.
        messages = [
            event["item"]["text"]
            for event in map(json.loads, filter(None, run.stdout.splitlines()))
            if event.get("type") == "item.completed"
            and event["item"].get("type") == "agent_message"
        ]
        assert messages, run.describe()
        return str(messages[-1])
    result: dict[str, Any] = json.loads(run.stdout)
    if name == "claude":
        assert result.get("is_error") is False, run.describe()
        return str(result["result"])
    return str(result["response"])
