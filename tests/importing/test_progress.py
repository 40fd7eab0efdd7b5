from __future__ import annotations

from airflow_provider_voucherify.importing.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_with_a_known_total_gives_rate_and_eta() -> None:
    clock = Clock()
    progress = Progress(total=10_000, clock=clock)
    clock.now += 4
    assert (
        progress.describe(2, 4000, 4000) == "batch 2: 4000 orders sent of 10000 (1,000 orders/s, ETA 0m06s)"
    )


def test_progress_of_a_file_estimates_from_the_share_read() -> None:
    clock = Clock()
    progress = Progress(clock=clock)
    clock.now += 7200
    text = progress.describe(1, 2000, 2000, fraction=0.25)
    assert text == "batch 1: 2000 orders sent (0 orders/s, 25% of the input read, ETA 6h00m00s)"


def test_rate_counts_only_what_this_try_sent() -> None:
    clock = Clock()
    progress = Progress(total=6000, clock=clock)
    clock.now += 2
    assert progress.describe(3, 6000, 2000).startswith("batch 3: 6000 orders sent of 6000 (1,000 orders/s")
