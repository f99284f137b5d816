"""What a plant knows about a pump beside its sensors, rendered per fault scenario.

`maintenance_context` returns the raw observations a reliability engineer could look up when an
alert fires: the CMMS maintenance history, the oil / grease analysis, the findings of the last
inspection and the operator's rounds. Each observation is imperfect and often missing:

- a record group is there only for some pumps (`AVAILABLE`: not every pump is in the oil
  programme, not every pump has been stopped for an inspection), and a single field is lost
  with `FIELD_LOST`;
- a root cause shows in an observation only with a sensitivity below 1 (the work order was not
  written, the sample was taken downstream of the filter), and pumps without that cause show it
  at a false-positive rate above 0 (a recently overhauled healthy pump, a dirty sample bottle).

The rates below are the simulated plant's, chosen here from the way such records fail, and are
deliberately not the likelihoods of the knowledge graph (phm/configs/kg/rotating_equipment.yaml).

Fields (None when missing):
    cmms         days_since_bearing_change, bearing_life_used (running hours / L10),
                 bearing_changes_5y, days_since_install, relube_overdue_ratio (days since
                 relubrication / interval), lubricant_changed (bool), strainer_overdue_ratio
                 (days since the strainer was cleaned / interval)
    oil          particle_code (ISO 4406 code at 4 um), water_ppm, oxidation_pct,
                 viscosity_change_pct (against the specified grade at 40 deg C),
                 iron_oxide (bool: red fretting-corrosion debris in the ferrogram)
    inspection   impeller_deposits, impeller_pitting, vane_damage, bolts_below_torque,
                 baseplate_crack, housing_out_of_round, fretting_marks, flange_moves,
                 coupling_insert_worn, hot_alignment_off (bools), soft_foot_mm,
                 cold_misalignment_mm
    rounds       strainer_dp_kpa, tank_level_low (bool), fluid_temp_rise_c (above design),
                 pipe_support_faulty (bool: a spring hanger bottomed out or a support missing)
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

AVAILABLE = {"cmms": 0.85, "oil": 0.5, "inspection": 0.4, "rounds": 0.6}
FIELD_LOST = 0.1
GROUPS = {
    "cmms": (
        "days_since_bearing_change",
        "bearing_life_used",
        "bearing_changes_5y",
        "days_since_install",
        "relube_overdue_ratio",
        "lubricant_changed",
        "strainer_overdue_ratio",
    ),
    "oil": ("particle_code", "water_ppm", "oxidation_pct", "viscosity_change_pct", "iron_oxide"),
    "inspection": (
        "impeller_deposits",
        "impeller_pitting",
        "vane_damage",
        "bolts_below_torque",
        "baseplate_crack",
        "housing_out_of_round",
        "fretting_marks",
        "flange_moves",
        "coupling_insert_worn",
        "hot_alignment_off",
        "soft_foot_mm",
        "cold_misalignment_mm",
    ),
    "rounds": ("strainer_dp_kpa", "tank_level_low", "fluid_temp_rise_c", "pipe_support_faulty"),
}
CONTEXT_FIELDS: tuple[str, ...] = tuple(f for fields in GROUPS.values() for f in fields)
# inspection findings: (sensitivity per cause, false-positive rate otherwise)
FINDINGS: dict[str, tuple[dict[str, float], float]] = {
    "impeller_deposits": ({"impeller fouling / imbalance": 0.75}, 0.10),
    # cavitation pits the impeller too
    "impeller_pitting": (
        {
            "impeller erosion": 0.7,
            "low suction head": 0.35,
            "clogged suction strainer": 0.35,
            "high fluid temperature": 0.35,
        },
        0.05,
    ),
    "vane_damage": ({"broken vane fragment": 0.8, "impeller erosion": 0.15}, 0.02),
    "bolts_below_torque": ({"loose hold-down bolts": 0.75, "cracked baseplate": 0.2}, 0.08),
    "baseplate_crack": ({"cracked baseplate": 0.65}, 0.03),
    "housing_out_of_round": ({"housing bore": 0.7, "worn fit": 0.2}, 0.04),
    # a ring creeping in its seat (shaft or housing) leaves fretting marks
    "fretting_marks": ({"improper fit": 0.6, "worn fit": 0.6, "housing bore": 0.5}, 0.05),
    "flange_moves": ({"pipe strain": 0.7}, 0.06),
    # a misaligned coupling chews its elastomer insert; nozzle loads and growth less so
    "coupling_insert_worn": (
        {"coupling misalignment": 0.55, "pipe strain": 0.15, "thermal growth": 0.15},
        0.05,
    ),
    # checked hot: off when the cold alignment left no allowance for growth, and off as it
    # was cold for a coupling that was never aligned
    "hot_alignment_off": (
        {"thermal growth": 0.7, "coupling misalignment": 0.5, "pipe strain": 0.25},
        0.05,
    ),
}
BEARING_CAUSES = ("contamination", "worn bearing", "overload / fatigue", "improper fit")
BEARING_CAUSES += ("brinelling from shipping", "housing bore")


def maintenance_context(
    asset_id: str, seed: int, root_cause: str | None, t: float = 0.0, fit: str | None = None
) -> dict[str, Any]:
    """The context observations of one pump at life time t (s): field -> value or None.

    root_cause: the scenario's root cause (phm.sim.rotating ROOT_CAUSES), None when healthy;
    fit: for an improper fit, "tight" or "loose" (only a loose ring creeps and frets).
    Deterministic per (seed, asset_id); fields in CONTEXT_FIELDS."""
    key = (zlib.crc32(asset_id.encode()), 4, 0)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))
    c = root_cause or ""
    days = t / 86_400

    def hit(p: float) -> bool:
        return bool(rng.random() < p)

    out: dict[str, Any] = {}
    # --- CMMS: bearing history. Improper fit shows soon after a bearing change, a worn bearing
    # beyond its L10 life; an unlogged change looks like any other pump.
    l10_days = rng.uniform(20_000, 40_000) / (24 * rng.uniform(0.7, 0.95))
    if c == "improper fit" and hit(0.75):
        changed = rng.uniform(3, 60)
    elif c == "worn bearing" and hit(0.7):
        changed = l10_days * rng.uniform(0.9, 2.2)
    else:
        changed = rng.uniform(30, 1500)
    out["days_since_bearing_change"] = changed + days
    out["bearing_life_used"] = (changed + days) / l10_days
    worn = c == "worn fit" and hit(0.7)
    out["bearing_changes_5y"] = int(3 + rng.poisson(1.5) if worn else rng.poisson(0.7))
    # new pumps (or ones just shipped from the workshop) are a few percent of any fleet
    recent = hit(0.8) if c == "brinelling from shipping" else hit(0.04)
    out["days_since_install"] = (rng.uniform(5, 60) if recent else rng.uniform(90, 5000)) + days
    if c == "insufficient lubrication" and hit(0.7):
        out["relube_overdue_ratio"] = rng.uniform(1.3, 3.0)
    else:
        out["relube_overdue_ratio"] = rng.uniform(0.05, 1.2)
    out["lubricant_changed"] = hit(0.7) if c == "wrong lubricant" else hit(0.06)
    # --- oil / grease analysis: a spalling bearing sheds particles whatever started it
    code = {"contamination": 21.0}.get(c, 17.5 if c in BEARING_CAUSES else 16.5)
    out["particle_code"] = float(np.round(rng.normal(code, 1.5)))
    wet = c == "contamination" and hit(0.5)
    out["water_ppm"] = float(np.exp(rng.normal(np.log(1000.0 if wet else 150.0), 0.5)))
    oxid = {"grease degradation": 45.0, "insufficient lubrication": 25.0}.get(c, 12.0)
    out["oxidation_pct"] = float(max(rng.normal(oxid, 10.0 if oxid > 12 else 8.0), 0.0))
    # --- inspection findings
    for name, (sens, fp) in FINDINGS.items():
        out[name] = hit(sens.get(c, fp))
    soft = c == "soft foot" and hit(0.8)
    out["soft_foot_mm"] = float(rng.uniform(0.08, 0.3) if soft else abs(rng.normal(0, 0.03)))
    off = {"coupling misalignment": 0.85, "pipe strain": 0.3, "soft foot": 0.2}.get(c, 0.0)
    off = hit(off) or hit(0.06 if c != "thermal growth" else 0.1)
    out["cold_misalignment_mm"] = float(rng.uniform(0.1, 0.4) if off else abs(rng.normal(0, 0.03)))
    # --- operator rounds: local strainer dP gauge, tank level, fluid temperature in the DCS
    clogged = c == "clogged suction strainer" and hit(0.8)
    dp = rng.uniform(35, 90) if clogged else float(np.exp(rng.normal(np.log(10.0), 0.6)))
    out["strainer_dp_kpa"] = float(dp)
    out["tank_level_low"] = hit(0.7) if c == "low suction head" else hit(0.08)
    hot = c == "high fluid temperature" and hit(0.8)
    out["fluid_temp_rise_c"] = float(rng.uniform(10, 25) if hot else rng.normal(0, 4))
    # --- second signs of causes whose first is a single record or trace
    overdue = c == "clogged suction strainer" and hit(0.65)
    out["strainer_overdue_ratio"] = rng.uniform(1.2, 3.0) if overdue else rng.uniform(0.05, 1.3)
    # a too-thin grade reads thin against the specification; oxidised grease thickens
    thin = c == "wrong lubricant" and hit(0.75)
    thick = 8.0 if c == "grease degradation" else 0.0
    out["viscosity_change_pct"] = float(rng.normal(-35.0, 8.0) if thin else rng.normal(thick, 8.0))
    creeping = {"worn fit": 0.5, "housing bore": 0.35}.get(c, 0.0)
    if c == "improper fit" and fit != "tight":
        creeping = 0.6
    out["iron_oxide"] = hit(creeping) or hit(0.04)
    out["pipe_support_faulty"] = hit(0.55) if c == "pipe strain" else hit(0.06)
    # --- what is missing: whole record groups, then single fields
    for group, fields in GROUPS.items():
        there = hit(AVAILABLE[group])
        for f in fields:
            lost = hit(FIELD_LOST)
            if not there or lost:
                out[f] = None
    return {f: out[f] for f in CONTEXT_FIELDS}
