"""An image of the repository's fake OpenAI upstream (tests/fakes/openai_upstream.py), built on
the stand-in Python base, to run as a container on a stack's network."""

from __future__ import annotations

import shutil
import tempfile
import tomllib
from pathlib import Path

from tests.docker.engine import Engine
from tests.docker.standins import RECIPES, REPO

TAG = "llm-gateway-test/fake-openai-upstream:latest"
PORT = 8080  # inside its container
MODULES = ("tests/__init__.py", "tests/fakes/__init__.py", "tests/fakes/openai_upstream.py")
NEEDS = ("aiohttp", "orjson")  # what openai_upstream.py imports besides the standard library


def locked_requirements(roots: tuple[str, ...] = NEEDS) -> list[str]:
    """`name==version` for `roots` and everything they depend on, as uv.lock pins them."""
    packages = {p["name"]: p for p in tomllib.loads((REPO / "uv.lock").read_text())["package"]}
    wanted, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo.extend(dep["name"] for dep in packages[name].get("dependencies", []))
    return sorted(f"{name}=={packages[name]['version']}" for name in wanted)


def build(engine: Engine, python_image: str) -> str:
    """Build the image in `engine`; returns its tag."""
    with tempfile.TemporaryDirectory() as context:
        root = Path(context)
        shutil.copy(RECIPES / "fake-upstream" / "Dockerfile", root / "Dockerfile")
        for module in MODULES:
            (root / module).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / module, root / module)
        engine.docker(
            "build", "-q", "-t", TAG, "--build-arg", f"PYTHON_IMAGE={python_image}",
            "--build-arg", f"PACKAGES={' '.join(locked_requirements())}", context,
        )  # fmt: skip
    return TAG
