"""`phm bench sparkplug`: durable ingest of Sparkplug B DDATA beside native payloads, one run.

Both legs carry the same rows (the pumps' `process` stream, 5 channels, `--rows` rows per
message, `--messages` messages round robin over the pumps) through a local Mosquitto into one
`IngestWorker --sparkplug` each (its own store):

- native: `phm/v1/...` payloads (one frame of `--rows` rows);
- sparkplug: an edge node's DDATA (the same rows, each value a metric by alias with its row's
  timestamp), after its NBIRTH and DBIRTHs.

Everything is published first, into the worker's persistent session (the worker is down), then
the worker starts: the rate is readings committed per second from its start to the last
commit, so the publisher does not bound it. The lake's row count is checked afterwards.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from phm.bench.results import markdown_table, write_result
from phm.errors import ConfigError
from phm.ingest.worker import IngestWorker
from phm.plant import Plant, load_plant, sparkplug_map
from phm.wire.codec import encode
from phm.wire.topics import topic_for


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--assets", type=int, default=8, help="fleet size (pumps carry the rows)")
    parser.add_argument("--messages", type=int, default=2000, help="messages per leg")
    parser.add_argument("--rows", type=int, default=10, help="rows per message")
    parser.add_argument("--batch-max", type=int, default=1000, help="worker messages per commit")
    parser.add_argument("--out", default="results", help="folder for sparkplug.json")


def _leg(
    kind: str, plant: Plant, folder: Path, n_messages: int, rows: int, batch_max: int
) -> dict[str, Any]:
    from phm.bench.ingest import Publisher
    from phm.ingest.broker import MosquittoProcess, free_port
    from phm.ingest.session import init_session
    from phm.sim.sparkplug_node import SparkplugEdgeNode

    broker = MosquittoProcess(free_port(), folder / "mosquitto").start()
    store = folder / "store"
    pumps = [a for a in plant.assets.values() if a.type == "pump"]
    spec = plant.stream(pumps[0].asset_id, "process")
    rng = np.random.default_rng(0)
    per_pump = -(-n_messages // len(pumps))
    base = time.time() - per_pump * rows - 60.0  # every row in the past, within the window
    worker_args = dict(batch_max=batch_max, compact_every_s=0, sparkplug=True)
    try:
        init_session(IngestWorker(broker.url, store, plant, **worker_args))
        if kind == "native":
            pub = Publisher(broker.url)
        else:
            mapping = sparkplug_map(plant)
            nodes = {
                name: SparkplugEdgeNode(
                    broker.url,
                    mapping.group,
                    name,
                    [d for (node, _), d in mapping.devices.items() if node == name],
                )
                for name in mapping.edge_nodes
            }
            node_of = {d.asset: nodes[d.edge_node] for d in mapping.devices.values()}
        for i in range(n_messages):
            asset = pumps[i % len(pumps)]
            t0 = base + (i // len(pumps)) * rows
            values = rng.uniform(0, 100, (rows, len(spec.channels))).astype(np.float32)
            if kind == "native":
                topic = topic_for(asset.site, asset.line, asset.asset_id, "process")
                pub.publish(topic, encode(i, t0, values, spec.channels, dt=1.0))
            else:
                times = t0 + np.arange(rows, dtype=np.float64)
                node_of[asset.asset_id].publish_rows(
                    asset.asset_id, "process", spec.channels, times, values
                )
        if kind == "native":
            pub.wait_acked(120)
            pub.close()
            published = n_messages
        else:
            for node in nodes.values():
                node.close()
            published = sum(node.published for node in nodes.values())
        expected = n_messages * rows * len(spec.channels)
        worker = IngestWorker(broker.url, store, plant, **worker_args)
        began = time.monotonic()
        worker.start()
        deadline = began + 600
        while worker.stats.messages < published and time.monotonic() < deadline:
            time.sleep(0.01)
        wall = time.monotonic() - began
        worker.stop()
        from phm.store.lake import Lake

        lake = Lake(store / "lake", plant)
        stored = sum(lake.read_rows("process", a.asset_id).height for a in pumps)
    finally:
        broker.kill()
    return {
        "leg": kind,
        "messages": worker.stats.messages,
        "readings": worker.stats.readings,
        "expected_readings": expected,
        "rows_in_lake": stored,
        "dead_letters": worker.stats.dead_letters,
        "wall_s": wall,
        "readings_per_s": worker.stats.readings / wall,
    }


def run(args: argparse.Namespace) -> int:
    if args.messages < 1 or args.rows < 1:
        raise ConfigError(f"--messages and --rows must be >= 1, got {args.messages}, {args.rows}")
    plant = load_plant(assets=args.assets)
    if not any(a.type == "pump" for a in plant.assets.values()):
        raise ConfigError(f"--assets {args.assets}: the fleet has no pump")
    legs = []
    for kind in ("native", "sparkplug"):
        folder = Path(tempfile.mkdtemp(prefix=f"phm-bench-spb-{kind}-"))
        try:
            legs.append(_leg(kind, plant, folder, args.messages, args.rows, args.batch_max))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    table = markdown_table(
        ["leg", "messages", "readings", "rows in lake", "dead letters", "s", "readings/s"],
        [
            [
                r["leg"],
                r["messages"],
                r["readings"],
                r["rows_in_lake"],
                r["dead_letters"],
                round(r["wall_s"], 2),
                round(r["readings_per_s"]),
            ]
            for r in legs
        ],
    )
    print(table)
    ratio = legs[1]["readings_per_s"] / legs[0]["readings_per_s"]
    print(f"sparkplug / native readings per second: {ratio:.2f}")
    write_result(
        args.out,
        "sparkplug",
        {"sparkplug_readings_per_s": legs[1]["readings_per_s"], "ratio_to_native": ratio},
        {"legs": legs, "args": vars(args)},
        table,
    )
    ok = all(r["readings"] == r["expected_readings"] for r in legs)
    return 0 if ok else 1
