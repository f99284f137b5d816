"""Evaluation protocols: which data trains, which data tests, for each public dataset.

No protocol ever lets test data reach training or model selection.
"""

from __future__ import annotations

# --- C-MAPSS -------------------------------------------------------------------------------

# --- PRONOSTIA (FEMTO) ---------------------------------------------------------------------

# --- CWRU ----------------------------------------------------------------------------------
