"""bench/cpu_quota.py, the CPU cap the scale-out benchmark puts on each replica: on the machine's
real cgroup hierarchy when the suite runs as root, and the cgroup v2 file format on a stand-in
directory."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"

# Burns 30 ms of CPU once told to go, then says how much it burnt.
BURN = """
import sys, time
sys.stdin.readline()
t0 = time.process_time()
while time.process_time() - t0 < 0.03:
    pass
print("burnt")
"""


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cpu_quota", BENCH / "cpu_quota.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["cpu_quota"] = module
    spec.loader.exec_module(module)
    return module


cq = _load()


def _real_hierarchy() -> object | None:
    if os.geteuid() != 0:
        return None
    try:
        return cq.find_hierarchy()
    except cq.QuotaError:
        return None


def test_a_capped_process_is_throttled_and_the_group_is_removed_afterwards() -> None:
    hierarchy = _real_hierarchy()
    if hierarchy is None:
        pytest.skip("needs root and a cgroup hierarchy with the cpu controller")
    with cq.cpu_quota(0.05, hierarchy) as group:
        assert group.path.is_dir()
        assert group.quota() == pytest.approx(0.05)
        proc = subprocess.Popen(
            [sys.executable, "-c", BURN], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        try:
            group.add(proc.pid)
            assert group.pids() == [proc.pid]
            before = group.stat()
            out, _ = proc.communicate(b"go\n", timeout=120)
        finally:
            proc.kill()
            proc.wait()
        assert out == b"burnt\n"
        # 30 ms of CPU at 5 ms per 100 ms period cannot run without the quota running out.
        assert group.stat()["nr_throttled"] > before.get("nr_throttled", 0)
        assert group.throttled(before) > 0
        path = group.path
    assert not path.exists()


def test_groups_left_behind_by_a_run_that_died_are_removed() -> None:
    hierarchy = _real_hierarchy()
    if hierarchy is None:
        pytest.skip("needs root and a cgroup hierarchy with the cpu controller")
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    stale = hierarchy.root / f"{cq.PREFIX}{int(gone.stdout)}-0"
    stale.mkdir()
    try:
        mine = hierarchy.root / f"{cq.PREFIX}{os.getpid()}-999"  # this process is alive
        mine.mkdir()
        try:
            with cq.cpu_quota(0.5, hierarchy) as group:
                assert not stale.exists()
                assert mine.exists()
                assert group.path.is_dir()
        finally:
            mine.rmdir()
    finally:
        if stale.exists():
            stale.rmdir()


def test_a_quota_outside_what_the_machine_has_is_refused_before_anything_is_made() -> None:
    hierarchy = cq.Hierarchy(1, Path("/nonexistent"))
    for cpus in (0, -1, (os.cpu_count() or 1) + 1, float("nan")):
        with pytest.raises(cq.QuotaError, match="cpus must be above 0"):
            cq.CpuGroup(hierarchy, cpus, "x")


def test_the_cpu_hierarchy_is_found_in_v1_and_v2_mounts(tmp_path: Path) -> None:
    unified = tmp_path / "unified"
    unified.mkdir()
    (unified / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    v2_only = tmp_path / "mountinfo-v2"
    v2_only.write_text(
        f"31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
        f"41 31 0:38 / {unified} rw,relatime - cgroup2 cgroup2 rw\n"
    )
    assert cq.find_hierarchy(str(v2_only)) == cq.Hierarchy(2, unified)

    hybrid = tmp_path / "mountinfo-hybrid"
    hybrid.write_text(
        "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
        "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
        f"41 31 0:38 / {unified} rw,relatime - cgroup2 cgroup2 rw\n"
    )
    assert cq.find_hierarchy(str(hybrid)) == cq.Hierarchy(1, Path("/sys/fs/cgroup/cpu"))

    (unified / "cgroup.controllers").write_text("io memory\n")  # cpu bound elsewhere
    with pytest.raises(cq.QuotaError, match="no cgroup hierarchy with the cpu controller"):
        cq.find_hierarchy(str(v2_only))


def test_cgroup_v2_gets_its_quota_through_cpu_max(tmp_path: Path) -> None:
    group = cq.CpuGroup(cq.Hierarchy(2, tmp_path), 0.3, "replica")
    group.create()
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+cpu"
    assert (tmp_path / "replica" / "cpu.max").read_text() == "30000 100000"
    assert group.quota() == pytest.approx(0.3)
    group.add(4242)
    assert group.pids() == [4242]


def test_a_shorter_period_keeps_the_share_and_a_quota_under_1_ms_is_refused(
    tmp_path: Path,
) -> None:
    group = cq.CpuGroup(cq.Hierarchy(2, tmp_path), 0.1, "replica", period_us=20_000)
    group.create()
    assert (tmp_path / "replica" / "cpu.max").read_text() == "2000 20000"
    assert group.quota() == pytest.approx(0.1)
    with pytest.raises(cq.QuotaError, match="under the kernel's 1 ms minimum"):
        cq.CpuGroup(cq.Hierarchy(2, tmp_path), 0.1, "short", period_us=5_000)
    assert not (tmp_path / "short").exists()
