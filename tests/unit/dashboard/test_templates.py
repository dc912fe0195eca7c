"""The template folders of the dashboard's packages: the Jinja loader searches them in order and
takes the first match, so a name defined twice would silently hide one of the pages."""

from __future__ import annotations

from collections import Counter

from services.dashboard.app import FEATURES, HERE, TEMPLATE_DIRS


def test_every_template_name_is_defined_once() -> None:
    names = Counter(
        path.relative_to(folder).as_posix()
        for folder in TEMPLATE_DIRS
        for path in folder.rglob("*.html")
    )
    assert names, "no templates found"
    assert [name for name, count in names.items() if count > 1] == []


def test_every_package_with_templates_is_searched() -> None:
    packages = {folder.parent.name for folder in HERE.glob("*/templates")}
    assert packages == {folder.parent.name for folder in TEMPLATE_DIRS} == {"web", *FEATURES}
