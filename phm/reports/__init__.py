"""Batch RUL reports for reliability engineers (`phm report rul`).

sources (C-MAPSS test units, live store pumps) -> engines (local or Ray, identical numbers) ->
rul (per-asset quantiles, survival, maintenance window) + fleet (Weibull, Kaplan-Meier) ->
report (the data) -> render (HTML, PDF, CSV, Parquet).
"""
