"""Ray job entrypoint: check a configuration from inside the cluster, without running it.

    ray job submit --address http://HEAD:8265 --working-dir . -- \
        python jobs/validate.py run.yaml --lightly s3://bucket/lightly

It takes the arguments of `lightly-ray validate` and hands them to the CLI (same messages, exit
code 0 valid, 2 invalid). Run as a job, `--lightly` is checked with the cluster's own
credentials (its nodes' workload identity), the ones the run will use, which the machine that
submits it may not have. It never starts or joins Ray.
"""

from __future__ import annotations

import sys

from lightly_ray import cli


def main() -> None:
    """Validate with this process's arguments and exit with the CLI's code."""
    sys.argv = [sys.argv[0], "validate", *sys.argv[1:]]
    cli.console()


if __name__ == "__main__":
    main()
