"""`lightly-ray`: run, validate, schema, inspect, report, export, demo; a thin shell over the library.

Every mistake that needs no Ray is answered before Ray or torch are imported (see
`lightly_ray.preflight`): one message on stderr that says what to change, no traceback unless
`--debug` (or LIGHTLY_RAY_DEBUG=1) asks for it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lightly_ray import __version__, errors
from lightly_ray.cluster_address import ACCEPTED_FORMS, DEFAULT_CONNECT_TIMEOUT_S
from lightly_ray.errors import ClusterError, ConfigError, NotYetSupportedError, UsageError, user_message

EXIT_FAILED = 1
EXIT_CONFIG = 2
DEBUG_VARIABLE = "LIGHTLY_RAY_DEBUG"


class _Clock:
    """When the command started: its wall time (Ray start included) is reported in the summary."""

    started = time.monotonic()
    exit_at_once = False  # interrupted, or a cluster join that failed half way: skip the teardown


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `lightly-ray` command.

    Returns:
        The process exit code: 0 on success, 2 for an invalid configuration or argument, 1 for
        any other error, 130 after Ctrl-C (SIGINT) and 143 after SIGTERM (`kill`, `ray job stop`).

    """
    _Clock.started = time.monotonic()
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    # Overrides may come after options (`validate run.yaml --lightly URL key=value`), which
    # argparse does not assign to a positional that it already passed.
    stray = [item for item in extra if item.startswith("-") or "=" not in item]
    if stray or (extra and not hasattr(args, "overrides")):
        parser.error(f"unrecognized arguments: {' '.join(stray or extra)}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    debug = bool(getattr(args, "debug", False)) or os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")
    args.debug = debug
    with errors.interrupting_signals():  # SIGTERM stops the command as Ctrl-C does
        try:
            return int(args.handler(args))
        except (KeyboardInterrupt, SystemExit) as error:
            stopped = errors.interruption(error)
            if stopped is None:
                raise
            _fail(args, user_message(stopped), debug)
            _Clock.exit_at_once = True
            return stopped.exit_code
        except BrokenPipeError:  # `lightly-ray schema | head`: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit's flush
            return 0
        except (ConfigError, UsageError, NotYetSupportedError) as error:  # the config must change
            _fail(args, user_message(error), debug)
            return EXIT_CONFIG
        except Exception as error:  # noqa: BLE001 - every error ends in one message, not a traceback
            _fail(args, user_message(error), debug)
            _Clock.exit_at_once = isinstance(error, ClusterError)
            return EXIT_FAILED


def _fail(args: argparse.Namespace, message: str, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    print(f"error: {message}", file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps({"error": message}))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lightly-ray",
        description="Ray-distributed data curation, configured like the Lightly Worker.",
    )
    parser.add_argument("--version", action="version", version=f"lightly-ray {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run a curation job",
        description="List, decode, embed and select; write the run folder to the lightly location.",
    )
    required = run.add_argument_group("required")
    required.add_argument("--input", required=True, help="input location (read-only): a folder or URL")
    required.add_argument(
        "--lightly",
        required=True,
        help="lightly location (read-write, outside the input): a folder or URL",
    )
    run.add_argument(
        "--config", help="YAML or JSON file with worker_config, selection_config, lightly_config"
    )
    run.add_argument(
        "--address",
        help=f"Ray cluster to join: {ACCEPTED_FORMS} (default: RAY_ADDRESS, else a local instance)",
    )
    run.add_argument(
        "--connect-timeout",
        type=float,
        default=DEFAULT_CONNECT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"give up joining the cluster after this long (default {DEFAULT_CONNECT_TIMEOUT_S:g})",
    )
    run.add_argument(
        "--dataset",
        metavar="NAME",
        help="dataset to publish the selection to, in the lightly location's .lightly/datasets/ "
        "(default: the input's last folder name); it must be empty unless worker_config.use_datapool",
    )
    run.add_argument(
        "--tag", metavar="NAME", help="tag of this run's selection in the dataset (default: the run id)"
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="check, list the input and print the plan; decode, embed and write nothing",
    )
    _output_options(run, json_option=True)
    run.add_argument("overrides", nargs="*", metavar="key.path=value", help="config overrides")
    run.set_defaults(handler=_run)

    validate = commands.add_parser(
        "validate",
        help="check a config file without running",
        description="Check a config (and, with --lightly, what it names there) without running.",
    )
    # Optional to argparse, required below: argparse's own message would call the overrides
    # required too ("the following arguments are required: config, key.path=value").
    validate.add_argument("config", nargs="?", help="YAML or JSON config file")
    validate.add_argument(
        "--lightly",
        metavar="URL",
        help="also check the prediction tasks, scores, metadata keys and files it names there",
    )
    validate.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    validate.add_argument("overrides", nargs="*", metavar="key.path=value", help="config overrides")
    validate.set_defaults(handler=_validate)

    schema = commands.add_parser("schema", help="print the JSON schema of the config")
    schema.set_defaults(handler=_schema)

    inspect = _run_command(
        commands, "inspect", _inspect, "print the summary of a finished run",
        "Print what a finished run did, from its report.json.",
    )  # fmt: skip
    inspect.add_argument("--json", action="store_true", help="print report.json instead")
    _run_command(
        commands, "report", _report, "draw report.html of a finished run again",
        "Draw report.html again from a finished run folder's report.json and thumbnails.",
    )  # fmt: skip

    export = commands.add_parser(
        "export",
        help="export a dataset's tag: read URLs, Label Studio tasks or the embeddings CSV",
        description="Export the samples of a dataset's tag from the lightly location.",
    )
    export.add_argument("--lightly", required=True, help="lightly location (read-only here): a folder or URL")
    export.add_argument(
        "--dataset", required=True, metavar="NAME", help="the dataset (.lightly/datasets/NAME)"
    )
    export.add_argument(
        "--tag",
        default="initial-tag",
        help="the tag to export (default: initial-tag, every sample of the dataset)",
    )
    export.add_argument(
        "--format",
        dest="kind",
        required=True,
        choices=["urls", "label-studio", "embeddings"],
        help="urls: CSV of names and read URLs; label-studio: import JSON with pre-annotations "
        "(and FILE.label_config.xml); embeddings: the embeddings CSV",
    )
    export.add_argument(
        "--expires",
        default="24h",
        help="how long signed URLs stay valid: seconds or 90m, 24h, 7d (at most 7d; default 24h)",
    )
    export.add_argument("--output", "-o", metavar="FILE", help="write to FILE (default: stdout)")
    export.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    export.set_defaults(handler=_export)

    demo = commands.add_parser("demo", help="prepare the example dataset and run on it")
    demo.add_argument("--dir", default="lightly-ray-demo", help="folder for input/ and lightly/")
    _output_options(demo, json_option=False)
    demo.add_argument("overrides", nargs="*", metavar="key.path=value", help="config overrides")
    demo.set_defaults(handler=_demo)
    return parser


_RUN_HELP = (
    "a run folder (<lightly location>/.lightly/runs/<run id>, a folder or URL, or such a folder "
    "copied elsewhere), or a lightly location for its latest finished run"
)


def _run_command(
    commands: Any, name: str, handler: Any, summary: str, description: str
) -> argparse.ArgumentParser:
    """A command about one finished run: its RUN argument and --debug."""
    command: argparse.ArgumentParser = commands.add_parser(name, help=summary, description=description)
    command.add_argument("run", metavar="RUN", help=_RUN_HELP)
    command.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    command.set_defaults(handler=handler)
    return command


def _inspect(args: argparse.Namespace) -> int:
    from lightly_ray.report.finished_run import find_run

    finished = find_run(args.run)
    print(json.dumps(finished.report, indent=2) if args.json else finished.summary())
    return 0


def _report(args: argparse.Namespace) -> int:
    from lightly_ray.report.finished_run import find_run
    from lightly_ray.report.run_report import rebuild_html

    finished = find_run(args.run, writable=True)
    print(f"wrote {rebuild_html(finished.folder)}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from lightly_ray.exports.export import export_tag, parse_expires

    expires_s = parse_expires(args.expires)
    exported = export_tag(args.lightly, args.dataset, args.tag, args.kind, expires_s=expires_s)
    if args.output:
        target = Path(args.output)
        target.write_bytes(exported.content)
        written = [str(target)]
        for suffix, content in exported.companions.items():
            companion = target.with_name(target.stem + suffix)
            companion.write_bytes(content)
            written.append(str(companion))
        print(f"{exported.message}: {', '.join(written)}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(exported.content)
        sys.stdout.flush()
        extra = " (--output FILE also writes the labeling config)" if exported.companions else ""
        print(f"{exported.message}{extra}", file=sys.stderr)
    return 0


def _output_options(command: argparse.ArgumentParser, *, json_option: bool) -> None:
    command.add_argument(
        "--quiet",
        action="store_true",
        help="print only the summary and errors (no progress, no Ray warnings)",
    )
    if json_option:
        command.add_argument(
            "--json", action="store_true", help="print the result as one JSON document on stdout"
        )
    command.add_argument(
        "--debug",
        action="store_true",
        help=f"show Ray's output and the full traceback of an error (also {DEBUG_VARIABLE}=1)",
    )


def _run(args: argparse.Namespace) -> int:
    from lightly_ray.preflight import prepare_run

    prepared = prepare_run(
        args.input,
        args.lightly,
        config=args.config,
        overrides=args.overrides,
        address=args.address,
        connect_timeout_s=args.connect_timeout,
        dataset=args.dataset,
        tag=args.tag,
        weights=not args.dry_run,
    )
    if args.dry_run:
        from lightly_ray.dry_run import dry_run

        planned = dry_run(prepared)
        print(json.dumps(planned.document(), indent=2) if args.json else planned.text())
        return EXIT_FAILED if planned.weights else 0  # a run would stop: scripts see it too
    _say(args, f"configuration and locations checked in {_elapsed():.1f}s; starting Ray")
    result = _execute(prepared, args)
    if args.json:
        print(json.dumps(result.document(_elapsed()), indent=2))
    else:
        print(result.summary(duration_s=_elapsed()))
    return 0


def _validate(args: argparse.Namespace) -> int:
    from lightly_ray.preflight import validate_config
    from lightly_ray.storage import Location

    if args.config is None:
        raise UsageError("validate needs a config file: lightly-ray validate CONFIG [key.path=value ...]")
    lightly = Location(args.lightly, writable=False) if args.lightly else None
    _, pending = validate_config(args.config, args.overrides, lightly=lightly)
    if pending:  # a run would stop before any work (exit 2): so does the check
        raise NotYetSupportedError(pending)
    checked = f" (and what it names in {lightly.url})" if lightly is not None else ""
    print(f"{args.config}: valid{checked}")
    return 0


def _schema(args: argparse.Namespace) -> int:
    from lightly_ray.config import config_json_schema

    print(json.dumps(config_json_schema(), indent=2))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from lightly_ray.demo import DEMO_CONFIG, prepare_example_dataset
    from lightly_ray.preflight import prepare_run, validate_config

    validate_config(DEMO_CONFIG, args.overrides)  # a mistake in an override, before the dataset is made
    folder = Path(args.dir).resolve()
    input_folder, lightly_folder = folder / "input", folder / "lightly"
    counts = prepare_example_dataset(input_folder)
    total = sum(counts.values())
    print(
        f"example dataset: {total} files in {input_folder} "
        f"({', '.join(f'{count} {kind}' for kind, count in counts.items())})"
    )
    print(
        "config: diversity selection of 30 images, resnet-18 with random weights (offline demo): "
        "random weights see colours and layout, not content, so colour and flip variants of one "
        "picture look diverse; ImageNet weights or a trained checkpoint see content"
    )
    # A dataset of its own for every demo run: a second demo in the same folder is not refused
    # for adding to the first one's dataset without the datapool.
    dataset = f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    prepared = prepare_run(
        input_folder, lightly_folder, config=DEMO_CONFIG, overrides=args.overrides, dataset=dataset
    )
    print(_execute(prepared, args).summary(duration_s=_elapsed()))
    return 0


def _execute(prepared: Any, args: argparse.Namespace) -> Any:
    from lightly_ray.run import execute_run  # imports Ray and torch: only once the checks passed

    errors.keep_sigterm_after_ray_init()
    return execute_run(prepared, show_progress=not args.quiet, quiet_ray=not args.debug)


def _say(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        print(f"[lightly-ray] {message}", file=sys.stderr)


def _elapsed() -> float:
    return time.monotonic() - _Clock.started


def console() -> None:
    """The `lightly-ray` console command: `main`, then exit with its code.

    After Ctrl-C or SIGTERM, the run has already stopped its Ray instance; the process then exits
    at once, because the interpreter's own teardown can crash in a Ray start that was interrupted
    half way. The same holds after a cluster that did not complete the handshake: Ray's half-made
    client can abort the process in its teardown (std::bad_alloc), after the message was printed.
    """
    code = main()
    if _Clock.exit_at_once:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    console()
