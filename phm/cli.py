"""`phm <verb> [<name>] ...`: a thin layer that parses arguments and calls library functions.

Each command lives in its own module exposing `add_arguments(parser)` and `run(args) -> int`;
only the module of the command being run is imported, so `phm` starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from phm import __version__
from phm.errors import PhmError

# verb -> name -> (module, one-line help). A verb with a single None name takes no name.
COMMANDS: dict[str, dict[str | None, tuple[str, str]]] = {
    "simulate": {
        "phm2018": ("phm.sim.ion_mill_cli", "write a simulated PHM 2018 ion-mill dataset"),
        "plant": ("phm.sim.plant_cli", "publish a simulated plant over MQTT"),
    },
    "bench": {
        "report": ("phm.bench.report", "1,000-asset RUL report, local vs Ray"),
        "phm2018": ("phm.bench.phm2018", "PHM 2018 official score S1 of a model"),
        "io": ("phm.bench.io", "loader throughput and memory vs pandas.read_csv"),
        "cmapss": ("phm.bench.cmapss", "C-MAPSS turbofan RUL: RMSE and NASA score"),
        "femto": ("phm.bench.femto", "PRONOSTIA bearings RUL: PHM 2012 score"),
        "cwru": ("phm.bench.cwru", "CWRU bearing fault classification"),
        "recordings": (
            "phm.bench.recordings",
            "fault diagnosis on any labelled recordings, split by manifest columns",
        ),
        "model": ("phm.bench.model", "MoE vs dense: throughput, latency, balance"),
        "replay": (
            "phm.bench.replay",
            "recordings replayed through MQTT, ingest and the monitor: anomaly alerts",
        ),
        "ingest": (
            "phm.bench.ingest",
            "durable ingest rate and latency vs a bare subscriber",
        ),
        "sparkplug": (
            "phm.bench.sparkplug",
            "durable ingest of Sparkplug B DDATA beside native payloads",
        ),
        "rootcause": (
            "phm.bench.rootcause",
            "root-cause ranking: simulated scenarios and CWRU envelope",
        ),
        "dashboard": (
            "phm.bench.dashboard",
            "server render time of the fleet and asset pages",
        ),
        "story": ("phm.bench.story", "a live run's alerts, RUL and ion mill faults vs the truth"),
        "export": (
            "phm.bench.export",
            "PyTorch fp32 vs ONNX fp32 vs ONNX INT8: accuracy, size, CPU latency",
        ),
        "monitor": (
            "phm.bench.monitor",
            "monitor scoring: assets/s batched vs one-at-a-time",
        ),
    },
    "kg": {
        "explain": ("phm.kg.cli", "ranked root causes of an asset's latest alert or prediction"),
        "export": ("phm.kg.cli", "export a knowledge graph to GraphML or Cypher"),
        "check": ("phm.kg.cli", "validate a knowledge-graph YAML or FMEA CSV file"),
    },
    "report": {"rul": ("phm.reports.cli", "batch RUL report for reliability engineers")},
    "train": {
        None: ("phm.models.cli", "train the mixture-of-experts model and save a checkpoint"),
    },
    "pretrain": {
        None: ("phm.models.pretrain_cli", "self-supervised pretraining of the model's encoder"),
    },
    "distill": {
        None: ("phm.models.distill_cli", "distil a trained model into a smaller student"),
    },
    "export": {
        None: ("phm.models.export_cli", "export a checkpoint to ONNX (fp32 or INT8)"),
    },
    "models": {
        "list": ("phm.store.models_cli", "the store's registered model versions"),
        "register": ("phm.store.models_cli", "add a checkpoint as the next version"),
        "activate": ("phm.store.models_cli", "make a registered version the monitor's model"),
        "rollback": ("phm.store.models_cli", "re-activate the previously active version"),
    },
    "ingest": {None: ("phm.ingest.cli", "consume plant data from MQTT into the store")},
    "store": {
        "compact": ("phm.store.cli", "merge small lake segments (one pass; ingest runs it too)"),
    },
    "monitor": {None: ("phm.monitor.cli", "score the assets from the store and raise alerts")},
    "replay": {
        None: ("phm.sim.replay_cli", "publish recorded vibration files as live assets over MQTT"),
    },
    "demo": {
        None: ("phm.demo", "run the main job end to end on embedded defaults"),
    },
    "dashboard": {None: ("phm.dashboard.cli", "the operators' Streamlit dashboard")},
}


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The full parser; arguments are loaded only for the command named in argv."""
    parser = argparse.ArgumentParser(prog="phm", description="Industrial predictive maintenance.")
    parser.add_argument("--version", action="version", version=f"phm {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    chosen = [a for a in argv if not a.startswith("-")][:2]
    for verb, names in COMMANDS.items():
        if list(names) == [None]:
            module, help_text = names[None]
            p = verbs.add_parser(verb, help=help_text, description=help_text)
            if chosen[:1] == [verb]:
                _attach(p, module)
            continue
        p = verbs.add_parser(verb, help=f"{verb} commands: {', '.join(map(str, names))}")
        sub = p.add_subparsers(dest="name", required=True, metavar="NAME")
        for name, (module, help_text) in names.items():
            sp = sub.add_parser(str(name), help=help_text, description=help_text)
            if chosen == [verb, name]:
                _attach(sp, module)
    return parser


def _attach(parser: argparse.ArgumentParser, module_name: str) -> None:
    module = importlib.import_module(module_name)
    module.add_arguments(parser)
    parser.set_defaults(_run=module.run)


def add_log_level(parser: argparse.ArgumentParser) -> None:
    """`--log-level` of a long-running command; `configure_logging` applies it."""
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ...")


def configure_logging(level: str) -> None:
    """Log to stderr at `level` (a name; unknown names mean INFO), with times and loggers."""
    logging.basicConfig(
        level=getattr(logging, str(level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except PhmError as exc:
        print(f"phm: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("phm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
