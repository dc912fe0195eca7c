"""A stand-in `docker` for manage.sh tests: logs its argv as JSON lines, and runs the
commands that matter here against local resources instead of containers.

- `docker compose version` succeeds.
- `compose exec -T postgres CMD...` runs CMD locally with the postgres container's variables
  (POSTGRES_USER, POSTGRES_DB) and libpq's PGHOST/PGPORT pointing at a local cluster.
- `compose exec -T dashboard CMD...` runs CMD locally (from the repository root) with the
  variables of the --env-file compose was given and DATABASE_URL=$STUB_DATABASE_URL; it
  fails when that is unset.
- `compose run ... --entrypoint X proxy ARGS...` runs X ARGS locally, with the proxy's
  volume root /var/lib/gateway mapped to $STUB_PROXY_ROOT.
- `compose pull ...` prints $STUB_PULL_ERROR to stderr and fails when that is set (what
  compose prints when the registry cannot be reached).
- Swarm (`manage.sh stack-*`): `info` says this engine is an active manager with node id
  n1, `node ls` lists n1 without labels, `service ls` lists the services of
  $STUB_SERVICES (comma list of `name replicas`), `service ps` says its task is Complete, and
  `stack deploy` also logs the variables the stack file reads (DATABASE_URL, the secrets).
- anything else succeeds without doing anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

_GLOBAL_WITH_VALUE = {"-f", "--file", "--project-directory", "--env-file", "-p", "--project-name"}


def _subcommand(args: list[str]) -> list[str]:
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] in _GLOBAL_WITH_VALUE else 1
    return args[i:]


def _env_file(args: list[str]) -> dict[str, str]:
    """The variables of the --env-file compose was given (KEY=VALUE lines)."""
    path = args[args.index("--env-file") + 1]
    with open(path) as env_file:
        lines = env_file.read().splitlines()
    pairs = (line.split("=", 1) for line in lines if "=" in line)
    return {k: v for k, v in pairs if not k.startswith("#")}


def _exec_dashboard(args: list[str], command: list[str]) -> int:
    if "STUB_DATABASE_URL" not in os.environ:
        return 1
    env = dict(os.environ) | _env_file(args) | {"DATABASE_URL": os.environ["STUB_DATABASE_URL"]}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    return subprocess.call([sys.executable, *command[1:]], env=env, cwd=root)


def _exec(sub: list[str], args: list[str]) -> int:
    rest = [a for a in sub[1:] if a != "-T"]
    service, command = rest[0], rest[1:]
    if service == "dashboard":
        return _exec_dashboard(args, command)
    if service != "postgres":
        return 0
    env = dict(os.environ) | {
        "POSTGRES_USER": os.environ["STUB_PGUSER"],
        "POSTGRES_DB": os.environ["STUB_PGDATABASE"],
        "PGHOST": os.environ["STUB_PGHOST"],
        "PGPORT": os.environ["STUB_PGPORT"],
    }
    return subprocess.call(command, env=env)


def _run(sub: list[str]) -> int:
    i, entrypoint = 1, None
    while sub[i].startswith("-"):
        if sub[i] == "--entrypoint":
            entrypoint = sub[i + 1]
            i += 2
        else:
            i += 1
    service, args = sub[i], sub[i + 1 :]
    if service != "proxy" or entrypoint is None:
        return 0
    root = os.environ["STUB_PROXY_ROOT"]
    command = [a.replace("/var/lib/gateway", root) for a in [entrypoint, *args]]
    return subprocess.call(command)


_STACK_READS = ("DATABASE_URL", "POSTGRES_PASSWORD", "JWT_SECRET", "GATEWAY_IMAGE")


def _swarm(args: list[str]) -> int:
    if args[0] == "info":
        print("n1" if "NodeID" in args[-1] else "active true")
    elif args[:2] == ["node", "ls"]:
        print("n1")
    elif args[:2] == ["service", "ls"]:
        print("\n".join(os.environ.get("STUB_SERVICES", "").split(",")))
    elif args[:2] == ["service", "ps"]:
        print("Complete 2 seconds ago")
    elif args[:2] == ["stack", "deploy"]:
        seen = {name: os.environ.get(name) for name in _STACK_READS}
        with open(os.environ["STUB_LOG"], "a") as log:
            log.write(json.dumps({"env": seen}) + "\n")
    return 0


def main(args: list[str]) -> int:
    with open(os.environ["STUB_LOG"], "a") as log:
        log.write(json.dumps(args) + "\n")
    if args[:1] != ["compose"]:
        return _swarm(args) if args else 0
    if args[1:2] == ["version"]:
        print("Docker Compose version v5.6.1")
        return 0
    sub = _subcommand(args[1:])
    if sub[:1] == ["exec"]:
        return _exec(sub, args)
    if sub[:1] == ["run"]:
        return _run(sub)
    if sub[:1] == ["pull"] and os.environ.get("STUB_PULL_ERROR"):
        print(os.environ["STUB_PULL_ERROR"], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
