"""A user's conftest.py for testing DAG files against the emulator (docs/emulator.md includes it;
tests/docs/test_dag_test_example.py runs it as a project of its own, with the quickstart DAG)."""

# --8<-- [start:conftest]
import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# Airflow reads its settings when it is first imported: set them before any test imports it.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="airflow-home-")  # a throw-away database
atexit.register(shutil.rmtree, os.environ["AIRFLOW_HOME"], ignore_errors=True)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).parent / "dags")  # your DAG files
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
# dag.test() records its run in Airflow's metadata database: create it once per session.
subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)

pytest_plugins = ["airflow_provider_voucherify.emulator.testing"]
# --8<-- [end:conftest]
