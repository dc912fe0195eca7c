"""Copy the dashboard's front-end libraries from node_modules into its static vendor folder.

`make install` runs `npm ci` (versions pinned by package-lock.json) and then this; the copied
files are git-ignored and served by the dashboard itself, so nothing loads from a CDN.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
VENDOR = ROOT / "services" / "dashboard" / "static" / "vendor"

# source in node_modules -> name under static/vendor/
FILES = {
    "htmx.org/dist/htmx.min.js": "htmx.min.js",
    "chart.js/dist/chart.umd.min.js": "chart.umd.min.js",
    "htmx.org/LICENSE": "htmx.LICENSE.txt",
    "chart.js/LICENSE.md": "chart.js.LICENSE.md",
}


def copy_assets(node_modules: Path = NODE_MODULES, vendor: Path = VENDOR) -> list[Path]:
    """Copy every file of FILES; raises FileNotFoundError naming the first one missing."""
    vendor.mkdir(parents=True, exist_ok=True)
    copied = []
    for source, name in FILES.items():
        path = node_modules / source
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: run `npm ci` first")
        copied.append(Path(shutil.copyfile(path, vendor / name)))
    return copied


def main() -> int:
    try:
        copied = copy_assets()
    except FileNotFoundError as exc:
        print(f"assets: {exc}", file=sys.stderr)
        return 1
    print(f"assets: copied {len(copied)} files into {VENDOR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
