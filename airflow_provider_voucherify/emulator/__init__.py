"""A local Voucherify API emulator: a real HTTP server with the API's import semantics.

Run it with ``python -m airflow_provider_voucherify.emulator --port 8000 --db emulator.db``; tests use
:mod:`airflow_provider_voucherify.emulator.testing`. It implements the API's rules on its own (it does
not import the provider's models), so it can catch client bugs, and it does not import Airflow.
"""
