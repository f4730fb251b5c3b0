"""Ray job entrypoint: one curation run on the Ray cluster this process runs in.

    ray job submit --address http://HEAD:8265 --working-dir . -- \
        python jobs/curate.py --config run.yaml --input s3://bucket/images --lightly s3://bucket/lightly

It takes the arguments of `lightly-ray run` and hands them to the CLI, so the checks, messages
and exit codes are the CLI's (0 success, 2 invalid configuration or argument, 1 any other
error, 130 interrupted, 143 stopped by `ray job stop`), and a configuration mistake is answered
before Ray is imported. The one difference is the cluster it uses when `--address` is not
given: a Ray job's driver gets RAY_ADDRESS from the job supervisor and joins that cluster, as
`lightly-ray run` does; without RAY_ADDRESS (run by hand on a node of a `ray up` cluster, e.g.
with `ray submit`) it joins the cluster running on this machine (`--address auto`) instead of
starting a single-machine Ray instance beside it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from lightly_ray import cli

HELP_NOTE = (
    "jobs/curate.py takes the arguments of `lightly-ray run` (below). Without --address it joins "
    "the cluster in RAY_ADDRESS (set for a Ray job's driver), else the one on this machine (auto)."
)


def run_arguments(argv: Sequence[str]) -> list[str]:
    """The `lightly-ray` command line for the job's arguments.

    Args:
        argv: The script's arguments, those of `lightly-ray run`.

    Returns:
        `run` and `argv`, with `--address auto` before them when RAY_ADDRESS is not set (an
        `--address` in `argv` still wins: argparse keeps an option's last value).

    """
    cluster = [] if os.environ.get("RAY_ADDRESS", "").strip() else ["--address", "auto"]
    return ["run", *cluster, *argv]


def main() -> None:
    """Run the job with this process's arguments and exit with the CLI's code."""
    arguments = sys.argv[1:]
    if {"-h", "--help"} & set(arguments):
        print(HELP_NOTE + "\n")
    # The console command's own exit path: after Ctrl-C or a cluster connection that failed
    # half way it ends the process at once, before the interpreter's teardown can crash.
    sys.argv = [sys.argv[0], *run_arguments(arguments)]
    cli.console()


if __name__ == "__main__":
    main()
