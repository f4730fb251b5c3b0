"""`lightly-ray`: run, validate, schema and demo; a thin shell over `lightly_ray.run`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from lightly_ray.config import config_json_schema, load_config, unsupported_features
from lightly_ray.errors import ConfigError, LightlyRayError

EXIT_CONFIG = 2
EXIT_FAILED = 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `lightly-ray` command.

    Returns:
        The process exit code: 0 on success, 2 for an invalid configuration, 1 for other errors.

    """
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
        return code
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except LightlyRayError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted: the run folder has no _SUCCESS and is not a finished run", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lightly-ray",
        description="Ray-distributed data curation, configured like the Lightly Worker.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run a curation job")
    run.add_argument("--input", required=True, help="input location (read-only): a folder or URL")
    run.add_argument("--lightly", required=True, help="lightly location (read-write): a folder or URL")
    run.add_argument(
        "--config", help="YAML or JSON file with worker_config, selection_config, lightly_config"
    )
    run.add_argument("--address", help="Ray cluster to join (default: RAY_ADDRESS, else a local instance)")
    run.add_argument("--quiet", action="store_true", help="no progress output, only the summary")
    run.add_argument("--json", action="store_true", help="print the result as JSON instead of a summary")
    run.add_argument("overrides", nargs="*", metavar="key.path=value", help="config overrides")
    run.set_defaults(handler=_run)

    validate = commands.add_parser("validate", help="check a config file without running")
    validate.add_argument("config", help="YAML or JSON config file")
    validate.add_argument("overrides", nargs="*", metavar="key.path=value", help="config overrides")
    validate.set_defaults(handler=_validate)

    schema = commands.add_parser("schema", help="print the JSON schema of the config")
    schema.set_defaults(handler=_schema)

    demo = commands.add_parser("demo", help="prepare the example dataset and run on it")
    demo.add_argument("--dir", default="lightly-ray-demo", help="folder for input/ and lightly/")
    demo.add_argument("--quiet", action="store_true", help="no progress output, only the summary")
    demo.add_argument("overrides", nargs="*", metavar="key.path=value", help="config overrides")
    demo.set_defaults(handler=_demo)
    return parser


def _run(args: argparse.Namespace) -> int:
    from lightly_ray.run import run

    result = run(
        args.input,
        args.lightly,
        config=args.config,
        overrides=args.overrides,
        address=args.address,
        show_progress=not args.quiet,
    )
    if args.json:
        print(
            json.dumps(
                {
                    "run_id": result.run_id,
                    "run_folder": result.run_folder,
                    "counts": result.counts,
                    "selected": result.selected,
                },
                indent=2,
            )
        )
    else:
        print(result.summary())
    return 0


def _validate(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.overrides)
    print(f"{args.config}: valid")
    pending = unsupported_features(config)
    if pending:
        print("note: valid, but this version cannot run yet:")
        for feature in pending:
            print(f"  - {feature}")
    return 0


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(config_json_schema(), indent=2))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from lightly_ray.demo import DEMO_CONFIG, prepare_example_dataset
    from lightly_ray.run import run

    folder = Path(args.dir).resolve()
    input_folder, lightly_folder = folder / "input", folder / "lightly"
    counts = prepare_example_dataset(input_folder)
    total = sum(counts.values())
    print(
        f"example dataset: {total} files in {input_folder} "
        f"({', '.join(f'{count} {kind}' for kind, count in counts.items())})"
    )
    print("config: diversity selection of 30 images, resnet-18 with random weights (offline demo)")
    result = run(
        input_folder,
        lightly_folder,
        config=DEMO_CONFIG,
        overrides=args.overrides,
        show_progress=not args.quiet,
    )
    print(result.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
