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
    text = text_of_pages()
    pins = set(re.findall(r'pip install "apache-airflow==([^"$]+)"', text))
    pins |= set(re.findall(r"^AIRFLOW_VERSION=(\S+)$", text, re.M))
    tested = re.search(
        r"^apache-airflow==(\S+)$", (ROOT / "requirements" / "test-latest.txt").read_text(), re.M
    )
    assert tested
    assert pins == {tested.group(1)}


def test_every_install_of_airflow_is_against_its_constraints_file() -> None:
    """As Airflow's documentation installs it: unconstrained, an older Airflow resolves today's
    newest dependencies and may not even import."""
    lines = re.findall(r"^pip install [^\n]*apache-airflow==[^\n]*$", text_of_pages(), re.M)
    assert lines
    unconstrained = [line for line in lines if " -c " not in line]
    assert not unconstrained
    urls = set(re.findall(r'^CONSTRAINTS="([^"]+)"$', text_of_pages(), re.M))
    expected = "https://raw.githubusercontent.com/apache/airflow/constraints-${AIRFLOW_VERSION}"
    assert urls == {f"{expected}/constraints-${{PYTHON_VERSION}}.txt"}
