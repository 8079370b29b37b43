"""The refresh benchmark's Celery worker (started and watched through its log) and the meter of
how much of the machine other processes used during a measurement (``bench_refresh``).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]


class Worker:
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self._offset = 0
        self._partial = ""
        self.task_lines: list[str] = []  # the worker's "Task name[id] …" lines, in order

    def read_log(self) -> list[str]:
        """Task lines added to the log since the last read (reads only the new bytes)."""
        with self.log_path.open("rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read()
        self._offset += len(chunk)
        lines = (self._partial + chunk.decode(errors="replace")).split("\n")
        self._partial = lines.pop()
        new = [line for line in lines if " Task " in line or "WorkerLostError" in line]
        self.task_lines.extend(new)
        return new

    def task_outcome(self, task_id: str) -> str | None:
        """ "succeeded", "failed" or None (not finished), from the log."""
        self.read_log()
        for line in self.task_lines:
            if f"[{task_id}]" in line:
                if "] succeeded in" in line:
                    return "succeeded"
                if "] raised" in line or "] failed" in line:
                    return "failed"
        return None

    def retries(self, task_id: str) -> int:
        return sum(f"[{task_id}] retry:" in line for line in self.task_lines)

    def start(self, timeout: float = 90) -> None:
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--concurrency",
            "1",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "INFO",
            "--hostname",
            f"accrual-bench-{os.getpid()}@%h",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.wait_for_log(" ready.", timeout, "the worker to start")

    def wait_for_log(self, text: str, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log_path.exists() and text in self.log_path.read_text(errors="replace"):
                return
            self.check_alive()
            time.sleep(0.2)
        raise RuntimeError(f"timed out waiting for {what}; worker log {self.log_path}")

    def wait_idle(self, redis_client, timeout: float) -> list[dict]:
        """Wait until the broker holds no message for this worker (queued or unacknowledged,
        i.e. running: tasks ack late), and return the tasks that ran meanwhile — the
        follow-ups a refresh queues (ratings recompute…), which must not overlap the next
        measurement."""
        seen = len(self.task_lines)
        deadline = time.monotonic() + timeout
        queues = ["celery", *(f"celery\x06\x16{p}" for p in (3, 6, 9))]
        while sum(redis_client.llen(q) for q in queues) or redis_client.hlen("unacked"):
            self.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker was still busy after {timeout:.0f}s")
            time.sleep(0.2)
        self.read_log()
        follow_ups = []
        for line in self.task_lines[seen:]:
            match = re.search(r"Task (\S+)\[[^]]+\] (succeeded in|raised|failed|retry)\S*\s*([0-9.]*)", line)
            if match:
                name, outcome, seconds = match.groups()
                follow_ups.append(
                    {
                        "task": name,
                        "outcome": outcome.split()[0],
                        "seconds": round(float(seconds), 2) if seconds else None,
                    }
                )
        return follow_ups

    def check_alive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError(f"the worker exited; its log:\n{self.tail()}")

    def tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


class CpuMeter:
    """How much of the machine other processes used during a measurement: all busy CPU time
    (/proc/stat) less that of this benchmark's processes (this one, the server, the worker's
    process group, PostgreSQL client backends on the benchmark database — sampled twice a
    second, so that short-lived connections count too). This machine may be shared; a high
    share means the numbers are noisy."""

    def __init__(self, server_pid: int, worker: Worker | None, database_url: str) -> None:
        self.server_pid = server_pid
        self.worker = worker
        self.database_url = database_url
        self.database = urlsplit(database_url).path.lstrip("/")
        self.tick = os.sysconf("SC_CLK_TCK")

    def _processes(self) -> set[int]:
        """This process, the server, and the worker's process group."""
        pids = {os.getpid(), self.server_pid}
        group = self.worker.process.pid if self.worker and self.worker.process else None
        if group is not None:
            for entry in os.listdir("/proc"):
                if entry.isdigit():
                    fields = self._stat(int(entry))
                    if fields and int(fields[2]) == group:  # field 5 of /proc/<pid>/stat: process group
                        pids.add(int(entry))
        return pids

    def _backends(self, conn) -> set[int]:
        rows = conn.execute(  # client backends only: autovacuum is someone else's work
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'",
            [self.database],
        ).fetchall()
        return {pid for (pid,) in rows}

    @staticmethod
    def _stat(pid: int) -> list[str] | None:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                return handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None

    def _cpu(self, fields: list[str]) -> float:
        return (int(fields[11]) + int(fields[12])) / self.tick  # utime + stime

    def _busy(self) -> float:
        """user + nice + system + steal: irq and softirq time (loopback, disk) is left out, as it
        belongs to no process and is mostly this benchmark's own traffic."""
        with open("/proc/stat") as handle:
            values = [int(v) for v in handle.readline().split()[1:]] + [0] * 8
        return (values[0] + values[1] + values[2] + values[7]) / self.tick

    def _all(self) -> dict[int, tuple[str, float]]:
        """Every process's name and CPU seconds."""
        snapshot = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as handle:
                        text = handle.read()
                    name = text[text.index("(") + 1 : text.rindex(")")]
                    snapshot[int(entry)] = (name, self._cpu(text.rsplit(")", 1)[1].split()))
                except (OSError, ValueError, IndexError):
                    continue
        return snapshot

    @contextlib.contextmanager
    def measure(self, into: dict, *, sampling: bool = True):
        """``sampling`` off: no thread in this process (for work measured in this process)."""
        import threading

        import psycopg

        conn = psycopg.connect(self.database_url, autocommit=True)
        ours: dict[int, float] = {}  # our pid -> its newest CPU reading

        def sample(pids: set[int]) -> None:
            for pid in pids | self._backends(conn):
                fields = self._stat(pid)
                if fields:
                    ours[pid] = self._cpu(fields)

        def sampler() -> None:
            while not stop.wait(0.5):
                sample(set())

        try:
            processes = self._processes()
            start_busy, start_all, started = self._busy(), self._all(), time.monotonic()
            sample(processes)
            stop = threading.Event()
            thread = threading.Thread(target=sampler, name="cpu-meter", daemon=True)
            if sampling:
                thread.start()
            try:
                yield
            finally:
                stop.set()
                if sampling:
                    thread.join()
            sample(processes | self._processes())
            wall = time.monotonic() - started
            end_busy, end_all = self._busy(), self._all()
        finally:
            conn.close()
        ours_seconds = sum(cpu - start_all.get(pid, ("", 0.0))[1] for pid, cpu in ours.items())
        other = max(end_busy - start_busy - ours_seconds, 0.0)
        top = sorted(
            (
                (cpu - start_all.get(pid, (name, 0.0))[1], f"{name}[{pid}]")
                for pid, (name, cpu) in end_all.items()
                if pid not in ours
            ),
            reverse=True,
        )
        into["cpu"] = {
            "ours_seconds": round(ours_seconds, 2),
            "other_seconds": round(other, 2),
            "other_share": round(other / (wall * (os.cpu_count() or 1)), 3) if wall > 0 else 0.0,
            "other_top": [f"{label} {d:.1f}s" for d, label in top[:4] if d >= 0.5],
        }
