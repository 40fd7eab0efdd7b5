"""The install lines of the README and the docs name what exists: this version's wheel, the
package's extras, and the Airflow release the test suite pins."""

from __future__ import annotations

import re
from importlib.metadata import metadata, version

from tests.docs.blocks import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]


def text_of_pages() -> str:
    return "\n".join(page.read_text(encoding="utf-8") for page in PAGES)


def test_the_wheel_named_is_this_version() -> None:
    wheels = set(re.findall(r"airflow_provider_voucherify-([^-\s]+)-py3-none-any\.whl", text_of_pages()))
    assert wheels == {version("airflow-provider-voucherify")}


def test_the_extras_named_exist() -> None:
    named = set(re.findall(r'pip install [^\n]*?"[^"\s]*\[([a-z,]+)\]"', text_of_pages()))
    extras = set(metadata("airflow-provider-voucherify").get_all("Provides-Extra") or [])
    assert named
    assert {extra for group in named for extra in group.split(",")} <= extras


def test_the_airflow_pinned_in_install_lines_is_the_tested_one() -> None:
    pins = set(re.findall(r'pip install "apache-airflow==([^"]+)"', text_of_pages()))
    tested = re.search(
        r"^apache-airflow==(\S+)$", (ROOT / "requirements" / "test-latest.txt").read_text(), re.M
    )
    assert tested
    assert pins == {tested.group(1)}
