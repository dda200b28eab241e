"""Cap a process's CPU with a cgroup CPU quota (Linux, as root).

``cpu_quota(cpus)`` creates a control group of its own under the ``cpu`` controller with a quota
of ``cpus`` CPUs per scheduling period, moves processes into it with ``add(pid)`` (every thread
of the process, and whatever it starts afterwards) and removes the group on leaving the block::

    with cpu_quota(0.3) as group:
        group.add(server.pid)
        ...
        print(group.throttled())  # share of the periods in which the quota ran out

Both cgroup versions are supported: v1 (a ``cpu`` hierarchy: ``cpu.cfs_period_us`` and
``cpu.cfs_quota_us``) and v2 (the unified hierarchy with the ``cpu`` controller: ``cpu.max``).
Where both are mounted, the one that has the ``cpu`` controller is used. Anything that stops the
quota from being set raises ``QuotaError`` saying why (not root, no ``cpu`` controller, ...).
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PERIOD_US = 100_000  # the kernel's default period; the quota is a share of it
MIN_QUOTA_US = 1_000  # the kernel refuses quotas under 1 ms
_names = itertools.count()


class QuotaError(RuntimeError):
    """The CPU quota could not be set up."""


@dataclass(frozen=True)
class Hierarchy:
    version: int  # 1 or 2
    root: Path  # where the hierarchy is mounted


def find_hierarchy(mountinfo: str = "/proc/self/mountinfo") -> Hierarchy:
    """The mounted cgroup hierarchy that has the ``cpu`` controller."""
    v1: Path | None = None
    v2: list[Path] = []
    try:
        lines = Path(mountinfo).read_text().splitlines()
    except OSError as exc:
        raise QuotaError(f"cannot read {mountinfo}: {exc}") from exc
    for line in lines:
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        after = line.split(" - ", 1)[1].split()
        fstype, options = after[0], after[2].split(",") if len(after) > 2 else []
        if fstype == "cgroup" and "cpu" in options:
            v1 = Path(fields[4])
        elif fstype == "cgroup2":
            v2.append(Path(fields[4]))
    if v1 is not None:
        return Hierarchy(1, v1)
    for root in v2:
        with contextlib.suppress(OSError):
            if "cpu" in (root / "cgroup.controllers").read_text().split():
                return Hierarchy(2, root)
    raise QuotaError(
        "no cgroup hierarchy with the cpu controller is mounted (looked for a cgroup v1 'cpu' "
        "mount and a cgroup2 mount listing 'cpu' in cgroup.controllers)"
    )


class CpuGroup:
    """One control group with a CPU quota; see ``cpu_quota``."""

    def __init__(
        self,
        hierarchy: Hierarchy,
        cpus: float,
        name: str,
        made: bool = False,
        period_us: int = PERIOD_US,
    ) -> None:
        if not 0 < cpus <= (os.cpu_count() or 1):
            raise QuotaError(f"cpus must be above 0 and at most {os.cpu_count()}, not {cpus}")
        if round(cpus * period_us) < MIN_QUOTA_US:
            raise QuotaError(
                f"{cpus:g} CPUs of a {period_us} µs period is under the kernel's 1 ms minimum "
                "quota: take a longer period"
            )
        self.hierarchy = hierarchy
        self.cpus = cpus
        self.period_us = period_us
        self.quota_us = round(cpus * period_us)
        self.path = hierarchy.root / name
        self._made = made

    def create(self) -> None:
        if self.hierarchy.version == 2:
            # The parent hands the cpu controller down to its children (the root may).
            _write(self.hierarchy.root / "cgroup.subtree_control", "+cpu")
        try:
            self.path.mkdir()
        except OSError as exc:
            raise QuotaError(f"cannot create the control group {self.path}: {exc}") from exc
        self._made = True
        if self.hierarchy.version == 1:
            _write(self.path / "cpu.cfs_period_us", str(self.period_us))
            _write(self.path / "cpu.cfs_quota_us", str(self.quota_us))
        else:
            _write(self.path / "cpu.max", f"{self.quota_us} {self.period_us}")

    def add(self, pid: int) -> None:
        """Move process ``pid`` into the group: every thread (``cgroup.procs``; in v1 they
        then all appear in ``tasks``), and what it starts from now on."""
        _write(self.path / "cgroup.procs", str(pid))

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def quota(self) -> float:
        """The quota in force, in CPUs, as the kernel reads it back."""
        if self.hierarchy.version == 1:
            quota = int((self.path / "cpu.cfs_quota_us").read_text())
            period = int((self.path / "cpu.cfs_period_us").read_text())
        else:
            max_, period_text = (self.path / "cpu.max").read_text().split()
            quota, period = (-1 if max_ == "max" else int(max_)), int(period_text)
        return quota / period if quota > 0 else float("inf")

    def stat(self) -> dict[str, int]:
        """``cpu.stat``: periods, throttled periods and time (v1 ``nr_throttled``; v2 the same
        plus ``usage_usec``)."""
        try:
            text = (self.path / "cpu.stat").read_text()
        except OSError:
            return {}
        return {k: int(v) for k, v in (line.split() for line in text.splitlines() if line)}

    def throttled(self, before: dict[str, int] | None = None) -> float:
        """Share of the scheduling periods since ``before`` (a ``stat()``) in which the group
        used up its quota: near 1.0 means the quota, not the work offered, set the pace."""
        now, then = self.stat(), before or {}
        periods = now.get("nr_periods", 0) - then.get("nr_periods", 0)
        throttled = now.get("nr_throttled", 0) - then.get("nr_throttled", 0)
        return throttled / periods if periods > 0 else 0.0

    def remove(self) -> None:
        """Move whatever is still inside to the parent group, then remove the group."""
        if not self._made:
            return
        for pid in self.pids():
            with contextlib.suppress(OSError):  # it may have exited meanwhile
                _write(self.path.parent / "cgroup.procs", str(pid))
        try:
            self.path.rmdir()
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise QuotaError(f"cannot remove the control group {self.path}: {exc}") from exc
        self._made = False


PREFIX = "firebreak-bench-"


def remove_stale(hierarchy: Hierarchy) -> list[Path]:
    """Remove the groups left behind by runs that died before removing theirs (their names
    carry the pid of the process that made them); the paths removed."""
    removed = []
    for path in hierarchy.root.glob(f"{PREFIX}*-*"):
        owner = path.name[len(PREFIX) :].split("-", 1)[0]
        if not owner.isdigit() or int(owner) == os.getpid() or _alive(int(owner)):
            continue
        CpuGroup(hierarchy, 1, path.name, made=True).remove()
        removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def cpu_quota(
    cpus: float, hierarchy: Hierarchy | None = None, period_us: int = PERIOD_US
) -> Iterator[CpuGroup]:
    """A new control group capped at ``cpus`` CPUs per ``period_us`` microseconds, removed on
    leaving the block. Groups that earlier runs left behind when they died are removed first."""
    hierarchy = hierarchy or find_hierarchy()
    remove_stale(hierarchy)
    group = CpuGroup(hierarchy, cpus, f"{PREFIX}{os.getpid()}-{next(_names)}", period_us=period_us)
    try:
        group.create()
        yield group
    finally:
        group.remove()


def _write(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except PermissionError as exc:
        raise QuotaError(f"cannot write {path}: {exc} (a CPU quota needs root)") from exc
    except OSError as exc:
        raise QuotaError(f"cannot write {value!r} to {path}: {exc}") from exc
