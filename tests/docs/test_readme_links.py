"""The README is the package's long description: on a package index a relative link is dead, so every
link is absolute, to the documentation site (mkdocs.yml ``site_url``) or to a file of the repository
(``repo_url``), and names a page or file that exists."""

from __future__ import annotations

import re

from tests.docs.blocks import ROOT

LINK = re.compile(r"\]\(([^)\s]+)\)")


def _setting(name: str) -> str:
    (value,) = re.findall(rf"^{name}: (\S+)$", (ROOT / "mkdocs.yml").read_text(), re.M)
    return value


def test_every_readme_link_is_absolute_and_names_something_that_exists() -> None:
    site, blob = _setting("site_url"), _setting("repo_url") + "/blob/main/"
    links = LINK.findall((ROOT / "README.md").read_text())
    assert links, "the README links nowhere"
    relative = [link for link in links if not re.match(r"(https?|mailto):", link)]
    assert relative == []
    for link in links:
        target = link.partition("#")[0]
        if target.startswith(blob):
            assert (ROOT / target.removeprefix(blob)).is_file(), link
        elif target.startswith(site):
            page = target.removeprefix(site).rstrip("/") or "index"
            assert (ROOT / "docs" / f"{page}.md").is_file(), link
