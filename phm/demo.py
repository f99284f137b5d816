"""`phm demo`: the live plant end to end on embedded defaults, no external servers.

One command starts, in this process: the embedded MQTT broker (amqtt; or `--broker URL`, e.g. a
Mosquitto run with phm/configs/mosquitto.conf), the plant simulator (phm/configs/plant.toml:
pumps developing faults, repaired 8 h of plant time after they fail, ion mill tools), the
ingest worker (acknowledges only committed data) and the monitor (predictions and alerts in
the state store), and the operators' dashboard
(Streamlit, http://127.0.0.1:8501; `--dashboard-port 0` for none). At the first start the
pump model is trained on simulated pump lives (`phm train --dataset plant`,
phm/configs/models/plant.toml; docs/BENCHMARKS.md has its time) and the ion mill model on a small
simulated PHM 2018 fleet, both kept under `--store`. It runs until Ctrl-C or `--duration`
seconds, printing the fleet's state, and stops everything cleanly. The simulator, ingest and
monitor run on CPU time the broker, the dashboard and the operators' browser do not want
(`--services-priority idle`, Linux SCHED_IDLE), so the screen stays quick on a small server
while the plant is busy (docs/BENCHMARKS.md, issue 19).

`phm demo --phm2018` runs the batch benchmark demo instead: simulate an ion-mill fleet in the
PHM 2018 layout, train the gradient-boosting TTF baseline and score it with the official S1.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from phm.models.prepare import DatasetOptions
    from phm.models.train import TrainOptions

from phm.resources import resource_path

DEMO_TOOLS = 20  # PHM 2018 demo: the challenge's training fleet size; 5 more tools are scored
DEMO_DAYS = 30.0
PUMP_MODEL_CONFIG = "models/plant.toml"  # shipped: phm/configs/models/plant.toml
# --services-priority: (nice increment, scheduling policy) of the simulator, ingest and monitor
PRIORITIES = {
    "idle": (19, getattr(os, "SCHED_IDLE", None)),
    "low": (10, None),
    "normal": (0, None),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store", type=Path, default=Path("data/demo"), help="folder for the demo's data"
    )
    parser.add_argument(
        "--broker",
        default=None,
        help="mqtt://host:port or mqtts://host:port?ca=FILE (default: embedded); password: "
        "PHM_MQTT_PASSWORD or PHM_MQTT_PASSWORD_FILE",
    )
    parser.add_argument("--port", type=int, default=0, help="embedded broker port (0: free)")
    parser.add_argument("--plant", type=Path, default=None, help="plant TOML")
    parser.add_argument("--assets", type=int, default=None, help="resize the plant's fleet")
    parser.add_argument(
        "--speed", type=float, default=2000.0, help="simulated seconds per wall second"
    )
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    parser.add_argument(
        "--dashboard-port", type=int, default=8501, help="dashboard port (0: no dashboard)"
    )
    parser.add_argument(
        "--services-priority",
        choices=tuple(PRIORITIES),
        default="idle",
        help="CPU priority of the plant's services (simulator, ingest, monitor) beside the "
        "broker and the dashboard: idle (only CPU time nothing else wants; the operators' "
        "screen first on a small server), low (nice 10) or normal",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--phm2018", action="store_true", help="the batch PHM 2018 demo")
    parser.add_argument("--tools", type=int, default=DEMO_TOOLS, help="--phm2018: tools")
    parser.add_argument("--days", type=float, default=DEMO_DAYS, help="--phm2018: days")
    parser.add_argument(
        "--model", default="gbm", choices=("nan", "gbm", "survival"), help="--phm2018: model"
    )


def run(args: argparse.Namespace) -> int:
    if args.phm2018:
        return run_phm2018(args)
    return run_live(args)


def _cached(path: Path) -> bool:
    """True when the demo's cached checkpoint at `path` exists and this version of phm reads
    it; one of an older checkpoint format (an earlier demo's) is set aside to be retrained."""
    from phm.models.checkpoint import CheckpointFormatError
    from phm.models.model import load_checkpoint

    if not path.exists():
        return False
    try:
        load_checkpoint(path)
    except CheckpointFormatError as exc:
        old = path.with_suffix(".old-format")
        path.replace(old)
        print(f"{exc}\nthe demo retrains it (the old file is kept as {old})")
        return False
    return True


def pump_model(store: Path, seed: int) -> Path:
    """The demo's pump checkpoint under `store`, trained on simulated lives at first start."""
    from phm.models.prepare import PlantOptions
    from phm.models.train import train_and_save

    path = store / "models" / "pump.pt"
    if _cached(path):
        return path
    print(f"first start: training the pump model ({Path(PUMP_MODEL_CONFIG).name}) into {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    options = _train_options(store, seed, PlantOptions(pumps=30, test_pumps=10), path, "pump")
    train_and_save(options).replace(path)  # only a finished checkpoint gets the real name
    return path


def ion_mill_model(store: Path, seed: int) -> Path:
    """The demo's ion mill checkpoint under `store`: at first start, a small simulated fleet
    in the PHM 2018 layout (3 tools x 4 days) and `phm train --dataset phm2018`, 3 epochs."""
    from phm.models.prepare import Phm2018Options
    from phm.models.train import train_and_save
    from phm.sim.ion_mill_files import simulate_phm2018

    path = store / "models" / "ion_mill.pt"
    if _cached(path):
        return path
    print(f"first start: training the ion mill model into {path}")
    data = store / "models" / "ion_mill_train"
    if not (data / ".complete").exists():
        simulate_phm2018(data, tools=3, days=4, seed=seed, test_tools=1, workers=1)
        (data / ".complete").write_text("ok\n")
    options = _train_options(store, seed, Phm2018Options(data=data), path, "ion_mill")
    train_and_save(dataclasses.replace(options, epochs=3)).replace(path)
    return path


def _train_options(
    store: Path, seed: int, data: DatasetOptions, path: Path, name: str
) -> TrainOptions:
    """`train_and_save` options of a demo model: CPU, phm/configs/models/plant.toml, the checkpoint
    written as PATH.tmp (renamed by the caller once finished), metrics beside it."""
    from phm.models.train import TrainOptions

    return TrainOptions(
        data=data,
        out=path.with_suffix(".tmp"),
        config=resource_path(PUMP_MODEL_CONFIG),
        seed=seed,
        metrics_out=store / "models" / f"{name}-metrics.json",
    )


def run_live(args: argparse.Namespace) -> int:
    """Broker, simulator, ingest and monitor in one process until Ctrl-C or --duration."""
    from phm.ingest.broker import EmbeddedBroker, free_port
    from phm.ingest.worker import IngestWorker
    from phm.monitor.scorer import Monitor, ScoringModel
    from phm.plant import load_plant
    from phm.sim.plant import run_plant_simulation
    from phm.store.state import StateStore
    from phm.wire.mqtt import redact_url

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    store: Path = args.store / "live"
    store.mkdir(parents=True, exist_ok=True)
    plant = load_plant(args.plant, args.assets)
    model = ScoringModel.load(pump_model(args.store, args.seed))
    ion_mill = None
    if any(a.type == "ion_mill" for a in plant.assets.values()):
        ion_mill = ScoringModel.load(ion_mill_model(args.store, args.seed), "phm2018")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    broker = None
    url, protocol = args.broker, "5"
    if url is None:
        port = args.port or free_port()
        broker = EmbeddedBroker(port, own_process=True).start()  # its own interpreter
        url, protocol = f"mqtt://127.0.0.1:{port}", "3.1.1"  # amqtt speaks MQTT 3.1.1
    from phm.wire.mqtt import parse_broker_url

    parse_broker_url(url)  # a bad URL, option or TLS file fails here, naming it
    shown = redact_url(url)
    print(f"broker {shown} ({'embedded amqtt' if broker else 'external'}); store {store}")
    worker = IngestWorker(url, store, plant, client_id="phm-demo-ingest", protocol=protocol)
    threads: list[threading.Thread] = []
    dashboard = None
    try:
        if args.dashboard_port:
            from phm.dashboard.cli import start_dashboard

            dashboard = start_dashboard(
                store, args.dashboard_port, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            print(f"dashboard http://127.0.0.1:{args.dashboard_port}")
        lower_priority(args.services_priority)  # before the service threads start
        worker.start()
        monitor = Monitor(store, plant, model, ion_mill_model=ion_mill)
        sim = threading.Thread(
            target=run_plant_simulation,
            kwargs={
                "plant": plant,
                "broker_url": url,
                "speed": args.speed,
                "seed": args.seed,
                "truth_path": store / "truth.jsonl",
                "stop": stop,
                "protocol": protocol,
            },
            name="simulator",
            daemon=True,
        )
        mon = threading.Thread(target=monitor.run, args=(2.0, stop), name="monitor", daemon=True)
        threads = [sim, mon]
        for t in threads:
            t.start()
        state = StateStore(store / "state.sqlite", readonly=True)
        print(f"{len(plant.assets)} assets at {args.speed:g}x; Ctrl-C stops")
        started = time.time()
        while not stop.wait(10.0):
            print(status_line(state))
            if args.duration is not None and time.time() - started >= args.duration:
                stop.set()
    finally:
        stop.set()
        for t in threads:
            t.join(30.0)
        worker.stop()
        if broker is not None:
            broker.stop()
        if dashboard is not None:
            dashboard.terminate()
            try:
                dashboard.wait(10)
            except subprocess.TimeoutExpired:
                dashboard.kill()
    print(status_line(StateStore(store / "state.sqlite", readonly=True)))
    return 0


def lower_priority(priority: str) -> None:
    """This thread's CPU priority, inherited by the threads it starts (priorities are per
    thread on Linux): "idle" (SCHED_IDLE: runs only on CPU time no other task wants), "low"
    (nice 10) or "normal". The services queue, they lose nothing: the broker holds what the
    ingest has not yet acknowledged."""
    nice, policy = PRIORITIES[priority]
    if nice:
        os.nice(nice)
    if policy is not None and hasattr(os, "sched_setscheduler"):
        os.sched_setscheduler(0, policy, os.sched_param(0))


def status_line(state: object) -> str:
    """Readings ingested, dead letters, predictions and open alerts, in one line."""
    counters = state.counters()  # type: ignore[attr-defined]
    preds = state.latest_predictions()  # type: ignore[attr-defined]
    alerts = [a for a in state.alerts() if a.status != "cleared"]  # type: ignore[attr-defined]
    worst = ", ".join(f"{a.asset_id} {a.severity}" for a in alerts[:6])
    return (
        f"{time.strftime('%H:%M:%S')} readings {counters.get('ingest_readings', 0):,}, "
        f"dead letters {counters.get('dead_letters', 0)}, assets scored {len(preds)}, "
        f"open alerts {len(alerts)}{': ' + worst if worst else ''}"
    )


def run_phm2018(args: argparse.Namespace) -> int:
    """Simulate the PHM 2018 layout, train the TTF baseline, score it with the official S1."""
    from phm.bench import phm2018 as bench_phm2018
    from phm.sim.ion_mill_files import simulate_phm2018

    data = args.store / f"phm2018-{args.tools}x{args.days:g}d-seed{args.seed}"
    if not (data / ".complete").exists():
        print(f"simulating {args.tools} ion-mill tools x {args.days:g} days into {data}")
        simulate_phm2018(data, tools=args.tools, days=args.days, seed=args.seed, workers=2)
        (data / ".complete").write_text("ok\n")
    parser = argparse.ArgumentParser(prog="phm bench phm2018")
    bench_phm2018.add_arguments(parser)  # the bench's own defaults, so the two never drift
    bench_args = parser.parse_args(
        ["--data", str(data), "--model", args.model, "--out", str(args.store / "bench"),
         "--seed", str(args.seed)]
    )  # fmt: skip
    return bench_phm2018.run(bench_args)
