"""MQTT topics: `phm/v1/{site}/{line}/{asset}/{stream}`, stream in phm.plant.STREAMS."""

from __future__ import annotations

from dataclasses import dataclass

from phm.plant import STREAMS

PREFIX = "phm/v1"
SUBSCRIPTION = f"{PREFIX}/+/+/+/+"  # every stream of every asset
SHARE_GROUP = "phm-ingest"  # MQTT 5 shared-subscription group of the ingest workers


@dataclass(frozen=True)
class Topic:
    site: str
    line: str
    asset: str
    stream: str

    def __str__(self) -> str:
        return f"{PREFIX}/{self.site}/{self.line}/{self.asset}/{self.stream}"


class TopicError(ValueError):
    """A topic outside the scheme; the message names the topic and what was expected."""


def topic_for(site: str, line: str, asset: str, stream: str) -> str:
    """The topic string of one asset's stream."""
    return str(Topic(site, line, asset, stream))


def parse_topic(topic: str) -> Topic:
    """`phm/v1/site/line/asset/stream` -> Topic; anything else raises TopicError."""
    parts = topic.split("/")
    if len(parts) != 6 or "/".join(parts[:2]) != PREFIX:
        raise TopicError(f"topic {topic!r}: expected {PREFIX}/<site>/<line>/<asset>/<stream>")
    site, line, asset, stream = parts[2:]
    if not all((site, line, asset)):
        raise TopicError(f"topic {topic!r}: empty site, line or asset level")
    if stream not in STREAMS:
        raise TopicError(f"topic {topic!r}: unknown stream {stream!r} (expected one of {STREAMS})")
    return Topic(site, line, asset, stream)


def shared_subscription(group: str = SHARE_GROUP, topic: str = SUBSCRIPTION) -> str:
    """MQTT 5 shared subscription: the broker hands each message to one worker of `group`."""
    return f"$share/{group}/{topic}"
