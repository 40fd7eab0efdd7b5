"""Prove the release artefacts as a user would get them: ``python -m scripts.check_release``.

1. Build the sdist and the wheel from a clean copy of the sources (``uv build``, build isolation:
   the declared ``build-system.requires`` must be enough).
2. ``twine check --strict`` both; the sdist holds the package and its metadata but no test tree;
   both carry the LICENSE and the SPDX license expression.
3. A fresh virtual environment with only Airflow (pinned by ``requirements/test-latest.txt``) and
   the wheel with its extras; there, ``airflow providers list`` shows the provider, its
   documentation link (the Providers page's) is the address the docs site is published at
   (mkdocs.yml ``site_url``), every module imports, the emulator's command line answers
   ``--help``, and the example DAGs parse.

Everything goes under ``.release/`` (``dist/`` holds the artefacts). Exits non-zero on the first
failure, printing what was run and its output.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".release"
DIST = OUT / "dist"
VENV = OUT / "venv"
UV = str(Path(sys.executable).with_name("uv"))
EXTRAS = "emulator,testing,openlineage"
PROVIDER = "airflow-provider-voucherify"
PACKAGE = "airflow_provider_voucherify"

# Run inside the fresh environment: import every module, parse the example DAGs.
SMOKE = """
import importlib, json, pkgutil, sys
import airflow_provider_voucherify as package
modules = [package.__name__]
for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
    importlib.import_module(info.name)
    modules.append(info.name)
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({"modules": modules, "dags": sorted(bag.dag_ids),
                  "import_errors": {k: v[-500:] for k, v in bag.import_errors.items()},
                  "file": package.__file__}))
"""


# Run inside the fresh environment: the documentation link Airflow's Providers page shows.
DOCS_LINK = f"""
import json
from airflow.providers_manager import ProvidersManager
print(json.dumps(ProvidersManager().providers[{PROVIDER!r}].data["documentation-url"]))
"""


class ReleaseCheckError(RuntimeError):
    pass


def run(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> str:
    print("$", " ".join(args), flush=True)
    result = subprocess.run(  # noqa: S603 - our own fixed commands
        args, capture_output=True, text=True, env=env, cwd=cwd, check=False, timeout=600
    )
    if result.returncode != 0:
        output = f"{result.stdout}\n{result.stderr}"
        raise ReleaseCheckError(f"{' '.join(args)} exited {result.returncode}:\n{output}")
    return result.stdout


def check(condition: bool, message: str) -> None:
    if not condition:
        raise ReleaseCheckError(message)


def build() -> tuple[Path, Path]:
    shutil.rmtree(DIST, ignore_errors=True)
    run(UV, "build", "--quiet", "--sdist", "--wheel", "--out-dir", str(DIST), "--no-build-logs", str(ROOT))
    (sdist,) = DIST.glob("*.tar.gz")
    (wheel,) = DIST.glob("*.whl")
    run(sys.executable, "-m", "twine", "check", "--strict", str(sdist), str(wheel))
    return sdist, wheel


def check_contents(sdist: Path, wheel: Path) -> None:
    with tarfile.open(sdist) as tar:
        names = [name.split("/", 1)[1] for name in tar.getnames() if "/" in name]
    required_files = ("LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml", f"{PACKAGE}/py.typed")
    for required in required_files:
        check(required in names, f"the sdist lacks {required}")
    shipped_tests = [name for name in names if name.startswith(("tests/", "dags/", "scripts/", "docs/"))]
    check(not shipped_tests, f"the sdist ships files outside the package: {shipped_tests[:5]}")
    with zipfile.ZipFile(wheel) as whl:
        names = whl.namelist()
        (metadata_name,) = [name for name in names if name.endswith(".dist-info/METADATA")]
        metadata = whl.read(metadata_name).decode()
    check(any(name.endswith(".dist-info/licenses/LICENSE") for name in names), "the wheel lacks its LICENSE")
    outside = [name for name in names if not name.startswith("airflow_provider_voucherify")]
    check(not outside, f"the wheel ships other files: {outside[:5]}")
    for line in (
        "License-Expression: Apache-2.0",
        "Provides-Extra: emulator",
        "Provides-Extra: testing",
        "Provides-Extra: openlineage",
        "Classifier: Typing :: Typed",
    ):
        check(line in metadata, f"the wheel's METADATA lacks {line!r}")
    check("Project-URL: Documentation," in metadata, "the wheel's METADATA has no Documentation URL")
    for tool in ("ruff", "mypy", "psutil"):
        check(f"Requires-Dist: {tool}" not in metadata, f"{tool} is a published dependency")


def install(wheel: Path) -> dict[str, str]:
    shutil.rmtree(VENV, ignore_errors=True)
    run(UV, "venv", "--quiet", "--python", sys.executable, str(VENV))
    python = str(VENV / "bin" / "python")
    run(
        UV, "pip", "install", "--quiet", "--python", python,
        "-c", str(ROOT / "requirements" / "test-latest.txt"),
        "-c", str(ROOT / "requirements" / "openlineage.txt"),
        "apache-airflow", f"{PROVIDER}[{EXTRAS}] @ {wheel.as_uri()}",
    )  # fmt: skip
    home = OUT / "airflow-home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    return {
        "PATH": f"{VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": os.environ.get("HOME", str(home)),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
    }


def site_url() -> str:
    """mkdocs.yml's ``site_url``: where ``make docs-publish`` puts the documentation site."""
    for line in (ROOT / "mkdocs.yml").read_text().splitlines():
        if line.startswith("site_url:"):
            return line.partition(":")[2].strip()
    raise ReleaseCheckError("mkdocs.yml has no site_url")


def check_installed(env: dict[str, str]) -> None:
    python = str(VENV / "bin" / "python")
    providers = json.loads(run(python, "-m", "airflow", "providers", "list", "--output", "json", env=env))
    ours = [p for p in providers if p.get("package_name") == PROVIDER]
    check(len(ours) == 1, f"`airflow providers list` does not show {PROVIDER}: {providers}")
    link = json.loads(run(python, "-c", DOCS_LINK, env=env, cwd=OUT).strip().splitlines()[-1])
    site = site_url()
    check(link == site, f"the Providers page links to {link!r}, the docs are published at {site!r}")
    usage = run(python, "-m", "airflow_provider_voucherify.emulator", "--help", env=env, cwd=OUT)
    check("--orders-per-second" in usage, "the emulator's --help shows no options")
    # From OUT, not ROOT: the checkout's package must not shadow the installed one.
    output = run(python, "-c", SMOKE, str(ROOT / "dags"), env=env, cwd=OUT)
    smoke = json.loads(output.strip().splitlines()[-1])
    check(str(VENV) in smoke["file"], f"imported the checkout, not the wheel: {smoke['file']}")
    check(not smoke["import_errors"], f"example DAGs fail to parse: {smoke['import_errors']}")
    check(
        {"voucherify_import_file", "voucherify_orders_backfill"} <= set(smoke["dags"]),
        f"example DAGs missing: {smoke['dags']}",
    )
    print(f"{len(smoke['modules'])} modules imported; DAGs parsed: {', '.join(smoke['dags'])}")


def main() -> int:
    try:
        sdist, wheel = build()
        check_contents(sdist, wheel)
        check_installed(install(wheel))
    except ReleaseCheckError as exc:
        print(f"release check FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"release check passed: {sdist.name}, {wheel.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
