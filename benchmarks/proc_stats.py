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


def _tree(root: int) -> list[tuple[int, bool]]:
    """(pid, is a dbt run) of `root` and every process under it. A dbt run is a process
    started as `dbt.cli.main`, or a fork of neurostock's dbt fork server (its parent's
    command line is the server's)."""
    out, pending = [], [(root, b"")]
    while pending:
        pid, parent = pending.pop()
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        out.append((pid, b"dbt.cli.main" in cmdline or b"forkserver import serve" in parent))
        pending += [(int(c), cmdline) for c in children]
    return out


def cpu_seconds(pid: int) -> float:
    """A process's own user + system CPU seconds so far (/proc/<pid>/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def watch_peaks(root: int, peaks: dict[str, int], done: threading.Event,
                other_label: str = "main", cpu: dict[int, float] | None = None,
                timeline: list[tuple[float, int]] | None = None) -> None:
    """Sample the peak RSS (VmHWM) of each process under `root` every 0.05 s until
    `done`: labelled 'dbt' (a dbt run) or `other_label` (everything else). Run it in a
    thread beside the command; ru_maxrss cannot do this, since a forked child counts
    its parent's pages, and a dbt run forked by the fork server is not a child the
    command waits for. Optionally also each process's last CPU seconds (`cpu`, by pid)
    and (perf_counter, summed VmRSS in kB of the dbt runs) per sample (`timeline`);
    peaks['tree_sum'] is the largest summed VmRSS of the whole tree at one sample."""
    import time

    while not done.is_set():
        dbt_now = all_now = 0
        for pid, is_dbt in _tree(root):
            label = "dbt" if is_dbt else other_label
            peaks[label] = max(peaks.get(label, 0), status_kb(pid))
            if cpu is not None:
                cpu[pid] = max(cpu.get(pid, 0.0), cpu_seconds(pid))
            rss = status_kb(pid, "VmRSS")
            all_now += rss
            dbt_now += rss if is_dbt else 0
        # The tree's summed resident memory at one instant (pages a fork shares with its
        # parent counted twice: an upper bound).
        peaks["tree_sum"] = max(peaks.get("tree_sum", 0), all_now)
        if timeline is not None:
            timeline.append((time.perf_counter(), dbt_now))
        done.wait(0.05)


def busy_cpu_seconds() -> float:
    """CPU time all processes of the machine have used since boot (/proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")

