"""The PHM Society 2018 data challenge file layout: names, columns and fault labels.

Shared by the loader (`phm.datasets.phm2018`) and the simulator (`phm.sim.ion_mill`),
so both always agree on the official layout.

Layout of a dataset root:
    train/XX_MYY_DC_train.csv                    sensors, SENSOR_COLUMNS
    train/train_ttf/XX_MYY_DC_train.csv          labels, TTF_COLUMNS, rows 1:1 with sensors
    train/train_faults/XX_MYY_train_fault_data.csv  fault log, FAULT_COLUMNS
    test/XX_MYY_DC_test.csv                      sensors of the test tools
    <any folder>/XX_MYY_DC_test.csv, XX_MYY_DC_score.csv, XX_MYY_DC_groundtruth.csv
                                                 the final-validation release: history before
                                                 the scored period, the scored rows (sensors),
                                                 and the true TTF of each scored row
"""

from __future__ import annotations

import re

SENSOR_COLUMNS: tuple[str, ...] = (
    "time",
    "Tool",
    "stage",
    "Lot",
    "runnum",
    "recipe",
    "recipe_step",
    "IONGAUGEPRESSURE",
    "ETCHBEAMVOLTAGE",
    "ETCHBEAMCURRENT",
    "ETCHSUPPRESSORVOLTAGE",
    "ETCHSUPPRESSORCURRENT",
    "FLOWCOOLFLOWRATE",
    "FLOWCOOLPRESSURE",
    "ETCHGASCHANNEL1READBACK",
    "ETCHPBNGASREADBACK",
    "FIXTURETILTANGLE",
    "ROTATIONSPEED",
    "ACTUALROTATIONANGLE",
    "FIXTURESHUTTERPOSITION",
    "ETCHSOURCEUSAGE",
    "ETCHAUXSOURCETIMER",
    "ETCHAUX2SOURCETIMER",
    "ACTUALSTEPDURATION",
)

# Fault modes by short key, with the label the fault log uses and the TTF column name.
# The official files spell the first mode "FlowCool" and the others "Flowcool".
FAULT_MODES: tuple[str, ...] = ("pressure_low", "pressure_high", "leak")
FAULT_NAMES: dict[str, str] = {
    "pressure_low": "FlowCool Pressure Dropped Below Limit",
    "pressure_high": "Flowcool Pressure Too High Check Flowcool Pump",
    "leak": "Flowcool leak",
}
TTF_COLUMNS: tuple[str, ...] = ("time", *(f"TTF_{FAULT_NAMES[m]}" for m in FAULT_MODES))
TTF_COLUMN_OF: dict[str, str] = {m: f"TTF_{FAULT_NAMES[m]}" for m in FAULT_MODES}
FAULT_COLUMNS: tuple[str, ...] = ("time", "fault_name", "Tool")

# Label variants seen in the fault logs, mapped to their fault mode.
FAULT_NAME_VARIANTS: dict[str, str] = {
    **{name: mode for mode, name in FAULT_NAMES.items()},
    "Flowcool Pressure Too High Check Flowcool Pump [NoWaferID]": "pressure_high",
}

SAMPLE_PERIOD_S = 4
SHUTTER_UNKNOWN = 255  # FIXTURESHUTTERPOSITION takes 0-3, and 255 when the position is unknown

TOOL_PATTERN = re.compile(r"^(\d{2})_?(M\d{2})$")


def file_tool_name(tool: str) -> str:
    """`01M01` or `01_M01` -> `01_M01`, the spelling used in file names."""
    match = TOOL_PATTERN.match(tool.strip())
    if match is None:
        raise ValueError(f"tool {tool!r} is not of the form NN_MNN or NNMNN")
    return f"{match.group(1)}_{match.group(2)}"


def column_tool_name(tool: str) -> str:
    """`01_M01` or `01M01` -> `01M01`, the spelling used inside the files' Tool column."""
    return file_tool_name(tool).replace("_", "")


def tool_names(n: int, start: int = 1) -> list[str]:
    """The first n tool names in official order: 01_M01, 01_M02, 02_M01, ..."""
    names = []
    for i in range(n):
        k = start - 1 + i
        names.append(f"{k // 2 + 1:02d}_M{k % 2 + 1:02d}")
    return names
