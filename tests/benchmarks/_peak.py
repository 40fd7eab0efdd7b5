"""The peak resident set size of a benchmark's child process: a function its script starts with."""

from __future__ import annotations

# VmHWM, the child's own peak. ru_maxrss would report the parent's RSS instead when that is higher
# (Linux carries it over through the fork and exec that started the child): a 400 MB pytest process
# starting a 13 MB child reads 413 MB in the child.
OWN_PEAK = """
def own_peak_kib():
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmHWM:")).split()[1])
"""
