"""`phm train --dataset lake`: labels from the fault history, whole assets held out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from phm.errors import ConfigError, PhmError
from phm.models.prepare_lake import Failure, lake_labels, read_failures, split_assets
from phm.models.prepare_plant import PLANT_CLASSES

H = 3600.0


def test_labels_before_a_failure_are_its_mode_and_after_the_last_are_left_out() -> None:
    times = np.arange(0.0, 13.0) * H  # snapshots at 0 .. 12 h
    failures = [Failure("p", 10 * H, "inner_race", "contamination")]
    out = lake_labels(times, failures, end=12 * H, fault_window_s=3 * H)
    ir = PLANT_CLASSES.index("inner_race")
    # 7, 8, 9, 10 h are within 3 h of the failure; 11 and 12 h come after it
    assert out["fault"][:11].tolist() == [0] * 7 + [ir] * 4
    assert out["keep"].tolist() == [True] * 11 + [False] * 2
    np.testing.assert_allclose(out["rul"][:11], np.arange(10.0, -1.0, -1.0))
    assert out["event"][:11].all()


def test_two_failures_each_label_the_snapshots_up_to_them() -> None:
    times = np.arange(0.0, 10.0) * H
    failures = [
        Failure("p", 8.5 * H, "looseness", "soft foot"),
        Failure("p", 3 * H, "cavitation", "low suction head"),  # out of order on purpose
    ]
    out = lake_labels(times, failures, end=9 * H, fault_window_s=1.5 * H)
    cav, loose = PLANT_CLASSES.index("cavitation"), PLANT_CLASSES.index("looseness")
    assert out["fault"].tolist()[:9] == [0, 0, cav, cav, 0, 0, 0, loose, loose]
    np.testing.assert_allclose(out["rul"][:9], [3, 2, 1, 0, 4.5, 3.5, 2.5, 1.5, 0.5])
    assert out["keep"].tolist() == [True] * 9 + [False]


def test_an_asset_that_never_failed_is_healthy_and_censored_at_its_record_end() -> None:
    times = np.array([0.0, 1.0, 5.0]) * H
    out = lake_labels(times, [], end=5 * H, fault_window_s=H)
    assert out["fault"].tolist() == [0, 0, 0]
    assert out["keep"].all() and not out["event"].any()
    np.testing.assert_allclose(out["rul"], [5.0, 4.0, 0.0])


def test_failures_are_read_with_their_mode_in_utc(tmp_path: Path) -> None:
    path = tmp_path / "failures.csv"
    path.write_text(
        "asset,failed_at,cause,mode,work_order\n"
        "pump-002,2024-03-11T12:00,worn bearing,outer_race,WO-7\n"
        "pump-001,2024-03-11,soft foot,looseness,\n"
    )
    got = read_failures(path)
    assert [(f.asset_id, f.mode, f.cause) for f in got] == [
        ("pump-001", "looseness", "soft foot"),
        ("pump-002", "outer_race", "worn bearing"),
    ]
    assert got[0].time == 1710115200.0  # 2024-03-11T00:00Z
    assert got[1].time - got[0].time == 12 * H


@pytest.mark.parametrize(
    ("header", "row", "match"),
    [
        ("asset,failed_at,cause", "pump-001,2024-03-11,worn bearing", r":2: field 'mode' is empty"),
        ("asset,failed_at,cause,mode", "pump-001,2024-03-11,worn bearing,gearbox", "'gearbox'"),
        ("asset,failed_at,cause,mode", "pump-001,yesterday,worn bearing,ball", "'failed_at'"),
        ("asset,cause,mode", "pump-001,worn bearing,ball", r"lacks column\(s\) \['failed_at'\]"),
    ],
)
def test_a_bad_fault_history_names_file_line_and_field(
    tmp_path: Path, header: str, row: str, match: str
) -> None:
    path = tmp_path / "failures.csv"
    path.write_text(f"{header}\n{row}\n")
    with pytest.raises(PhmError, match=match) as err:  # the CLI prints it, no traceback
        read_failures(path)
    assert str(path) in str(err.value)


def test_assets_are_held_out_whole_and_the_split_follows_the_seed() -> None:
    assets = [f"pump-{i:03d}" for i in range(1, 21)]
    fit, val, test = split_assets(assets, 0.25, 0.2, seed=3)
    assert (len(fit), len(val), len(test)) == (12, 3, 5)
    assert sorted(fit + val + test) == assets  # each asset on exactly one side
    assert split_assets(assets, 0.25, 0.2, seed=3) == (fit, val, test)
    assert split_assets(assets, 0.25, 0.2, seed=4)[2] != test
    with pytest.raises(ConfigError, match="3 assets cannot be split"):
        split_assets(assets[:3], 0.5, 0.5, seed=0)


def test_phm_train_lake_names_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from phm.cli import main

    failures = tmp_path / "failures.csv"
    failures.write_text("asset,failed_at,cause,mode\npump-404,2024-03-11,worn bearing,inner_race\n")
    assert main(["train", "--dataset", "lake", "--failures", str(failures)]) == 2
    assert "--dataset lake needs --store STORE and --failures CSV" in capsys.readouterr().err
    args = ["train", "--dataset", "lake", "--store", str(tmp_path), "--failures", str(failures)]
    assert main(args) == 2
    assert f"{tmp_path}: no lake here" in capsys.readouterr().err
    (tmp_path / "lake").mkdir()
    assert main(args) == 2
    assert "assets ['pump-404'] are not 'pump' assets of the plant" in capsys.readouterr().err
    assert main(["train", "--dataset", "plant"]) == 2
    assert "--dataset plant needs --out CKPT" in capsys.readouterr().err


def test_onset_labels_follow_the_pumps_score_back_from_each_failure() -> None:
    from phm.models.prepare_lake import onset_labels

    times = np.arange(0.0, 21.0) * H  # snapshots at 0 .. 20 h
    failures = [
        Failure("p", 10 * H, "imbalance", "unbalanced impeller"),
        Failure("p", 18 * H, "cavitation", "low suction head"),
    ]
    scores = np.zeros(21)
    scores[[3, 6, 7, 8, 9, 10]] = 2.0  # 3 h: out of the 5 h window; 6 .. 10 h: a clear onset
    scores[[13, 14, 18]] = 2.0  # 13, 14 h: back in band at 15 h; 18 h alone
    out = onset_labels(times, scores, 1.0, failures, 20 * H, min_s=2 * H, max_s=5 * H)
    imb, cav = PLANT_CLASSES.index("imbalance"), PLANT_CLASSES.index("cavitation")
    # first failure: above the band since 6 h (window (5, 10] h): 6 .. 10 h are imbalance
    # second: the last run above the band is 18 h alone, so the 2 h minimum labels 16 .. 18 h;
    # 14 and 15 h (within 5 h of 18 h) are unsure and left out, 11 .. 13 h healthy
    assert out["fault"][:19].tolist() == [0] * 6 + [imb] * 5 + [0] * 5 + [cav] * 3
    assert out["keep"].tolist() == [True] * 14 + [False] * 2 + [True] * 3 + [False] * 2
    np.testing.assert_allclose(out["rul"][11:19], np.arange(7.0, -1.0, -1.0))


def test_health_scores_leave_the_band_when_the_vibration_grows() -> None:
    from phm.models.prepare_lake import health_scores

    rng = np.random.default_rng(0)
    vib = rng.normal(size=(30, 2, 256))
    vib[24:] *= 3.0  # the last 6 snapshots: three times the commissioning RMS
    scores, band = health_scores(vib, commission=12)
    assert (scores[:20] < band).all()
    assert (scores[25:] > band).all()


def test_unsure_snapshots_stay_for_rul_only_when_asked() -> None:
    from phm.models.prepare_lake import IGNORE_FAULT, lake_history, onset_labels

    times = np.arange(0.0, 8.0) * H
    failures = [Failure("p", 6 * H, "looseness", "soft foot")]
    labels = onset_labels(times, np.zeros(8), 1.0, failures, 7 * H, min_s=1 * H, max_s=3 * H)
    record = (times, np.zeros((8, 2, 4)), np.zeros((8, 9)))
    loose = PLANT_CLASSES.index("looseness")
    # 4 h is unsure (less than 3 h before the failure, before its 1 h minimum); 7 h is after it
    dropped = lake_history(record, labels)
    assert dropped["times"].tolist() == [t * H for t in (0, 1, 2, 3, 5, 6)]
    kept = lake_history(record, labels, unsure="ignore")
    assert kept["fault"].tolist() == [0, 0, 0, 0, IGNORE_FAULT, loose, loose]
    np.testing.assert_allclose(kept["rul"], [6, 5, 4, 3, 2, 1, 0])
