"""Stand-ins for the official images the stack uses, built from Debian packages because Docker
Hub cannot be reached here. Each honours its official image's contract (docs/testing.md):
what our Dockerfile and docker-compose.yml rely on behaves the same.

A recipe is a package list for `mmdebstrap`, files and shell hooks applied to the root file
system, and the image settings (ENV, ENTRYPOINT, ...) of the official image. The root file
system is cached as a tarball under .cache/docker-standins/ (git-ignored), named by a hash of
everything that goes into it, so only a changed recipe is built again; each run imports the
tarballs into its engine and adds the settings with a metadata-only `docker build`.

    images = provide(engine)      # {"python": "llm-gateway-standin/python:3.11", ...}
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import shlex
import shutil
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.docker import budgets
from tests.docker.engine import Engine

REPO = Path(__file__).resolve().parents[2]
RECIPES = Path(__file__).with_name("recipes")
CACHE = Path(os.environ.get("GATEWAY_TEST_STANDIN_CACHE", REPO / ".cache" / "docker-standins"))
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
SUITE = "bookworm"
# Files nobody reads in a container; leaving them out saves a third of each tarball.
_DPKG_EXCLUDES = (
    "path-exclude=/usr/share/doc/*", "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*", "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*", "path-include=/usr/share/locale/locale.alias",
)  # fmt: skip
# The registries are reached through a gateway whose CA only the host's bundle has.
_COPY_HOST_CA = f'cp {HOST_CA} "$1/etc/ssl/certs/ca-certificates.crt"'
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Download:
    """A file from a package registry, checked against its published integrity (sha512)."""

    url: str
    sha512: str  # base64, as in npm's `dist.integrity` without the "sha512-" prefix

    def fetch(self) -> Path:
        path = CACHE / "downloads" / self.url.rsplit("/", 1)[1]
        if path.exists() and self._digest(path.read_bytes()) == self.sha512:
            return path
        context = ssl.create_default_context(cafile=str(HOST_CA) if HOST_CA.exists() else None)
        with urllib.request.urlopen(self.url, timeout=120, context=context) as response:
            body = response.read()
        if self._digest(body) != self.sha512:
            raise RuntimeError(f"{self.url}: sha512 does not match the recipe")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        return path

    @staticmethod
    def _digest(body: bytes) -> str:
        return base64.b64encode(hashlib.sha512(body).digest()).decode()


@dataclass(frozen=True)
class Recipe:
    name: str
    tag: str
    official: str  # the image this one stands in for
    packages: tuple[str, ...]
    hooks: tuple[str, ...] = ()  # mmdebstrap customize hooks ("$1" is the root file system)
    files: tuple[tuple[str, str, str], ...] = ()  # (file under recipes/, path in image, mode)
    downloads: tuple[Download, ...] = ()  # fetched on the host; hooks use {download0}, ...
    settings: tuple[str, ...] = ()  # Dockerfile lines after FROM (metadata only)

    def key(self) -> str:
        """Hash of everything that ends up in the tarball; a new hash means a new build."""
        digest = hashlib.sha256()
        digest.update(json.dumps([self.packages, self.hooks, self.files, _mirrors()]).encode())
        digest.update(repr(self.downloads).encode())
        for source, _, _ in self.files:
            digest.update((RECIPES / source).read_bytes())
        digest.update(HOST_CA.read_bytes() if HOST_CA.exists() else b"")
        digest.update(_mmdebstrap_version().encode())
        return digest.hexdigest()[:16]

    @property
    def tarball(self) -> Path:
        return CACHE / f"{self.name}-{self.key()}.tar"


PYTHON = Recipe(
    name="python",
    tag="llm-gateway-standin/python:3.11-bookworm",
    official="python:3.11-slim-bookworm",
    # As the official image: Debian's base plus ca-certificates, netbase and tzdata.
    packages=(
        "python3.11",
        "python3-venv",
        "python3-pip",
        "python-is-python3",
        "ca-certificates",
        "netbase",
        "tzdata",
        "passwd",
    ),
    hooks=(
        # The official image's pip installs into the system Python; Debian's refuses (PEP 668).
        'rm -f "$1/usr/lib/python3.11/EXTERNALLY-MANAGED"',
        _COPY_HOST_CA,
    ),
    settings=(
        "ENV LANG=C.UTF-8",
        "ENV PATH=" + _PATH,
        'CMD ["python3"]',
    ),
)

NODE = Recipe(
    name="node",
    tag="llm-gateway-standin/node:20-bookworm",
    official="node:20-bookworm-slim",
    packages=("nodejs", "ca-certificates", "netbase", "tzdata"),
    # npm as the official image has it: the registry's self-contained package under /usr/local.
    downloads=(
        Download(
            "https://registry.npmjs.org/npm/-/npm-10.9.4.tgz",
            "OnUG836FwboQIbqtefDNlyR0gTHzIfwRfE3DuiNewBvnMnWEpB0VEXwBlFVgqpNzIgYo/MHh3d2Hel/pszapAA==",
        ),
    ),
    hooks=(
        'mkdir -p "$1/usr/local/lib/node_modules/npm" "$1/usr/local/bin"',
        'tar -xzf {download0} -C "$1/usr/local/lib/node_modules/npm" --strip-components=1',
        'ln -s ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/local/bin/npm"',
        'ln -s ../lib/node_modules/npm/bin/npx-cli.js "$1/usr/local/bin/npx"',
        _COPY_HOST_CA,
    ),
    settings=(
        "ENV LANG=C.UTF-8",
        "ENV PATH=" + _PATH,
        # Debian's node keeps its built-in CA list unless told; the official one behaves alike,
        # but here the registries are only reached through the host's CA.
        "ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt",
        'CMD ["node"]',
    ),
)

POSTGRES = Recipe(
    name="postgres",
    tag="llm-gateway-standin/postgres:15-bookworm",
    official="postgres:16-alpine",
    packages=("postgresql-15", "tzdata"),
    files=(("postgres/docker-entrypoint.sh", "/usr/local/bin/docker-entrypoint.sh", "0755"),),
    hooks=(
        # Debian's package creates a cluster; the image creates its own on first start.
        'rm -rf "$1/var/lib/postgresql/15/main" "$1/etc/postgresql/15/main"',
        # As the official image: every new cluster listens on all interfaces.
        "sed -i \"s/^#listen_addresses = 'localhost'/listen_addresses = '*'/\" "
        '"$1/usr/share/postgresql/15/postgresql.conf.sample"',
        'chroot "$1" install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/data',
        'chroot "$1" install -d -o postgres -g postgres -m 3777 /var/run/postgresql',
        'mkdir -p "$1/docker-entrypoint-initdb.d"',
    ),
    settings=(
        "ENV LANG=C.UTF-8",
        "ENV PGDATA=/var/lib/postgresql/data",
        "ENV PATH=/usr/lib/postgresql/15/bin:" + _PATH,
        'VOLUME ["/var/lib/postgresql/data"]',
        'ENTRYPOINT ["docker-entrypoint.sh"]',
        "STOPSIGNAL SIGINT",
        "EXPOSE 5432",
        'CMD ["postgres"]',
    ),
)

_PERMISSIONS = {  # tecnativa/docker-socket-proxy's variables and their defaults
    "EVENTS": 1, "PING": 1, "VERSION": 1, "AUTH": 0, "BUILD": 0, "COMMIT": 0, "CONFIGS": 0,
    "CONTAINERS": 0, "DISTRIBUTION": 0, "EXEC": 0, "GRPC": 0, "IMAGES": 0, "INFO": 0,
    "NETWORKS": 0, "NODES": 0, "PLUGINS": 0, "POST": 0, "SECRETS": 0, "SERVICES": 0,
    "SESSION": 0, "SWARM": 0, "SYSTEM": 0, "TASKS": 0, "VOLUMES": 0, "ALLOW_START": 0,
    "ALLOW_STOP": 0, "ALLOW_RESTARTS": 0,
}  # fmt: skip

SOCKET_PROXY = Recipe(
    name="socket-proxy",
    tag="llm-gateway-standin/docker-socket-proxy:bookworm",
    official="tecnativa/docker-socket-proxy:latest",
    packages=("haproxy", "wget"),
    files=(("socket-proxy/haproxy.cfg", "/usr/local/etc/haproxy/haproxy.cfg", "0644"),),
    settings=(
        "ENV " + " ".join(f"{name}={value}" for name, value in _PERMISSIONS.items()),
        "ENV SOCKET_PATH=/var/run/docker.sock LOG_LEVEL=info",
        "EXPOSE 2375",
        'CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]',
    ),
)

RECIPES_BY_NAME = {r.name: r for r in (PYTHON, NODE, POSTGRES, SOCKET_PROXY)}


@functools.cache
def _mmdebstrap_version() -> str:
    if not shutil.which("mmdebstrap"):
        return "missing"
    out = subprocess.run(["mmdebstrap", "--version"], capture_output=True, text=True)
    return out.stdout.strip()


@functools.cache
def _mirrors() -> tuple[str, ...]:
    """The host's Debian sources as one-line entries (its mirror and security archive)."""
    entries = []
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for stanza in path.read_text().split("\n\n"):
            fields = dict(
                line.split(":", 1) for line in stanza.splitlines() if ":" in line and line[0] != "#"
            )
            fields = {k.strip(): v.strip() for k, v in fields.items()}
            if fields.get("Types") != "deb" or "debian" not in fields.get("URIs", ""):
                continue
            for suite in fields.get("Suites", "").split():
                entries.append(f"deb {fields['URIs'].split()[0]} {suite} {fields['Components']}")
    return tuple(entries) or (f"deb http://deb.debian.org/debian {SUITE} main",)


def _command(recipe: Recipe, target: Path) -> list[str]:
    downloads = {f"download{i}": str(d.fetch()) for i, d in enumerate(recipe.downloads)}
    hooks = [hook.format(**downloads) for hook in recipe.hooks]
    for source, path, mode in recipe.files:
        folder = path.rsplit("/", 1)[0]
        hooks += [f'mkdir -p "$1{folder}"', f"upload {RECIPES / source} {path}",
                  f'chmod {mode} "$1{path}"']  # fmt: skip
    return [
        "mmdebstrap", "--variant=essential", "--format=tar", "--dpkgopt=force-unsafe-io",
        *(f"--dpkgopt={option}" for option in _DPKG_EXCLUDES),
        "--include=" + ",".join(recipe.packages),
        *(f"--customize-hook={hook}" for hook in hooks),
        SUITE, str(target), *_mirrors(),
    ]  # fmt: skip


def build_tarball(recipe: Recipe) -> tuple[Path, bool]:
    """The recipe's root file system tarball: (path, built now). Built when not cached."""
    if recipe.tarball.exists():
        return recipe.tarball, False
    if not shutil.which("mmdebstrap"):
        raise RuntimeError("mmdebstrap is missing: apt-get install mmdebstrap (.ci/run does)")
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = recipe.tarball.with_suffix(f".partial-{os.getpid()}.tar")
    env = os.environ | {"TMPDIR": "/dev/shm"} if Path("/dev/shm").is_dir() else dict(os.environ)
    result = subprocess.run(_command(recipe, partial), capture_output=True, text=True, env=env)
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"mmdebstrap for {recipe.name} failed:\n{result.stderr[-3000:]}")
    partial.rename(recipe.tarball)  # atomic: a concurrent run sees all of it or nothing
    for stale in CACHE.glob(f"{recipe.name}-*.tar"):
        if stale != recipe.tarball and ".partial-" not in stale.name:
            stale.unlink(missing_ok=True)
    return recipe.tarball, True


def import_image(engine: Engine, recipe: Recipe, tarball: Path) -> None:
    """Import the root file system, then give it the official image's settings."""
    rootfs = f"{recipe.tag}-rootfs"
    engine.docker("import", str(tarball), rootfs)
    dockerfile = "\n".join([f"FROM {rootfs}", *recipe.settings]) + "\n"
    engine.docker("build", "-q", "-t", recipe.tag, "-", input=dockerfile.encode())


def provide(engine: Engine, recipes: Sequence[Recipe] = tuple(RECIPES_BY_NAME.values())) -> dict:
    """Every stand-in image in `engine`, tag by recipe name; records build and import times."""
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:  # two cores: mmdebstrap is CPU-bound
        built = dict(zip(recipes, pool.map(build_tarball, recipes), strict=True))
    tarballs = time.monotonic() - started
    cold = [r.name for r, (_, fresh) in built.items() if fresh]
    note = f"built: {', '.join(cold)}" if cold else "all cached"
    budgets.record("stand-in root file systems", tarballs, "s", note)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda r: import_image(engine, r, built[r][0]), recipes))
    budgets.record("stand-in images imported", time.monotonic() - started, "s")
    return {r.name: r.tag for r in recipes}


def describe(recipe: Recipe) -> str:
    """One line for docs and logs."""
    return f"{recipe.tag} stands in for {recipe.official}: {shlex.join(recipe.packages)}"
