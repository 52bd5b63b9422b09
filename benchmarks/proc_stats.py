"""What the benchmarks read from /proc (Linux): a process's peak memory, the peak of
every process under a root (dbt's child labelled apart), and the machine's busy CPU
time (to tell whether other work disturbed a timing). Each reader returns 0 where
/proc has nothing."""

from __future__ import annotations

import os
import threading
from pathlib import Path


def status_kb(pid: int, field: str = "VmHWM") -> int:
    """A /proc/<pid>/status field in kB (VmHWM: the peak resident set)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def watch_peaks(root: int, peaks: dict[str, int], done: threading.Event,
                other_label: str = "main") -> None:
    """Sample the peak RSS (VmHWM) of each process under `root` every 0.05 s until
    `done`: labelled 'dbt' (a dbt child) or `other_label` (everything else). Run it in a
    thread beside the command; ru_maxrss cannot do this, since a forked child counts
    its parent's pages."""
    while not done.is_set():
        pending, seen = [root], []
        while pending:
            pid = pending.pop()
            seen.append(pid)
            try:
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                children = []
            pending += [int(c) for c in children]
        for pid in seen:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            label = "dbt" if b"dbt.cli.main" in cmdline else other_label
            peaks[label] = max(peaks.get(label, 0), status_kb(pid))
        done.wait(0.05)


def busy_cpu_seconds() -> float:
    """CPU time all processes of the machine have used since boot (/proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
