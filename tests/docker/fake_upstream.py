"""An image of the repository's fake OpenAI upstream (tests/fakes/openai_upstream.py), built on
the stand-in Python base, to run as a container on a stack's network."""

from __future__ import annotations

import ast
import shutil
import tempfile
import tomllib
from pathlib import Path

from tests.docker.engine import Engine
from tests.docker.standins import RECIPES, REPO

TAG = "llm-gateway-test/fake-openai-upstream:latest"
PORT = 8080  # inside its container
MAIN = "tests/fakes/openai_upstream.py"
NEEDS = ("aiohttp", "orjson")  # what the fake imports besides the standard library and tests/


def modules(main: str = MAIN) -> list[str]:
    """`main` and every module of tests/ it imports, directly or not, with their packages."""
    found, todo = {"tests/__init__.py"}, [main]
    while todo:
        path = todo.pop()
        if path in found:
            continue
        found.add(path)
        for node in ast.walk(ast.parse((REPO / path).read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tests."):
                names = [f"{node.module}.{alias.name}" for alias in node.names]
                todo += [_path(n) for n in [node.module, *names] if (REPO / _path(n)).exists()]
            elif isinstance(node, ast.Import):
                todo += [_path(a.name) for a in node.names if a.name.startswith("tests.")]
    return sorted(found)


def _path(module: str) -> str:
    as_file = module.replace(".", "/") + ".py"
    return as_file if (REPO / as_file).exists() else module.replace(".", "/") + "/__init__.py"


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
        for module in modules():
            (root / module).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / module, root / module)
        engine.docker(
            "build", "-q", "-t", TAG, "--build-arg", f"PYTHON_IMAGE={python_image}",
            "--build-arg", f"PACKAGES={' '.join(locked_requirements())}", context,
        )  # fmt: skip
    return TAG
