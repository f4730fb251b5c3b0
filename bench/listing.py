"""Benchmark the storage layer's S3 listing and batched reads against plain boto3, on a moto server.

What it measures, in one run against a moto S3 server started on 127.0.0.1 (in this process):

* `list_s`: streaming every object below `s3://<bucket>/images` through
  `Location(...).list_files()` (generator consumed, files counted), against `boto3_list_s`: a
  plain boto3 `list_objects_v2` paginator with every page consumed.
* `read_s`: reading a fixed subset of `--read-objects` objects the way the pipeline's decode tasks
  do (`Location.read_many(batch, concurrency=C)` on consecutive batches of up to 64 names, see
  pipeline/build.py MAX_SAMPLES_PER_DECODE_BLOCK and pipeline/decode.py), against `boto3_read_s`:
  `get_object(...)["Body"].read()` over the same batches in a ThreadPoolExecutor with the same C.

The objects (`--objects`, a few hundred bytes each, spread over 100 sub-prefixes) are created
beforehand with concurrent PUTs; that part is timed (`put_s`) but is not part of the comparison.
Ratios above 1 mean the storage layer is faster than plain boto3 (`list_ratio` =
boto3_list_s / list_s, `read_ratio` = boto3_read_s / read_s); the target is >= 0.9.

Progress goes to stderr; the last line of stdout is one JSON object with the results.

Run:
    .venv/bin/python bench/listing.py                                     # 20,000 objects (minutes)
    .venv/bin/python bench/listing.py --objects 2000 --read-objects 500   # quick run
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

BUCKET = "bench-listing"
ROOT = "images"
SUB_PREFIXES = 100
PUT_THREADS = 32
# The pipeline's decode tasks read batches of at most this many names (pipeline/build.py).
PIPELINE_BATCH = 64
# Same connection pool as the storage layer's client (storage/s3.py), so that boto3 is not
# throttled by botocore's default pool of 10 connections at concurrency 16.
POOL_CONNECTIONS = 64


def log(message: str) -> None:
    print(f"[bench.listing] {message}", file=sys.stderr, flush=True)


def key_of(index: int) -> str:
    return f"{ROOT}/sub_{index % SUB_PREFIXES:02d}/img_{index:06d}.jpg"


def payload_of(index: int) -> bytes:
    """A tiny fake JPEG (SOI/APP0 marker, 200-600 deterministic random bytes, EOI marker)."""
    rng = random.Random(index)
    return b"\xff\xd8\xff\xe0" + rng.randbytes(rng.randint(200, 600)) + b"\xff\xd9"


def start_moto() -> Any:
    """Start moto on 127.0.0.1 (free port) and point every boto3 client of this process at it."""
    from moto.server import ThreadedMotoServer

    # werkzeug logs every request to stderr even with verbose=False; that costs CPU in this
    # process (the server runs in a thread here) and floods the progress output.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(
        AWS_ENDPOINT_URL=f"http://{host}:{port}",
        AWS_ACCESS_KEY_ID="lightly-ray-bench-key-id",
        AWS_SECRET_ACCESS_KEY="lightly-ray-bench-secret",
        AWS_DEFAULT_REGION="us-east-1",
    )
    log(f"moto S3 server on http://{host}:{port}")
    return server


def plain_client(pool: int) -> Any:
    """A plain boto3 S3 client (environment endpoint and credentials, default retries)."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client("s3", config=Config(max_pool_connections=pool))


def create_objects(client: Any, count: int) -> float:
    """PUT `count` objects with a thread pool; returns the seconds it took."""
    started = time.perf_counter()

    def put(index: int) -> None:
        client.put_object(Bucket=BUCKET, Key=key_of(index), Body=payload_of(index))

    with ThreadPoolExecutor(max_workers=PUT_THREADS) as pool:
        for done, _ in enumerate(pool.map(put, range(count)), start=1):
            if done % 2000 == 0 or done == count:
                log(f"put {done}/{count} objects ({time.perf_counter() - started:.1f}s)")
    return time.perf_counter() - started


def layer_list(location: Any) -> int:
    return sum(1 for _ in location.list_files())


def boto3_list(client: Any) -> int:
    count = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{ROOT}/"):
        count += len(page.get("Contents", ()))
    return count


def batches(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def layer_read(location: Any, relatives: Sequence[str], concurrency: int) -> list[bytes]:
    out: list[bytes] = []
    for batch in batches(relatives, PIPELINE_BATCH):
        for result in location.read_many(batch, concurrency=concurrency):
            if isinstance(result, Exception):
                raise result
            out.append(result)
    return out


def boto3_read(client: Any, keys: Sequence[str], concurrency: int) -> list[bytes]:
    # One executor for the whole run (the cheapest way to do it with boto3), used batch by batch
    # with the same barrier per batch as the pipeline's decode tasks.
    def get(key: str) -> bytes:
        data: bytes = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        return data

    out: list[bytes] = []
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for batch in batches(keys, PIPELINE_BATCH):
            out.extend(pool.map(get, batch))
    return out


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def run(args: argparse.Namespace) -> dict[str, Any]:
    # Environment first: the storage layer's boto3 client reads it when first created.
    server = start_moto()
    try:
        from lightly_ray.storage.location import Location

        boto = plain_client(POOL_CONNECTIONS)
        boto.create_bucket(Bucket=BUCKET)
        put_client = plain_client(PUT_THREADS)
        log(f"creating {args.objects} objects with {PUT_THREADS} threads")
        put_s = create_objects(put_client, args.objects)

        location = Location(f"s3://{BUCKET}/{ROOT}", writable=False)
        # A fixed, evenly spread subset of the objects (every k-th index, deterministic).
        read_count = min(args.read_objects, args.objects)
        step = args.objects / read_count if read_count else 1
        indices = [int(i * step) for i in range(read_count)]
        relatives = [key_of(i)[len(ROOT) + 1 :] for i in indices]
        keys = [key_of(i) for i in indices]

        # Warm-up, untimed: each client loads its service model and opens a connection once, so
        # the timings compare steady-state work, not botocore's one-time start-up.
        next(iter(location.list_files()), None)
        boto.list_objects_v2(Bucket=BUCKET, Prefix=f"{ROOT}/", MaxKeys=1)
        if keys:
            location.read_bytes(relatives[0])
            boto.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read()

        # Order: the two sides alternate which goes first on every repeat (layer first on even
        # repeats, boto3 first on odd ones) and the best of the repeats is kept, so neither side
        # systematically benefits from a server or client warmed by the other. moto keeps the
        # objects in memory (no page cache), so the default of 1 repeat (layer first) is fair
        # enough for a short run; use --repeats 2+ for numbers to report.
        list_times: dict[str, list[float]] = {"layer": [], "boto3": []}
        read_times: dict[str, list[float]] = {"layer": [], "boto3": []}
        for repeat in range(args.repeats):
            order = ("layer", "boto3") if repeat % 2 == 0 else ("boto3", "layer")
            for side in order:
                if side == "layer":
                    seconds, found = timed(lambda: layer_list(location))
                else:
                    seconds, found = timed(lambda: boto3_list(boto))
                if found != args.objects:
                    raise RuntimeError(f"{side} listing found {found} objects, expected {args.objects}")
                list_times[side].append(seconds)
                log(f"repeat {repeat + 1}: {side} listed {found} objects in {seconds:.3f}s")
            for side in order:
                if side == "layer":
                    seconds, data = timed(lambda: layer_read(location, relatives, args.concurrency))
                else:
                    seconds, data = timed(lambda: boto3_read(boto, keys, args.concurrency))
                if len(data) != read_count:
                    raise RuntimeError(f"{side} read {len(data)} objects, expected {read_count}")
                # Byte equality on a sample (every 10th object, plus the last).
                sample = [*range(0, read_count, 10), read_count - 1] if read_count else []
                for position in sample:
                    if data[position] != payload_of(indices[position]):
                        raise RuntimeError(f"{side} read wrong bytes for {keys[position]}")
                read_times[side].append(seconds)
                log(f"repeat {repeat + 1}: {side} read {read_count} objects in {seconds:.3f}s")

        list_s, boto3_list_s = min(list_times["layer"]), min(list_times["boto3"])
        read_s, boto3_read_s = min(read_times["layer"]), min(read_times["boto3"])
        return {
            "objects": args.objects,
            "list_s": round(list_s, 4),
            "boto3_list_s": round(boto3_list_s, 4),
            "read_objects": read_count,
            "read_s": round(read_s, 4),
            "boto3_read_s": round(boto3_read_s, 4),
            "list_ratio": round(boto3_list_s / list_s, 3),
            "read_ratio": round(boto3_read_s / read_s, 3) if read_s > 0 else None,
            "concurrency": args.concurrency,
            "batch_size": PIPELINE_BATCH,
            "repeats": args.repeats,
            "put_s": round(put_s, 2),
            "list_s_all": [round(s, 4) for s in list_times["layer"]],
            "boto3_list_s_all": [round(s, 4) for s in list_times["boto3"]],
            "read_s_all": [round(s, 4) for s in read_times["layer"]],
            "boto3_read_s_all": [round(s, 4) for s in read_times["boto3"]],
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        }
    finally:
        server.stop()
        log("moto server stopped")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=20_000, help="objects to create and list")
    parser.add_argument("--read-objects", type=int, default=2_000, help="objects to read (a fixed subset)")
    parser.add_argument("--concurrency", type=int, default=16, help="read threads (Location.read_many)")
    parser.add_argument("--repeats", type=int, default=1, help="measurements per side; the best is kept")
    args = parser.parse_args()
    if args.objects < 1 or args.read_objects < 0 or args.concurrency < 1 or args.repeats < 1:
        parser.error("--objects, --concurrency and --repeats must be >= 1, --read-objects >= 0")
    result = run(args)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
