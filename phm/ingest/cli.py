"""`phm ingest --broker URL --store DIR`: consume the plant's MQTT streams into the store.

Store layout: DIR/lake (Parquet segments) and DIR/state.sqlite (or `--state postgresql://...`:
several workers on several hosts, `--shared`, one lake on a shared path; docs/deployment.md).
Runs until SIGINT/SIGTERM, then commits and acknowledges the batch in hand and disconnects. `mqtts://host[:8883]?ca=FILE`
for TLS (phm.wire.mqtt). The user name comes from PHM_MQTT_USERNAME (or the URL), the
password from PHM_MQTT_PASSWORD or PHM_MQTT_PASSWORD_FILE (a password in the URL is visible in
`ps`: it works, with a warning). Every `--compact-every` seconds a thread merges the small
segments of partitions holding more than `--max-files` files.

`phm ingest --init-session` (install step): create the worker's persistent session and
subscription at the broker, then exit, so messages published before ingest first runs are
queued for it (see docs/live-path.md).

`--sparkplug` also ingests the Sparkplug B edge nodes of the plant's `[sparkplug]` group
(phm.ingest.sparkplug; docs/i20/sparkplug.md).
"""

from __future__ import annotations

import argparse
import os

from phm.cli import add_log_level, configure_logging
from phm.ingest.worker import IngestWorker
from phm.plant import load_plant
from phm.store.compaction import COMPACT_EVERY_S
from phm.store.state import STATE_HELP, use_state_url


def _partition(text: str) -> tuple[int, int]:
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected K/N, e.g. 0/2") from None
    return k, n


def add_arguments(parser: argparse.ArgumentParser) -> None:
    env = os.environ.get
    parser.add_argument(
        "--broker",
        default=env("PHM_BROKER", "mqtt://127.0.0.1:1883"),
        help="mqtt://host[:port] or mqtts://host[:port]?ca=FILE[&cert=FILE&key=FILE] "
        "(default: $PHM_BROKER or local 1883); password: PHM_MQTT_PASSWORD[_FILE]",
    )
    parser.add_argument("--store", required=True, help="store folder: DIR/lake, DIR/state.sqlite")
    parser.add_argument("--state", default=None, metavar="URL", help=STATE_HELP)
    parser.add_argument(
        "--plant", default=None, help="plant registry (default phm/configs/plant.toml)"
    )
    parser.add_argument("--assets", type=int, default=None, help="resize the plant's fleet to N")
    parser.add_argument(
        "--client-id",
        default=env("PHM_INGEST_CLIENT_ID", "phm-ingest"),
        help="fixed MQTT client id of the persistent session (one per worker)",
    )
    parser.add_argument(
        "--shared",
        action="store_true",
        help="join the MQTT 5 shared subscription $share/phm-ingest (Mosquitto 2.0 drops "
        "what arrives for the group while its members resubscribe after a broker restart: "
        "prefer --partition)",
    )
    parser.add_argument(
        "--partition",
        type=_partition,
        default=None,
        metavar="K/N",
        help="store the assets of partition K of N (a stable hash of the asset id; each "
        "worker its own K and --client-id, one persistent session each)",
    )
    parser.add_argument("--batch-max", type=int, default=1000, help="messages per commit at most")
    parser.add_argument("--batch-ms", type=float, default=100.0, help="ms to fill a batch at most")
    parser.add_argument(
        "--mqtt-version",
        choices=("5", "3.1.1"),
        default="5",
        help="MQTT protocol (3.1.1 for the embedded amqtt broker; no --shared then)",
    )
    parser.add_argument(
        "--compact-every",
        type=float,
        default=COMPACT_EVERY_S,
        help=f"seconds between lake compaction passes (default {COMPACT_EVERY_S:g}; 0: never)",
    )
    parser.add_argument(
        "--max-files",
        type=int,
        default=16,
        help="a partition with more segment files than this gets its small ones merged",
    )
    parser.add_argument(
        "--sparkplug",
        action="store_true",
        help="also take Sparkplug B (spBv1.0/<group>/...) mapped by the plant's [sparkplug] "
        "table (one worker for them: not with --shared; with --partition, on partition 0)",
    )
    parser.add_argument(
        "--init-session",
        action="store_true",
        help="install step: create the persistent session and subscription, then exit",
    )
    parser.add_argument(
        "--mosquitto-pid",
        type=int,
        default=None,
        help="with --init-session: SIGUSR1 this local mosquitto so it saves the session now",
    )
    add_log_level(parser)


def run(args: argparse.Namespace) -> int:
    configure_logging(args.log_level)
    use_state_url(args.state)
    plant = load_plant(args.plant, assets=args.assets)
    worker = IngestWorker(
        args.broker,
        args.store,
        plant,
        client_id=args.client_id,
        shared=args.shared,
        batch_max=args.batch_max,
        batch_ms=args.batch_ms,
        protocol=args.mqtt_version,
        compact_every_s=args.compact_every,
        max_files=args.max_files,
        sparkplug=args.sparkplug,
        partition=args.partition,
    )
    if args.init_session:
        from phm.ingest.session import init_session

        present = init_session(worker, mosquitto_pid=args.mosquitto_pid)
        print(
            f"phm ingest: session {args.client_id!r} {'was present' if present else 'created'}, "
            f"subscribed to {', '.join(worker.subscriptions)} at QoS 1"
        )
        return 0
    stats = worker.run()
    print(
        f"phm ingest: {stats.messages} messages, {stats.readings} readings, "
        f"{stats.duplicates} duplicates, {stats.dead_letters} dead letters, "
        f"{stats.commit_failures} failed commits"
    )
    return 0 if stats.commit_failures == 0 else 1
