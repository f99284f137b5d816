"""`phm report rul` end to end: C-MAPSS units and a live store, HTML, PDF, CSV, Parquet, and
clear errors for bad inputs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from phm.cli import main
from phm.models.model import PhmModel, load_config, save_checkpoint
from phm.reports import render
from phm.reports.report import build_report, read_checkpoint
from phm.reports.sources import ReportInputError, cmapss_source, store_source

TINY = Path(__file__).parents[2] / "phm" / "configs" / "models" / "tiny.toml"


def page_png(pdf: Path, out: Path) -> np.ndarray:
    """Page 1 of the PDF as an (H, W, 3) uint8 image, also saved at `out` to look at."""
    pdfium = pytest.importorskip("pypdfium2", reason="pypdfium2 (dev extra) renders PDF pages")
    doc = pdfium.PdfDocument(str(pdf))
    image = doc[0].render(scale=1.0).to_pil().convert("RGB")
    image.save(out)
    doc.close()
    return np.asarray(image)


def assert_not_blank(page: np.ndarray, tall: bool = True) -> None:
    ink = (page < 200).any(axis=-1)  # pixels clearly darker than paper
    assert page.shape[0] > 500 and page.shape[1] > 400
    assert 0.005 < ink.mean() < 0.6, f"page 1 ink coverage {ink.mean():.4f}"
    rows = np.flatnonzero(ink.any(axis=1))
    assert rows[-1] - rows[0] > page.shape[0] // (3 if tall else 5)  # not one line of text


def test_cmapss_report_renders_html_pdf_csv_parquet(cmapss_case, tmp_path: Path) -> None:
    data, ckpt = cmapss_case
    rc = main(["report", "rul", "--data", str(data), "--subset", "FD001", "--model", str(ckpt),
               "--out", str(tmp_path), "--format", "html,pdf,csv", "--no-progress"])  # fmt: skip
    assert rc == 0
    assets = pl.read_csv(tmp_path / "assets.csv")
    assert assets.height == 8 and assets["rank"].to_list() == list(range(1, 9))
    assert set(assets["asset_id"]) == {f"FD001-test-{u:03d}" for u in range(1, 9)}
    assert (assets["plan_by"].to_numpy() == assets["rul_q05"].to_numpy()).all()
    plan = assets["plan_by"].to_numpy()
    assert (np.diff(plan) >= 0).all()  # most urgent first
    q = assets.select("rul_q05", "rul_q25", "rul_median", "rul_q75").to_numpy()
    assert (np.diff(q, axis=1) >= -1e-9).all()  # quantiles in order
    assert (assets["root_causes"] == "none recorded").all()
    assert pl.read_parquet(tmp_path / "assets.parquet").equals(
        pl.read_parquet(tmp_path / "assets.parquet")
    )
    pq = pl.read_parquet(tmp_path / "assets.parquet")
    assert np.allclose(pq["rul_median"].to_numpy(), assets["rul_median"].to_numpy(), atol=1e-6)
    surv = pl.read_parquet(tmp_path / "survival.parquet")
    n_grid = surv.filter(pl.col("asset_id") == "FD001-test-001").height
    assert n_grid > 5 and surv.height == 8 * n_grid and surv["t"].max() == pytest.approx(125.0)
    history = pl.read_csv(tmp_path / "history.csv")
    assert history.height == 12 + 8 and history["failed"].sum() == 12
    weibull = pl.read_csv(tmp_path / "weibull.csv")
    assert weibull["quantity"].to_list() == ["shape", "scale", "b10_life", "mtbf"]
    assert weibull["unit"].to_list() == ["-", "cycles", "cycles", "cycles"]  # shape: unitless
    assert (weibull["lower"] < weibull["value"]).all() and (
        weibull["value"] < weibull["upper"]
    ).all()
    html = (tmp_path / "report.html").read_text()
    assert "Weibull" in html and "FD001-test-001" in html and "data:image/png;base64," in html
    assert "none recorded" in html and "<svg" in html
    # the fixture's checkpoint is untrained: the report says so first
    assert '<div class="banner">UNTRAINED MODEL' in html
    assert html.index("UNTRAINED MODEL") < html.index("How to read this report")
    assert '<div class="keep"><h2>Fleet ranking</h2>' in html  # heading kept with its plot
    page = page_png(tmp_path / "report.pdf", tmp_path / "page1.png")
    assert_not_blank(page)


def test_store_report_shows_root_causes_and_truth_history(
    pump_store: Path, pump_checkpoint: Path, tmp_path: Path
) -> None:
    from phm.reports.report import checkpoint_model

    ckpt = read_checkpoint(pump_checkpoint)
    source = store_source(pump_store, checkpoint_model(ckpt), pump_checkpoint)
    assert [a.asset_id for a in source.assets] == ["pump-001", "pump-002"]
    report = build_report(source, ckpt, "pump.pt", progress=False)
    assert report.unit == "hours" and report.has_faults
    p1 = next(r for r in report.assets if r.asset_id == "pump-001")
    assert sum(p1.fault_probs.values()) == pytest.approx(1.0, abs=1e-5)
    assert p1.root_causes[0]["cause"] == "bearing contamination"
    assert p1.age == pytest.approx(2.0)  # last snapshot at 2 h of life
    h = report.fleet.history
    assert list(h.events) == [True, False]  # pump-001 failed at 1.5 h, within its record
    # page 1 reads failed / alive from the same history as the Weibull page
    assert p1.failed and p1.plan_by == 0.0 and report.assets[0].asset_id == "pump-001"
    assert not next(r for r in report.assets if r.asset_id == "pump-002").failed
    assert h.durations[0] == pytest.approx(1.5)
    written = render.write_report(report, tmp_path, ["html", "csv", "parquet"])
    html = written["html"].read_text()
    assert "replace the drive-end bearing" in html and "bearing contamination (70%)" in html
    assert "failed: the failure history records its failure" in html
    row = pl.read_csv(tmp_path / "assets.csv").filter(pl.col("asset_id") == "pump-001")
    assert row["actions"][0] == "replace the drive-end bearing; check the seals; relubricate"
    assert "p_healthy" in row.columns


def test_pdf_falls_back_to_matplotlib_without_chromium(
    cmapss_case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, ckpt = cmapss_case
    monkeypatch.setattr(render, "find_chromium", lambda: None)
    raw = read_checkpoint(ckpt)
    from phm.reports.report import checkpoint_model

    source = cmapss_source(data, "FD001", checkpoint_model(raw), ckpt)
    report = build_report(source, raw, "cmapss.pt", progress=False)
    written = render.write_report(report, tmp_path, ["pdf"])
    assert any("Chromium was not found" in n for n in report.notes)
    assert_not_blank(page_png(written["pdf"], tmp_path / "fallback.png"), tall=False)


def run_cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    rc = main(["report", "rul", *args, "--no-progress"])
    return rc, capsys.readouterr().err


def test_unknown_asset_is_named(cmapss_case, tmp_path: Path, capsys) -> None:
    data, ckpt = cmapss_case
    rc, err = run_cli(capsys, "--data", str(data), "--model", str(ckpt), "--out", str(tmp_path),
                      "--assets", "FD001-test-001", "FD001-test-999")  # fmt: skip
    assert rc == 2
    assert "unknown asset(s) 'FD001-test-999'" in err and "FD001-test-001" in err


def test_unknown_pump_in_store_is_named(pump_store, pump_checkpoint, tmp_path, capsys) -> None:
    rc, err = run_cli(capsys, "--store", str(pump_store), "--model", str(pump_checkpoint),
                      "--out", str(tmp_path), "--assets", "pump-042")  # fmt: skip
    assert rc == 2 and "'pump-042'" in err and str(pump_store) in err


def test_empty_store_is_refused(pump_checkpoint: Path, tmp_path: Path, capsys) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    rc, err = run_cli(capsys, "--store", str(empty), "--model", str(pump_checkpoint),
                      "--out", str(tmp_path / "o"))  # fmt: skip
    assert rc == 2 and "no state.sqlite" in err and str(empty) in err
    from phm.plant import load_plant
    from phm.store.state import StateStore

    state = StateStore(empty / "state.sqlite")
    state.register_assets(load_plant())  # assets known, but no data in the lake
    state.close()
    rc, err = run_cli(capsys, "--store", str(empty), "--model", str(pump_checkpoint),
                      "--out", str(tmp_path / "o"))  # fmt: skip
    assert rc == 2 and "store is empty for pumps" in err


def test_checkpoint_for_another_asset_type_is_refused(
    cmapss_case, pump_store, pump_checkpoint, tmp_path, capsys
) -> None:
    data, ckpt = cmapss_case
    rc, err = run_cli(capsys, "--store", str(pump_store), "--model", str(ckpt),
                      "--out", str(tmp_path))  # fmt: skip
    assert rc == 2 and "dataset 'cmapss'" in err and "phm train --dataset plant" in err
    rc, err = run_cli(capsys, "--data", str(data), "--model", str(pump_checkpoint),
                      "--out", str(tmp_path))  # fmt: skip
    assert rc == 2 and "dataset 'plant'" in err and "phm train --dataset cmapss" in err
    assert str(pump_checkpoint) in err


def test_missing_or_foreign_checkpoint_and_bad_format(cmapss_case, tmp_path, capsys) -> None:
    data, _ = cmapss_case
    rc, err = run_cli(capsys, "--data", str(data), "--model", str(tmp_path / "nope.pt"),
                      "--out", str(tmp_path))  # fmt: skip
    assert rc == 2 and "nope.pt: checkpoint not found" in err
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    rc, err = run_cli(capsys, "--data", str(data), "--model", str(junk), "--out", str(tmp_path))
    assert rc == 2 and "junk.pt: not a phm checkpoint" in err
    rc, err = run_cli(capsys, "--data", str(data), "--model", str(junk), "--out", str(tmp_path),
                      "--format", "html,docx")  # fmt: skip
    assert rc == 2 and "'docx'" in err


def test_model_without_rul_head_is_refused(cmapss_case, tmp_path: Path, capsys) -> None:
    data, ckpt = cmapss_case
    _, header = __import__("phm.models.model", fromlist=["x"]).load_checkpoint(ckpt)
    cfg = dataclasses.replace(load_config(TINY), process_channels=len(header.channels) + 1,
                              context_cardinalities=(1,), rul_head="none")  # fmt: skip
    path = tmp_path / "norul.pt"
    save_checkpoint(path, PhmModel(cfg), header)
    rc, err = run_cli(capsys, "--data", str(data), "--model", str(path), "--out", str(tmp_path))
    assert rc == 2 and "no RUL head" in err


def test_parse_formats() -> None:
    assert render.parse_formats("html, CSV") == ["html", "csv", "parquet"]
    with pytest.raises(ReportInputError.__mro__[1]):
        render.parse_formats("")


@pytest.mark.integration
def test_real_fd001_test_units_report(tmp_path: Path) -> None:
    """All 100 FD001 test units, an untrained checkpoint prepared on the real data."""
    from phm.models.data import TrainConfig
    from phm.models.prepare import CmapssOptions, prepare_cmapss
    from tests.datadir import real_data_dir

    data = real_data_dir("cmapss", "train_FD001.txt")
    prep = prepare_cmapss(CmapssOptions(data=data, subset="FD001"), TrainConfig(), 0)
    cfg = dataclasses.replace(load_config(TINY), **prep.config_updates)
    ckpt = tmp_path / "fd001.pt"
    save_checkpoint(ckpt, PhmModel(cfg), prep.header)
    rc = main(["report", "rul", "--data", str(data), "--model", str(ckpt), "--out",
               str(tmp_path / "out"), "--format", "html,csv", "--no-progress"])  # fmt: skip
    assert rc == 0
    assets = pl.read_csv(tmp_path / "out" / "assets.csv")
    assert assets.height == 100
    history = pl.read_csv(tmp_path / "out" / "history.csv")
    assert history.height == 200 and history["failed"].sum() == 100
    weibull = pl.read_csv(tmp_path / "out" / "weibull.csv").row(0, named=True)
    assert weibull["quantity"] == "shape" and 3.0 < weibull["value"] < 7.0  # FD001 wears out
