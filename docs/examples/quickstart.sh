#!/usr/bin/env bash
# The getting-started guide (docs/getting-started.md) as one script; tests/docs/test_quickstart.py
# runs it. Needs the provider installed with its `emulator` extra, and curl.
set -euo pipefail
cd "$(dirname "$0")/../.."  # the root of the checkout

# --8<-- [start:setup]
PORT="${PORT:-8000}"                          # the emulator's port
WORK="${WORK:-$PWD/voucherify-quickstart}"    # a scratch directory for this walk-through
mkdir -p "$WORK/dags"
# --8<-- [end:setup]

# --8<-- [start:emulator]
python -m airflow_provider_voucherify.emulator --port "$PORT" --db "$WORK/emulator.db" &
EMULATOR_PID=$!
trap 'kill "$EMULATOR_PID"' EXIT
# Ready within 10 seconds:
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/_emulator/health" >/dev/null && break; sleep 0.1; done
# --8<-- [end:emulator]

# --8<-- [start:airflow]
export AIRFLOW_HOME="$WORK/airflow"
export AIRFLOW__CORE__DAGS_FOLDER="$WORK/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW_CONN_VOUCHERIFY_DEFAULT='{"conn_type": "voucherify", "host": "http://127.0.0.1:'"$PORT"'",
    "login": "emulator-app-id", "password": "emulator-app-token"}'
export AIRFLOW__CORE__TEST_CONNECTION=Enabled  # lets `airflow connections test` and the UI button run
airflow db migrate >/dev/null
airflow connections test voucherify_default
# --8<-- [end:airflow]

# --8<-- [start:run]
cp docs/examples/voucherify_quickstart.py "$WORK/dags/"
cp docs/examples/orders.jsonl "$WORK/orders.jsonl"
airflow dags test voucherify_quickstart --conf '{"orders": "'"$WORK/orders.jsonl"'"}'
# --8<-- [end:run]

# --8<-- [start:check]
curl -s "http://127.0.0.1:$PORT/v1/orders/ORD-2024-0001" \
    -H "X-App-Id: emulator-app-id" -H "X-App-Token: emulator-app-token"
# --8<-- [end:check]
