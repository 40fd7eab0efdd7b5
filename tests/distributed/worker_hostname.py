"""``[core] hostname_callable`` of the distributed test: each Celery worker names its tasks' host.

Both workers run on this one machine; a distinct name per worker in ``task_instance.hostname``
tells which worker ran which try.
"""

from __future__ import annotations

import os
import socket

VARIABLE = "VOUCHERIFY_TEST_WORKER_HOSTNAME"


def hostname() -> str:
    return os.environ.get(VARIABLE) or socket.getfqdn()
