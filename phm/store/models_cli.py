"""`phm models list|activate|rollback`: the store's model registry (phm.store.registry).

phm models list --store STORE [--type pump]
phm models register CKPT --store STORE [--type pump]   (e.g. the demo's simulated-lives model)
phm models activate VERSION --store STORE [--type pump]
phm models rollback --store STORE [--type pump]

A running `phm monitor` on the same store picks the newly active version up on its next pass.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from phm.errors import ConfigError
from phm.store.registry import ModelRegistry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the models commands (one parser per name; unused flags are harmless)."""
    parser.add_argument(
        "item", nargs="?", help="activate: the version, e.g. v0002; register: the checkpoint"
    )
    parser.add_argument("--store", type=Path, required=True, help="store folder (STORE/models)")
    parser.add_argument("--type", default="pump", help="asset type of the models (pump)")


def run(args: argparse.Namespace) -> int:
    """Dispatch on args.name."""
    registry = ModelRegistry(args.store, args.type)
    if args.name == "list":
        print(format_versions(registry))
        return 0
    if args.name == "register":
        if not args.item:
            raise ConfigError("phm models register CKPT: give the checkpoint file")
        mv = registry.register(Path(args.item), f"phm models register {args.item}")
        state = "active" if registry.active() == mv.version else "registered, not active"
        print(f"{registry.root / mv.version}: {state} (dataset {mv.dataset})")
        return 0
    if args.name == "activate":
        if not args.item:
            raise ConfigError("phm models activate VERSION: give the version, e.g. v0002")
        mv = registry.activate(args.item)
    else:
        mv = registry.rollback()
    print(f"{registry.root}: {mv.version} is active ({mv.source})")
    return 0


def format_versions(registry: ModelRegistry) -> str:
    """One line per version: active mark, version, created, dataset, parent, test figures."""
    versions = registry.versions()
    if not versions:
        return f"{registry.root}: no models registered"
    active = registry.active()
    lines = [f"{registry.root}:"]
    for v in versions:
        fault = v.metrics.get("test", {}).get("fault", {})
        figures = (
            f"test accuracy {fault['accuracy']:.3f}, macro-F1 {fault['macro_f1']:.3f}"
            if "accuracy" in fault
            else "no test figures"
        )
        mark = "*" if v.version == active else " "
        lines.append(
            f"{mark} {v.version}  {v.created}  {v.dataset}  parent {v.parent or '-'}  {figures}"
        )
    return "\n".join(lines)
