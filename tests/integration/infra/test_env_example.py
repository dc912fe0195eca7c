"""`.env.example` names every variable the stack reads, each with a comment, and each one set
there reaches the containers that read it.

"Read" means: interpolated by docker-compose.yml (or passed through by name), a build argument
of the Dockerfile, used by the container entrypoint, or a field of a service's settings class
(and a literal `os.environ` lookup in services/).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections import defaultdict
from pathlib import Path

import pytest
from pydantic import AliasChoices
from ruamel.yaml import YAML

import services
from services.core.settings import CoreSettings

from .stack import INFRA, REPO, SECRETS, compose_model

EXAMPLE = INFRA / ".env.example"
INTERPOLATION = re.compile(r"(?<!\$)\$\{?([A-Z_][A-Z0-9_]*)")
ENVIRON_LOOKUP = re.compile(
    r"""os\.(?:environ\.get|environ\[|getenv)\(?\s*["']([A-Z_][A-Z0-9_]*)"""
)
FIXED_HEADER = "# --- Set by docker-compose.yml"


def compose_reads() -> dict[str, str]:
    """Variables docker-compose.yml takes from the operator's environment or .env."""
    text = (INFRA / "docker-compose.yml").read_text()
    found = {name: "docker-compose.yml" for name in INTERPOLATION.findall(text)}
    for name, service in YAML(typ="safe").load(text)["services"].items():
        env = service.get("environment") or {}
        found |= {key: f"docker-compose.yml ({name})" for key, v in env.items() if v is None}
    return found


def dockerfile_reads() -> dict[str, str]:
    text = (INFRA / "Dockerfile").read_text()
    return {name: "Dockerfile ARG" for name in re.findall(r"(?m)^ARG\s+([A-Z_][A-Z0-9_]*)", text)}


def entrypoint_reads() -> dict[str, str]:
    text = (INFRA / "docker" / "entrypoint.sh").read_text()
    assigned = set(re.findall(r"(?m)^\s*([A-Z_][A-Z0-9_]*)=", text))
    return {n: "entrypoint.sh" for n in INTERPOLATION.findall(text) if n not in assigned}


def _settings_classes() -> list[type[CoreSettings]]:
    for module in pkgutil.walk_packages(services.__path__, "services."):
        if module.name.endswith(".settings"):
            importlib.import_module(module.name)
    found, todo = [], [CoreSettings]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def _env_name(field_name: str, alias: object) -> str:
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0]).upper()  # the documented name; the rest serve tests
    return (alias if isinstance(alias, str) else field_name).upper()


def _compose_service(module: str) -> str:
    """The compose service that runs the code of `module` (services.<name>.* or migrate)."""
    return "migrate" if module == "services.core.migrate" else module.split(".")[1]


def service_reads() -> dict[str, set[str]]:
    """Compose service -> the variables its code reads (settings fields, os.environ)."""
    reads: dict[str, set[str]] = defaultdict(set)
    classes = _settings_classes()
    for cls in classes:
        names = {_env_name(n, f.validation_alias) for n, f in cls.model_fields.items()}
        users = [c for c in classes if issubclass(c, cls) and c.__module__ != cls.__module__]
        for user in users or [cls]:
            reads[_compose_service(user.__module__)] |= names
    for path in Path(services.__path__[0]).rglob("*.py"):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts)
        for name in ENVIRON_LOOKUP.findall(path.read_text()):
            reads[_compose_service(module)].add(name)
    reads.pop("core", None)  # CoreSettings itself: its fields are counted in each service
    return reads


def stack_reads() -> dict[str, str]:
    found = compose_reads() | dockerfile_reads() | entrypoint_reads()
    for service, names in service_reads().items():
        for name in names:
            found.setdefault(name, f"services/{service} settings")
    return found


def documented() -> dict[str, str]:
    """Name -> "set" (NAME=), "optional" (# NAME=) or "fixed" (listed as set by compose)."""
    found: dict[str, str] = {}
    fixed = False
    for line in EXAMPLE.read_text().splitlines():
        fixed = fixed or line.startswith(FIXED_HEADER)
        if match := re.match(r"([A-Z_][A-Z0-9_]*)=", line):
            found[match[1]] = "set"
        elif match := re.match(r"# ([A-Z_][A-Z0-9_]*)=", line):
            found[match[1]] = "optional"
        elif fixed and (match := re.match(r"#   ([A-Z_][A-Z0-9_]*)\s+\S", line)):
            found[match[1]] = "fixed"
    return found


def test_every_variable_the_stack_reads_is_in_env_example():
    """POSTGRES_USER and POSTGRES_DB were read by the compose file but not listed."""
    reads, listed = stack_reads(), documented()
    missing = {name: source for name, source in reads.items() if name not in listed}
    assert missing == {}, f"read by the stack but not in .env.example: {missing}"


def test_env_example_lists_only_what_the_stack_reads():
    stale = set(documented()) - set(stack_reads())
    assert stale == set(), f"in .env.example but read by nothing: {sorted(stale)}"


def _is_explanation(line: str) -> bool:
    return (
        line.startswith("#")
        and not line.startswith("# ---")
        and not re.match(r"# [A-Z_][A-Z0-9_]*=", line)
        and line.strip() != "#"
    )


def test_each_variable_has_a_comment():
    """Every NAME= or # NAME= line has an explanation in the comment block above it."""
    lines = EXAMPLE.read_text().splitlines()
    for index, line in enumerate(lines):
        match = re.match(r"(?:# )?([A-Z_][A-Z0-9_]*)=", line)
        if not match:
            continue
        above = []
        for previous in reversed(lines[:index]):
            if not previous.strip() or previous.startswith("# ---"):
                break
            above.append(previous)
        assert any(_is_explanation(p) for p in above), f"{match[1]} has no comment"


def test_the_variables_compose_sets_itself_are_literal_there(tmp_path):
    """What .env.example lists as set by docker-compose.yml is indeed fixed there."""
    env = tmp_path / ".env"
    env.write_text(_filled_example({}))
    model = compose_model(env)
    fixed = {name for name, kind in documented().items() if kind == "fixed"}
    for service, names in service_reads().items():
        for name in names & fixed:
            if name == "CONFIG_PATH":  # the proxy gets it as --config
                assert "--config" in model["services"][service]["command"]
                continue
            value = model["services"][service]["environment"].get(name)
            assert value, f"{service} reads {name}, which .env.example says compose sets"


def _filled_example(values: dict[str, str]) -> str:
    """.env.example with real secrets, optional lines switched on where `values` has them."""
    out = []
    for line in EXAMPLE.read_text().splitlines():
        match = re.match(r"(?:# )?([A-Z_][A-Z0-9_]*)=", line)
        if match and match[1] in values:
            line = f"{match[1]}={values[match[1]]}"
        elif match and match[1] in SECRETS:
            line = f"{match[1]}={'ab' * 32}"
        out.append(line)
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def sentinel_model(tmp_path_factory) -> tuple[dict, dict[str, str]]:
    """The compose model with every settable variable a service reads set to a marker."""
    settable = {n for n, kind in documented().items() if kind != "fixed"}
    read_by_services = set().union(*service_reads().values())
    values = {name: f"set-{name.lower()}" for name in settable & read_by_services}
    env = tmp_path_factory.mktemp("env") / ".env"
    env.write_text(_filled_example(values))
    return compose_model(env), values


def test_each_setting_in_env_example_reaches_the_containers_that_read_it(sentinel_model):
    model, values = sentinel_model
    for service, names in service_reads().items():
        environment = model["services"][service]["environment"]
        for name in names & set(values):
            assert environment.get(name) == values[name], f"{name} does not reach {service}"


def test_optional_settings_left_commented_out_are_not_passed(tmp_path):
    """A pass-through variable that .env leaves unset is not given to the container (the
    service's own default applies), rather than passed as an empty string."""
    env = tmp_path / ".env"
    env.write_text(_filled_example({}))
    collector = compose_model(env)["services"]["collector"]["environment"]
    assert collector.get("USAGE_RETENTION_MONTHS") is None
