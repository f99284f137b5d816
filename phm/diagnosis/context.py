"""Context evidence: what a plant knows beside its sensors -> {detector key: strength}.

Maintenance records (CMMS), oil / grease analysis, inspection findings and operator rounds, as
the fields of `phm.sim.maintenance` (None = not on record), become the `ctx.*`, `oil.*`,
`insp.*` keys and the rounds' `proc.strainer_dp_high`, `proc.tank_level_low`,
`proc.fluid_temp_high`, `proc.pipe_support_faulty` of phm/configs/kg/rotating_equipment.yaml. A
number beyond its threshold is the symptom, mapped to a strength by a logistic over its scale;
a recorded yes / no is RECORD_TRUE / RECORD_FALSE (records are sometimes wrong). How often a
record shows a cause, and how often it shows it without the cause, is the graph's business
(edge likelihoods, leaks).
"""

from __future__ import annotations

from collections.abc import Mapping

from phm.diagnosis.evidence import threshold_symptom

RECORD_TRUE, RECORD_FALSE = 0.95, 0.05  # a yes / no in a record: records are sometimes wrong

# field -> (detector key, threshold, scale): numbers beyond the threshold are the symptom
# (a negative scale: below it); booleans are a recorded yes / no
_CONTEXT_NUMBERS = {
    "days_since_bearing_change": ("ctx.recent_bearing_change", 90.0, -15.0),
    "bearing_life_used": ("ctx.bearing_age", 1.0, 0.08),
    "bearing_changes_5y": ("ctx.repeat_bearing_changes", 2.5, 0.3),
    "days_since_install": ("ctx.recent_install", 90.0, -15.0),
    "relube_overdue_ratio": ("ctx.relube_overdue", 1.15, 0.08),
    "particle_code": ("oil.particles", 19.0, 0.7),
    "water_ppm": ("oil.water", 500.0, 80.0),
    "oxidation_pct": ("oil.oxidation", 30.0, 4.0),
    "soft_foot_mm": ("insp.soft_foot", 0.05, 0.01),
    "cold_misalignment_mm": ("insp.cold_alignment", 0.08, 0.015),
    "strainer_dp_kpa": ("proc.strainer_dp_high", 25.0, 4.0),
    "strainer_overdue_ratio": ("ctx.strainer_overdue", 1.15, 0.08),
    "viscosity_change_pct": ("oil.viscosity_low", -15.0, -4.0),
    "fluid_temp_rise_c": ("proc.fluid_temp_high", 8.0, 1.5),
}
_CONTEXT_FLAGS = {
    "lubricant_changed": "ctx.lubricant_changed",
    "impeller_deposits": "insp.deposits",
    "impeller_pitting": "insp.pitting",
    "vane_damage": "insp.vane_damage",
    "bolts_below_torque": "insp.bolt_torque",
    "baseplate_crack": "insp.baseplate",
    "housing_out_of_round": "insp.housing_bore",
    "fretting_marks": "insp.fretting",
    "flange_moves": "insp.pipe_strain",
    "coupling_insert_worn": "insp.coupling_worn",
    "hot_alignment_off": "insp.hot_alignment",
    "iron_oxide": "oil.iron_oxide",
    "pipe_support_faulty": "proc.pipe_support_faulty",
    "tank_level_low": "proc.tank_level_low",
}


def context_symptoms(context: Mapping[str, object]) -> dict[str, float]:
    """Strengths from context observations (`phm.sim.maintenance` fields; None = missing, no
    evidence). Unknown fields raise ValueError naming them."""
    unknown = sorted(set(context) - set(_CONTEXT_NUMBERS) - set(_CONTEXT_FLAGS))
    if unknown:
        raise ValueError(
            f"context field(s) {', '.join(unknown)} unknown (expected some of "
            f"{', '.join(sorted([*_CONTEXT_NUMBERS, *_CONTEXT_FLAGS]))})"
        )
    out = {}
    for name, value in context.items():
        if value is None:
            continue
        if name in _CONTEXT_FLAGS:
            out[_CONTEXT_FLAGS[name]] = RECORD_TRUE if bool(value) else RECORD_FALSE
            continue
        key, limit, scale = _CONTEXT_NUMBERS[name]
        out[key] = threshold_symptom(float(value), limit, abs(scale), above=scale > 0)
    return out
