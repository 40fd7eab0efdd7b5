"""Prove the release artefacts as a user would get them: ``python -m scripts.check_release CELL=PYTHON...``.

1. Build the sdist and the wheel from a copy of the tracked sources (``git ls-files``; ``uv build``,
   build isolation: the declared ``build-system.requires`` must be enough).
2. ``twine check --strict`` both; the sdist holds the package and its metadata but no test tree;
   both carry the LICENSE and the SPDX license expression.
3. For each cell given (``py3.10-af3.1.8=/path/to/python3.10``): a fresh virtual environment on that
   Python, where the README's install commands (its Install section) run as written, with the
   cell's pins (``requirements/cells/``) standing in for Airflow's constraints URL, which this
   machine cannot download, and the built wheel found by name (``--find-links``). There,
   ``airflow providers list`` shows the provider, its documentation link (the Providers page's) is
   the address the docs site is published at (mkdocs.yml ``site_url``), the quickstart DAG runs
   against the emulator (``docs/examples/quickstart.sh``), and, with every extra added, every
   module imports and the example DAGs parse.
4. In one more fresh environment (the last cell's Python), the README's form for a git checkout:
   a clone of this repository's HEAD, installed from the clone; the provider imports from there.

Everything goes under ``.release/`` (``dist/`` holds the artefacts). Exits non-zero on the first
failure, printing what was run and its output.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".release"
DIST = OUT / "dist"
UV = str(Path(sys.executable).with_name("uv"))
EXTRAS = "emulator,testing,openlineage"
CONSTRAINTS_URL = "https://raw.githubusercontent.com/apache/airflow/constraints-"
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
try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 3.1
    from airflow.models.dagbag import DagBag
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


def run(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT, stdin: str | None = None) -> str:
    print("$", " ".join(args), flush=True)
    result = subprocess.run(  # noqa: S603 - our own fixed commands
        args, capture_output=True, text=True, env=env, cwd=cwd, check=False, timeout=600, input=stdin
    )
    if result.returncode != 0:
        output = f"{result.stdout}\n{result.stderr}"
        raise ReleaseCheckError(f"{' '.join(args)} exited {result.returncode}:\n{output}")
    return result.stdout


def check(condition: bool, message: str) -> None:
    if not condition:
        raise ReleaseCheckError(message)


def build() -> tuple[Path, Path]:
    """Build from a copy of the tracked files: no stray file of the checkout reaches the sdist, and the
    build (setuptools writes ``build/`` and ``*.egg-info`` beside the sources) never meets the
    editable installs that ``make test`` runs from the checkout at the same time."""
    shutil.rmtree(DIST, ignore_errors=True)
    source = OUT / "source"
    shutil.rmtree(source, ignore_errors=True)
    for name in run("git", "ls-files", "-z").split("\0"):
        if name and (ROOT / name).is_file():  # a tracked file deleted in the checkout is left out
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    run(UV, "build", "--quiet", "--sdist", "--wheel", "--out-dir", str(DIST), "--no-build-logs", str(source))
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


def readme_commands() -> tuple[str, str]:
    """The README's two install commands (its Install section's first two bash blocks): from the
    package index, and from a git checkout."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Install") :]
    section = section[: section.index("\n## ", 1)]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    check(len(blocks) >= 2, "README's Install section lacks its two bash blocks")
    index, checkout = blocks[0], blocks[1]
    check(CONSTRAINTS_URL in index, f"README's install does not name Airflow's constraints files: {index}")
    for block in (index, checkout):
        check('-c "${CONSTRAINTS}"' in block, f"README installs without constraints: {block}")
    # The checkout form uses the variables the first block sets.
    variables = "".join(line for line in index.splitlines(keepends=True) if not line.startswith("pip "))
    return index, variables + checkout


def as_here(commands: str, cell: str) -> str:
    """The README's commands, the way this machine can follow them: the cell's Airflow release, the
    cell's pins in place of the constraints URL, and ``pip`` run by uv, finding the built wheel."""
    airflow = cell.split("-af", 1)[1]
    pins = ROOT / "requirements" / "cells" / f"{cell}.txt"
    check(pins.exists(), f"no pins for {cell}: {pins} (make pins)")
    commands, replaced = re.subn(r"^AIRFLOW_VERSION=\S+$", f"AIRFLOW_VERSION={airflow}", commands, flags=re.M)
    commands, replaced_url = re.subn(r'^CONSTRAINTS=".*"$', f'CONSTRAINTS="{pins}"', commands, flags=re.M)
    check(replaced == replaced_url == 1, "README's Install no longer sets AIRFLOW_VERSION and CONSTRAINTS")
    pip = f'pip() {{ "{UV}" pip "$@" --quiet --python "$VIRTUAL_ENV/bin/python" --find-links "{DIST}"; }}'
    return f"set -euo pipefail\n{pip}\n{commands}"


def fresh_env(name: str, python: str) -> dict[str, str]:
    """A new virtual environment under .release/, and the environment variables of a shell in it."""
    venv = OUT / name
    shutil.rmtree(venv, ignore_errors=True)
    run(UV, "venv", "--quiet", "--python", python, str(venv))
    home = OUT / f"{name}-airflow-home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    # The user's environment (proxies, certificates), but none of Airflow's settings.
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    return {
        **inherited,
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "VIRTUAL_ENV": str(venv),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
    }


def install(cell: str, python: str, commands: str) -> dict[str, str]:
    env = fresh_env(f"venv-{cell}", python)
    run("bash", "-c", as_here(commands, cell), env=env, cwd=OUT)
    return env


def site_url() -> str:
    """mkdocs.yml's ``site_url``: where ``make docs-publish`` puts the documentation site."""
    for line in (ROOT / "mkdocs.yml").read_text().splitlines():
        if line.startswith("site_url:"):
            return line.partition(":")[2].strip()
    raise ReleaseCheckError("mkdocs.yml has no site_url")


def check_listed(env: dict[str, str]) -> None:
    python = str(Path(env["VIRTUAL_ENV"]) / "bin" / "python")
    providers = json.loads(run(python, "-m", "airflow", "providers", "list", "--output", "json", env=env))
    ours = [p for p in providers if p.get("package_name") == PROVIDER]
    check(len(ours) == 1, f"`airflow providers list` does not show {PROVIDER}: {providers}")


def check_installed(env: dict[str, str], cell: str) -> None:
    venv = Path(env["VIRTUAL_ENV"])
    python = str(venv / "bin" / "python")
    check_listed(env)
    # Airflow 3.1 keeps the space after the comma of METADATA's `Project-URL: Documentation, <url>`
    # (an href, which browsers trim).
    link = json.loads(run(python, "-c", DOCS_LINK, env=env, cwd=OUT).strip().splitlines()[-1]).strip()
    site = site_url()
    check(link == site, f"the Providers page links to {link!r}, the docs are published at {site!r}")
    run_quickstart(env, cell)
    # Every extra, against the same pins: every module imports, the example DAGs parse.
    pins = ROOT / "requirements" / "cells" / f"{cell}.txt"
    (wheel,) = DIST.glob("*.whl")
    run(
        UV,
        "pip",
        "install",
        "--quiet",
        "--python",
        python,
        "-c",
        str(pins),
        f"{PROVIDER}[{EXTRAS}] @ {wheel.as_uri()}",
    )
    usage = run(python, "-m", "airflow_provider_voucherify.emulator", "--help", env=env, cwd=OUT)
    check("--orders-per-second" in usage, "the emulator's --help shows no options")
    # From OUT, not ROOT: the checkout's package must not shadow the installed one.
    output = run(python, "-c", SMOKE, str(ROOT / "dags"), env=env, cwd=OUT)
    smoke = json.loads(output.strip().splitlines()[-1])
    check(str(venv) in smoke["file"], f"imported the checkout, not the wheel: {smoke['file']}")
    check(not smoke["import_errors"], f"example DAGs fail to parse: {smoke['import_errors']}")
    check(
        {"voucherify_import_file", "voucherify_orders_backfill"} <= set(smoke["dags"]),
        f"example DAGs missing: {smoke['dags']}",
    )
    print(f"{cell}: {len(smoke['modules'])} modules imported; DAGs parsed: {', '.join(smoke['dags'])}")


def run_quickstart(env: dict[str, str], cell: str) -> None:
    """docs/examples/quickstart.sh, from a copy of its files (run from the checkout, the emulator's
    ``python -m`` would import the checkout's package): the quickstart DAG imports its orders into
    the emulator."""
    copy = OUT / f"quickstart-{cell}"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(ROOT / "docs" / "examples", copy / "docs" / "examples")
    port = free_port()
    output = run("bash", str(copy / "docs" / "examples" / "quickstart.sh"), cwd=copy,
                 env={**env, "PORT": str(port), "WORK": str(copy / "work")})  # fmt: skip
    check("state=success" in output, f"the quickstart DAG did not succeed:\n{output[-3000:]}")
    stored = json.loads(output.strip().splitlines()[-1])
    check(
        stored.get("source_id") == "ORD-2024-0001",
        f"the emulator does not hold the quickstart's order: {stored}",
    )
    print(f"{cell}: the quickstart DAG imported its orders into the emulator")


def check_checkout_form(python: str, cell: str, commands: str) -> None:
    """The README's git-checkout form, with a clone of this repository's HEAD for the URL."""
    env = fresh_env("venv-checkout", python)
    clones = OUT / "clones"
    shutil.rmtree(clones, ignore_errors=True)
    clones.mkdir()
    # The clone keeps the name `git clone <URL>` gives it, so the README's `cd` finds it.
    clone = f"git clone --quiet {ROOT} {PROVIDER}"
    commands, cloned = re.subn(r"^git clone \S+", clone, commands, flags=re.M)
    check(cloned == 1, "README's checkout block no longer starts with git clone")
    run("bash", "-c", as_here(commands, cell), env=env, cwd=clones)
    python = str(Path(env["VIRTUAL_ENV"]) / "bin" / "python")
    where = run(python, "-c", f"import {PACKAGE}; print({PACKAGE}.__file__)", env=env, cwd=OUT).strip()
    check(where.startswith(env["VIRTUAL_ENV"]), f"the checkout form did not install the package: {where}")
    check_listed(env)
    print(f"the checkout form installs {PROVIDER} on {cell.split('-')[0]}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(argv: list[str]) -> int:
    cells = dict(arg.split("=", 1) for arg in argv)
    if not cells:
        print(
            "usage: python -m scripts.check_release py3.10-af3.1.8=/path/to/python3.10 ...", file=sys.stderr
        )
        return 2
    try:
        sdist, wheel = build()
        check_contents(sdist, wheel)
        index_form, checkout_form = readme_commands()
        for cell, python in cells.items():
            check_installed(install(cell, python, index_form), cell)
        check_checkout_form(python, cell, checkout_form)
    except ReleaseCheckError as exc:
        print(f"release check FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"release check passed: {sdist.name}, {wheel.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
