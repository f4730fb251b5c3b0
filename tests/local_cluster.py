"""A real multi-node Ray cluster on this machine: `ray start` processes on 127.0.0.2.

A head (no CPUs: it runs the drivers and the job server) and worker nodes, each its own
`ray start --block` process in its own session, so that a test can kill one node's raylet and
stop everything it started by PID (never `ray stop`, which would stop every Ray on the machine).
The tests talk to it through `ray job submit` and the head's HTTP APIs (jobs, Ray's state API),
never `ray.init`: the test process itself already holds the session's local Ray instance.
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
import urllib.error
import urllib.parse
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

    def state(self, resource: str, **equal: str) -> list[dict[str, Any]]:
        """Ray's state API over HTTP (what `ray.util.state.list_*` asks), rows whose keys equal `equal`.

        No Python process per question: each one that imported Ray took seconds of the two cores
        the cluster's nodes and the job run on.
        """
        query = [("limit", "10000")]
        for key, value in equal.items():
            query += [("filter_keys", key), ("filter_predicates", "="), ("filter_values", value)]
        url = f"{self.dashboard}/api/v0/{resource}?{urllib.parse.urlencode(query)}"
        with urllib.request.urlopen(url, timeout=60) as answer:
            body = json.loads(answer.read())
        if body.get("result") is False:
            raise RuntimeError(f"{url}: {body.get('msg')}")
        rows: list[dict[str, Any]] = body["data"]["result"]["result"]
        return rows

    def job(self, submission_id: str) -> dict[str, Any]:
        """The job server's record of a submitted job (status, job_id once its driver started).

        Empty while the job server does not know the job yet (just submitted).
        """
        try:
            with urllib.request.urlopen(f"{self.dashboard}/api/jobs/{submission_id}", timeout=30) as answer:
                record: dict[str, Any] = json.loads(answer.read())
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return {}
            raise
        return record

    def alive_nodes(self) -> list[dict[str, Any]]:
        """The nodes the cluster holds alive now (node id, resources)."""
        nodes = self.state("nodes", state="ALIVE")
        return [{"id": node["node_id"], "resources": node["resources_total"]} for node in nodes]

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
        deadline = time.monotonic() + START_TIMEOUT_S
        request = urllib.request.Request(
            f"{self.dashboard}/api/jobs/",
            data=json.dumps({"entrypoint": "true"}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        while True:
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    submission_id = json.loads(answer.read())["submission_id"]
                break
            except OSError:  # urllib's HTTPError (the agent is not there yet) is an OSError too
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        while self.job(submission_id).get("status") not in ("SUCCEEDED", "FAILED", "STOPPED"):
            if time.monotonic() > deadline + 60:
                raise RuntimeError(f"the job server's first job did not finish: {self.logs()}")
            time.sleep(0.5)

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
