"""The provider in Airflow's own UI, in a real browser: Debian's Chromium, headless, via Selenium.

A real ``airflow api-server`` (with scheduler, DAG processor and triggerer) and the emulator run
as processes. The test logs in, creates a Voucherify connection through the form, presses Test
Connection, runs the one-off example DAG with that connection, and opens its import log.
Screenshots go to ``.test-output/ui/`` at the root of the checkout.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_voucherify import CONNECTION_FIELDS
from airflow_provider_voucherify.emulator.testing import EmulatorServer
from tests.e2e.airflow_cluster import AirflowCluster

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / ".test-output" / "ui"
USER, PASSWORD = "admin", "ui-test-password"
CONN_ID = "voucherify_ui"
DAG_ID = "voucherify_import_file"
WAIT = 120  # seconds a page may take to show what we wait for (a loaded machine is slow)

# Debian's packages (`make browser` installs them): the browser and its matching driver.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AirflowCluster]:
    """Airflow with the one-off example DAG only, a known admin user and connection tests on."""
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(ROOT / "dags" / f"{DAG_ID}.py", dags)
    home = tmp_path / "airflow"
    home.mkdir()
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({USER: PASSWORD}))
    # The suite's own Airflow settings (home, database, DAGs folder) must not leak into this one.
    for name in [name for name in os.environ if name.startswith("AIRFLOW")]:
        monkeypatch.delenv(name)
    airflow = AirflowCluster(
        home,
        {
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "VOUCHERIFY_POLL_INTERVAL": "1",
            # A browser, four Airflow processes and the emulator share a small machine.
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
        },
    )
    airflow.migrate()
    airflow.start()
    try:
        yield airflow
    finally:
        airflow.stop()


@pytest.fixture
def browser() -> Iterator[object]:
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        pytest.fail("Chromium and its driver are missing: `make browser` installs Debian's packages")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    # Every WebDriver call is logged at DEBUG with its whole answer (screenshots too): too much.
    logging.getLogger("selenium").setLevel(logging.INFO)
    logging.getLogger("urllib3").setLevel(logging.INFO)
    options = Options()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_connection_form_test_button_and_import_log(
    cluster: AirflowCluster, emulator: EmulatorServer, browser: object
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    assert isinstance(browser, WebDriver)
    driver = browser
    wait = WebDriverWait(driver, WAIT, poll_frequency=0.2)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    base = f"http://127.0.0.1:{cluster.port}"

    def shot(name: str) -> None:
        driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))

    def button(text: str) -> object:
        return wait.until(ec.element_to_be_clickable((By.XPATH, f"//button[normalize-space()='{text}']")))

    def body_shows(text: str) -> None:
        wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), text))

    cluster.wait_for("the API server to answer", lambda: _answers(base), timeout=180)

    # -- log in (SimpleAuthManager, a known user and password)
    driver.get(base + "/")
    wait.until(ec.visibility_of_element_located((By.NAME, "username"))).send_keys(USER)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(ec.visibility_of_element_located((By.XPATH, "//button[normalize-space()='Admin']")))

    # -- the connection form, from the provider's declared fields
    driver.get(base + "/connections")
    button("Add Connection").click()
    wait.until(ec.visibility_of_element_located((By.NAME, "connection_id"))).send_keys(CONN_ID)
    conn_type = driver.find_element(
        By.XPATH, "//label[starts-with(normalize-space(), 'Connection Type')]/following::input[1]"
    )
    conn_type.send_keys("Voucherify")
    body_shows("Voucherify")
    conn_type.send_keys(Keys.ENTER)
    wait.until(ec.visibility_of_element_located((By.NAME, "host")))
    dialog = driver.find_element(By.CSS_SELECTOR, "[role=dialog]")
    for label in ("Base URL or cluster", "Port (optional)", "Application ID", "Secret Key"):
        assert label in dialog.text, dialog.text
    assert not driver.find_elements(By.NAME, "schema"), "the schema field should be hidden"
    driver.find_element(By.NAME, "host").send_keys("http://127.0.0.1")
    driver.find_element(By.NAME, "port").send_keys(str(emulator.port))
    driver.find_element(By.NAME, "login").send_keys(emulator.app_id)
    driver.find_element(By.NAME, "password").send_keys(emulator.app_token)
    shot("connection-form")
    button("Extra Fields").click()
    # Every extra the provider declares (generated from the model that parses them) is in the form.
    for field in CONNECTION_FIELDS.values():
        body_shows(field["label"])
        body_shows(field["description"])
    retries = wait.until(ec.visibility_of_element_located((By.NAME, "element_max_retries")))
    retries.send_keys(Keys.CONTROL, "a")
    retries.send_keys("2")
    shot("connection-form-extras")
    button("Save").click()
    wait.until(ec.invisibility_of_element_located((By.CSS_SELECTOR, "[role=dialog]")))
    body_shows(CONN_ID)

    # -- Test Connection: one authenticated call to the emulator
    before = _requests(emulator, "GET /v1/async-actions")
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "button[aria-label='Test Connection']"))).click()
    wait.until(
        lambda _: "Test Connection Successful" in _body(driver) or "Test Connection Failed" in _body(driver)
    )
    shot("connection-test")
    assert f"Connected to {emulator.url} as application {emulator.app_id}" in _body(driver)
    assert _requests(emulator, "GET /v1/async-actions") == before + 1

    # -- a run of the one-off example DAG with that connection, and its import log
    cluster.wait_for(
        "the DAG to be parsed", lambda: cluster.query("SELECT 1 FROM dag WHERE dag_id = ?", DAG_ID), 180
    )
    conf = {"orders_path": str(ROOT / "docs" / "examples" / "orders.jsonl"), "voucherify_conn_id": CONN_ID}
    cluster.cli("dags", "trigger", DAG_ID, "--conf", json.dumps(conf), "--run-id", "ui_test")
    state = cluster.wait_for(
        "the DAG run to finish",
        lambda: [
            s
            for (s,) in cluster.query("SELECT state FROM dag_run WHERE run_id = 'ui_test'")
            if s not in ("queued", "running")
        ],
        timeout=300,
    )
    assert state == ["success"], cluster.logs()
    assert emulator.stats()["orders_stored"] == 2
    driver.get(f"{base}/dags/{DAG_ID}/runs/ui_test/tasks/import_orders")
    body_shows("Import summary")
    body_shows("'sent': 2")
    shot("import-log")
    assert emulator.app_token not in driver.page_source


def _body(driver: object) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.TAG_NAME, "body").text)  # type: ignore[attr-defined]


def _answers(base: str) -> bool:
    import httpx

    try:
        return httpx.get(base + "/api/v2/monitor/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _requests(server: EmulatorServer, route: str) -> int:
    return sum(int(n) for n in server.stats()["requests"].get(route, {}).values())
