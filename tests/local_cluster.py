"""A real multi-node Ray cluster on this machine: `ray start` processes on 127.0.0.2.

A head (no CPUs: it runs the drivers and the job server) and worker nodes, each its own
`ray start --block` process in its own session, so that a test can kill one node's raylet and
stop everything it started by PID (never `ray stop`, which would stop every Ray on the machine).
The tests talk to it only through subprocesses (`ray job submit`, short Python scripts): the
test process itself already holds the session's local Ray instance.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.2"
RAY = str(Path(sys.executable).with_name("ray"))
START_TIMEOUT_S = 90.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def cluster_env(temp_dir: Path) -> dict[str, str]:
    """The environment of every process of the cluster (and of the scripts that join it)."""
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)  # the test's own Ray instance is not this cluster
    env.update({"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "RAY_TMPDIR": str(temp_dir)})
    return env


@dataclass
class Node:
    """One `ray start --block` process."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    arguments: list[str]
    restarted: bool = False

    def raylet_pid(self) -> int:
        """The PID of this node's raylet (a child of its `ray start` process)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        for child in children:
            command = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[0]
            if command.endswith(b"raylet"):
                return int(child)
        raise RuntimeError(f"node {self.name}: no raylet among {children}")


@dataclass
class LocalCluster:
    """The cluster: its GCS address, its job server's address and its nodes."""

    temp_dir: Path
    gcs: str = ""
    dashboard: str = ""
    nodes: dict[str, Node] = field(default_factory=dict)

    def start_head(self) -> None:
        """Start the head: no CPUs, the dashboard (job server) on its own port."""
        port, dashboard = _free_port(), _free_port()
        self.gcs, self.dashboard = f"{HOST}:{port}", f"http://{HOST}:{dashboard}"
        self._start(
            "head",
            [
                "--head",
                f"--port={port}",
                "--num-cpus=0",
                "--include-dashboard=true",
                f"--dashboard-host={HOST}",
                f"--dashboard-port={dashboard}",
                f"--temp-dir={self.temp_dir / 'ray'}",
            ],
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.dashboard}/api/version", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"the head's job server did not answer at {self.dashboard}")

    def start_worker(self, name: str, cpus: int, resources: dict[str, float] | None = None) -> None:
        """Start a worker node joining the head."""
        extra = [f"--resources={json.dumps(resources)}"] if resources else []
        self._start(name, [f"--address={self.gcs}", f"--num-cpus={cpus}", *extra])

    def _start(self, name: str, arguments: list[str]) -> None:
        log = self.temp_dir / f"{name}.log"
        command = [
            RAY,
            "start",
            "--block",
            f"--node-ip-address={HOST}",
            "--object-store-memory=300000000",
            "--disable-usage-stats",
            # Nodes share one address here: ports that default to a fixed number get their own.
            f"--dashboard-agent-listen-port={_free_port()}",
            f"--metrics-export-port={_free_port()}",
            *arguments,
        ]
        with log.open("wb") as output:
            process = subprocess.Popen(
                command,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=cluster_env(self.temp_dir),
                start_new_session=True,
            )
        self.nodes[name] = Node(name, process, log, arguments)

    def _restart_if_start_timed_out(self) -> None:
        """Start again, once, a node whose `ray start` gave up waiting for its raylet to register.

        Ray waits a fixed 30 s for that (`ray/_private/node.py`); on two loaded cores the GCS can
        take longer. The failed node's process group (its raylet among it) is killed first.
        """
        for node in list(self.nodes.values()):
            if node.restarted or node.process.poll() is None:
                continue
            if "timed out during startup" not in node.log.read_text(errors="replace"):
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.process.pid, signal.SIGKILL)
            node.log.rename(node.log.with_suffix(".first.log"))
            self._start(node.name, node.arguments)
            self.nodes[node.name].restarted = True

    def alive_nodes(self) -> list[dict[str, Any]]:
        """The nodes the cluster holds alive now (node id, resources)."""
        nodes: list[dict[str, Any]] = self.script(
            "import json, ray\n"
            f"ray.init(address='{self.gcs}', logging_level='ERROR', log_to_driver=False)\n"
            "alive = [n for n in ray.nodes() if n['Alive']]\n"
            "print(json.dumps([{'id': n['NodeID'], 'resources': n['Resources']} for n in alive]))\n"
        )
        return nodes

    def wait_for_nodes(self, count: int, *, exactly: bool = False) -> list[dict[str, Any]]:
        """Wait until `count` nodes (at least, or `exactly`) are alive; returns them."""
        deadline = time.monotonic() + START_TIMEOUT_S
        nodes: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            nodes = self.alive_nodes()
            if len(nodes) == count or (len(nodes) > count and not exactly):
                return nodes
            self._restart_if_start_timed_out()
            time.sleep(1)
        raise RuntimeError(f"only {len(nodes)} of {count} nodes joined: {self.logs()}")

    def wait_for_job_agent(self) -> None:
        """Wait until the head's job agent takes jobs (a while after the job server answers)."""
        self.script(
            "import json, time\n"
            "from ray.job_submission import JobStatus, JobSubmissionClient\n"
            f"client = JobSubmissionClient('{self.dashboard}')\n"
            f"deadline = time.monotonic() + {START_TIMEOUT_S}\n"
            "while True:\n"
            "    try:\n"
            "        job = client.submit_job(entrypoint='true')\n"
            "        break\n"
            "    except RuntimeError:\n"
            "        if time.monotonic() > deadline:\n"
            "            raise\n"
            "        time.sleep(1)\n"
            "while client.get_job_status(job) not in (JobStatus.SUCCEEDED, JobStatus.FAILED):\n"
            "    time.sleep(0.5)\n"
            "print(json.dumps(str(client.get_job_status(job))))\n",
            timeout_s=START_TIMEOUT_S + 60,
        )

    def script(self, code: str, timeout_s: float = 120.0) -> Any:
        """Run a Python script against the cluster; returns the JSON its last line prints."""
        finished = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env=cluster_env(self.temp_dir),
            timeout=timeout_s,
            check=False,
        )
        if finished.returncode != 0:
            raise RuntimeError(f"script failed ({finished.returncode}): {finished.stderr[-3000:]}")
        # Ray may print a node's log line after the result (e.g. the raylet's "Job ... already
        # started in worker pool"): the result is the last line that is JSON.
        for line in reversed(finished.stdout.strip().splitlines()):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
        raise RuntimeError(f"script printed no JSON: {finished.stdout[-3000:]}")

    def kill_raylet(self, name: str) -> None:
        """Kill a node the hard way: SIGKILL to its raylet."""
        os.kill(self.nodes[name].raylet_pid(), signal.SIGKILL)

    def logs(self) -> str:
        """The tail of every node's `ray start` output."""
        return "\n".join(f"--- {node.name}\n{node.log.read_text()[-2000:]}" for node in self.nodes.values())

    def stop(self) -> None:
        """Stop every node this cluster started: SIGTERM to each process group, then SIGKILL."""
        for node in reversed(list(self.nodes.values())):
            try:
                os.killpg(node.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for node in self.nodes.values():
            try:
                node.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(node.process.pid, signal.SIGKILL)
                node.process.wait(timeout=10)


__all__ = ["HOST", "LocalCluster", "cluster_env"]
