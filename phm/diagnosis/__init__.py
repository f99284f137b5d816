"""phm.diagnosis: signal detectors and asset records -> symptom evidence for `phm.kg`.

Each detector turns features of one asset's data into soft evidence {detector key: strength in
[0, 1]} (near 1 present, near 0 measured and absent; nothing emitted where its data are
missing: unknown), the detector keys of the graphs in phm/configs/kg:

- `phm.diagnosis.evidence`: vibration (envelope-spectrum defect lines, shaft orders, the
  high-frequency floor), temperature and process rows against the healthy load model
  (`PumpBaseline`), trends, recipe steps.
- `phm.diagnosis.load_cycle`: how vibration follows the operating conditions over a day, 1x
  steps and phase wander.
- `phm.diagnosis.history`: the pump's history since start-up and its sister pumps.
- `phm.diagnosis.context`: the plant's records (maintenance, oil analysis, inspections, rounds).
- `phm.diagnosis.record`: `PumpRecord`, one pump's data as the detectors read them, and
  `record_symptoms`, every pump detector on one record.

Layering: `phm.diagnosis` may import `phm.kg` (the strength range of its soft evidence);
`phm.kg` never imports `phm.diagnosis`, and neither imports `phm.sim`.
"""
