"""`phm ingest --partition K/N`: which worker stores which asset, and what each subscribes to."""

from __future__ import annotations

import pytest

from phm.errors import ConfigError
from phm.ingest.worker import IngestWorker, _Message, asset_partition
from phm.plant import load_plant
from phm.wire.topics import SUBSCRIPTION, topic_for

PLANT = load_plant(assets=40)


def _worker(partition, shared=False) -> IngestWorker:
    return IngestWorker("mqtt://127.0.0.1:1", "/tmp/x", PLANT, "w", shared, partition=partition)


def test_every_asset_has_one_partition_and_the_hash_is_stable() -> None:
    ids = sorted(PLANT.assets)
    parts = [asset_partition(a, 3) for a in ids]
    assert set(parts) == {0, 1, 2}  # 40 assets spread over all three
    # sha256-based: the same on every host and in every process (not Python's salted hash)
    assert (
        asset_partition("pump-001", 2)
        == int.from_bytes(__import__("hashlib").sha256(b"pump-001").digest()[:8], "big") % 2
    )


def test_partition_k_subscribes_to_its_assets_and_0_to_everything() -> None:
    one = _worker((1, 2))
    mine = {a.asset_id for a in PLANT.assets.values() if asset_partition(a.asset_id, 2) == 1}
    want = {topic_for(a.site, a.line, a.asset_id, "+") for a in PLANT.assets.values()
            if a.asset_id in mine}  # fmt: skip
    assert set(one.subscriptions) == want
    zero = _worker((0, 2))
    assert zero.subscriptions == [SUBSCRIPTION]  # unregistered assets still get dead-lettered
    foreign = next(a for a in PLANT.assets.values() if asset_partition(a.asset_id, 2) == 1)
    own = next(a for a in PLANT.assets.values() if asset_partition(a.asset_id, 2) == 0)

    def msg(asset: str, site="s", line="l") -> _Message:
        return _Message(topic_for(site, line, asset, "temperature"), b"", 1, 1, 0, 0.0)

    assert zero._foreign(msg(foreign.asset_id, foreign.site, foreign.line))
    assert not zero._foreign(msg(own.asset_id, own.site, own.line))
    assert not zero._foreign(msg("not-registered"))  # partition 0 dead-letters it
    assert not zero._foreign(_Message("garbage", b"", 1, 1, 0, 0.0))


@pytest.mark.parametrize(
    ("partition", "shared", "text"),
    [((2, 2), False, "0 <= K < N"), ((0, 1), False, "N >= 2"), ((0, 2), True, "pick one")],
)
def test_bad_partitions_are_refused(partition, shared, text) -> None:
    with pytest.raises(ConfigError, match=text):
        _worker(partition, shared)._validate()
