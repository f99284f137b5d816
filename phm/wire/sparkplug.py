"""Sparkplug B on the wire: the Tahu protobuf `Payload`, the topic namespace and metric values.

The message classes are built at import time from a FileDescriptorProto written here, field
for field the published schema of Eclipse Tahu (`sparkplug_b/sparkplug_b.proto`, package
`org.eclipse.tahu.protobuf`, proto2, EPL-2.0; github.com/eclipse/tahu), so no protoc and no
generated code are needed; `tests/ingest/test_sparkplug.py` checks the field numbers against a
hand-encoded payload. Every message of the schema is declared, so a payload carrying DataSets,
Templates or PropertySets parses fully even though ingest maps only scalar metrics.

Topics: `spBv1.0/<group>/<NBIRTH|NDATA|NDEATH|NCMD>/<edge node>` and
`spBv1.0/<group>/<DBIRTH|DDATA|DDEATH|DCMD>/<edge node>/<device>`.
Timestamps are Unix milliseconds (uint64); `seq` runs 0..255 per edge node and wraps; `bdSeq`
(a metric of NBIRTH and of the NDEATH registered as the MQTT will) pairs a death with its birth.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

NAMESPACE = "spBv1.0"
NODE_TYPES = ("NBIRTH", "NDATA", "NDEATH", "NCMD")
DEVICE_TYPES = ("DBIRTH", "DDATA", "DDEATH", "DCMD")
SEQ_MODULUS = 256
REBIRTH_METRIC = "Node Control/Rebirth"
BDSEQ_METRIC = "bdSeq"
_PACKAGE = "org.eclipse.tahu.protobuf"


class DataType(enum.IntEnum):
    """Tahu's `DataType` enum (the basic, extra and array types)."""

    Unknown = 0
    Int8 = 1
    Int16 = 2
    Int32 = 3
    Int64 = 4
    UInt8 = 5
    UInt16 = 6
    UInt32 = 7
    UInt64 = 8
    Float = 9
    Double = 10
    Boolean = 11
    String = 12
    DateTime = 13
    Text = 14
    UUID = 15
    DataSet = 16
    Bytes = 17
    File = 18
    Template = 19
    PropertySet = 20
    PropertySetList = 21
    Int8Array = 22
    Int16Array = 23
    Int32Array = 24
    Int64Array = 25
    UInt8Array = 26
    UInt16Array = 27
    UInt32Array = 28
    UInt64Array = 29
    FloatArray = 30
    DoubleArray = 31
    BooleanArray = 32
    StringArray = 33
    DateTimeArray = 34


# which oneof field carries a scalar of each datatype (Tahu's convention)
_INT_TYPES = {DataType.Int8, DataType.Int16, DataType.Int32, DataType.UInt8, DataType.UInt16}
_INT_TYPES |= {DataType.UInt32}
_LONG_TYPES = {DataType.Int64, DataType.UInt64, DataType.DateTime}
_SIGNED_BITS = {DataType.Int8: 8, DataType.Int16: 16, DataType.Int32: 32, DataType.Int64: 64}
NUMERIC_TYPES = frozenset(_INT_TYPES | _LONG_TYPES | {DataType.Float, DataType.Double})
NUMERIC_TYPES |= {DataType.Boolean}

# --- the schema ----------------------------------------------------------------------------------
_T = descriptor_pb2.FieldDescriptorProto
_OPT, _REP = _T.LABEL_OPTIONAL, _T.LABEL_REPEATED
_SCALARS = {
    "string": _T.TYPE_STRING,
    "uint32": _T.TYPE_UINT32,
    "uint64": _T.TYPE_UINT64,
    "float": _T.TYPE_FLOAT,
    "double": _T.TYPE_DOUBLE,
    "bool": _T.TYPE_BOOL,
    "bytes": _T.TYPE_BYTES,
}
MAX_FIELD = 536870911  # `extensions N to max`


def _message(
    name: str,
    fields: list[tuple],
    nested: list[descriptor_pb2.DescriptorProto] = (),  # type: ignore[assignment]
    oneof: str | None = None,
    extensions_from: int | None = None,
) -> descriptor_pb2.DescriptorProto:
    """A DescriptorProto: `fields` are (name, number, type, label[, in_oneof]); a type that is
    not a scalar names a message (".org.eclipse.tahu.protobuf.Payload.Metric")."""
    m = descriptor_pb2.DescriptorProto(name=name)
    if oneof is not None:
        m.oneof_decl.add(name=oneof)
    for fname, number, ftype, label, *in_oneof in fields:
        f = m.field.add(name=fname, number=number, label=label)
        if ftype in _SCALARS:
            f.type = _SCALARS[ftype]
        else:
            f.type = _T.TYPE_MESSAGE
            f.type_name = ftype
        if in_oneof and in_oneof[0]:
            f.oneof_index = 0
    m.nested_type.extend(nested)
    if extensions_from is not None:
        m.extension_range.add(start=extensions_from, end=MAX_FIELD + 1)
    return m


def _ext(name: str) -> descriptor_pb2.DescriptorProto:
    return _message(name, [], extensions_from=1)


def _scalar_values(first: int) -> list[tuple]:
    """The six scalar members of a `value` oneof, numbered from `first` in the .proto's order
    (Parameter, DataSetValue, PropertyValue and Metric all repeat them)."""
    kinds = [("int", "uint32"), ("long", "uint64"), ("float", "float"), ("double", "double"),
             ("boolean", "bool"), ("string", "string")]  # fmt: skip
    return [(f"{k}_value", first + i, t, _OPT, True) for i, (k, t) in enumerate(kinds)]


def _schema() -> descriptor_pb2.FileDescriptorProto:
    p = f".{_PACKAGE}.Payload"
    parameter = _message(
        "Parameter",
        [
            ("name", 1, "string", _OPT),
            ("type", 2, "uint32", _OPT),
            *_scalar_values(3),
            ("extension_value", 9, f"{p}.Template.Parameter.ParameterValueExtension", _OPT, True),
        ],
        [_ext("ParameterValueExtension")],
        oneof="value",
    )
    template = _message(
        "Template",
        [
            ("version", 1, "string", _OPT),
            ("metrics", 2, f"{p}.Metric", _REP),
            ("parameters", 3, f"{p}.Template.Parameter", _REP),
            ("template_ref", 4, "string", _OPT),
            ("is_definition", 5, "bool", _OPT),
        ],
        [parameter],
        extensions_from=6,
    )
    dataset_value = _message(
        "DataSetValue",
        [
            *_scalar_values(1),
            ("extension_value", 7, f"{p}.DataSet.DataSetValue.DataSetValueExtension", _OPT, True),
        ],
        [_ext("DataSetValueExtension")],
        oneof="value",
    )
    row = _message("Row", [("elements", 1, f"{p}.DataSet.DataSetValue", _REP)], extensions_from=2)
    dataset = _message(
        "DataSet",
        [
            ("num_of_columns", 1, "uint64", _OPT),
            ("columns", 2, "string", _REP),
            ("types", 3, "uint32", _REP),
            ("rows", 4, f"{p}.DataSet.Row", _REP),
        ],
        [dataset_value, row],
        extensions_from=5,
    )
    property_value = _message(
        "PropertyValue",
        [
            ("type", 1, "uint32", _OPT),
            ("is_null", 2, "bool", _OPT),
            *_scalar_values(3),
            ("propertyset_value", 9, f"{p}.PropertySet", _OPT, True),
            ("propertysets_value", 10, f"{p}.PropertySetList", _OPT, True),
            (
                "extension_value",
                11,
                f"{p}.PropertyValue.PropertyValueExtension",
                _OPT,
                True,
            ),
        ],
        [_ext("PropertyValueExtension")],
        oneof="value",
    )
    property_set = _message(
        "PropertySet",
        [("keys", 1, "string", _REP), ("values", 2, f"{p}.PropertyValue", _REP)],
        extensions_from=3,
    )
    property_set_list = _message(
        "PropertySetList", [("propertyset", 1, f"{p}.PropertySet", _REP)], extensions_from=2
    )
    metadata = _message(
        "MetaData",
        [
            ("is_multi_part", 1, "bool", _OPT),
            ("content_type", 2, "string", _OPT),
            ("size", 3, "uint64", _OPT),
            ("seq", 4, "uint64", _OPT),
            ("file_name", 5, "string", _OPT),
            ("file_type", 6, "string", _OPT),
            ("md5", 7, "string", _OPT),
            ("description", 8, "string", _OPT),
        ],
        extensions_from=9,
    )
    metric = _message(
        "Metric",
        [
            ("name", 1, "string", _OPT),
            ("alias", 2, "uint64", _OPT),
            ("timestamp", 3, "uint64", _OPT),
            ("datatype", 4, "uint32", _OPT),
            ("is_historical", 5, "bool", _OPT),
            ("is_transient", 6, "bool", _OPT),
            ("is_null", 7, "bool", _OPT),
            ("metadata", 8, f"{p}.MetaData", _OPT),
            ("properties", 9, f"{p}.PropertySet", _OPT),
            *_scalar_values(10),
            ("bytes_value", 16, "bytes", _OPT, True),
            ("dataset_value", 17, f"{p}.DataSet", _OPT, True),
            ("template_value", 18, f"{p}.Template", _OPT, True),
            ("extension_value", 19, f"{p}.Metric.MetricValueExtension", _OPT, True),
        ],
        [_ext("MetricValueExtension")],
        oneof="value",
    )
    payload = _message(
        "Payload",
        [
            ("timestamp", 1, "uint64", _OPT),
            ("metrics", 2, f"{p}.Metric", _REP),
            ("seq", 3, "uint64", _OPT),
            ("uuid", 4, "string", _OPT),
            ("body", 5, "bytes", _OPT),
        ],
        [
            template,
            dataset,
            property_value,
            property_set,
            property_set_list,
            metadata,
            metric,
        ],
        extensions_from=6,
    )
    f = descriptor_pb2.FileDescriptorProto(
        name="phm/sparkplug_b.proto", package=_PACKAGE, syntax="proto2"
    )
    f.message_type.append(payload)
    enum_proto = f.enum_type.add(name="DataType")
    for member in DataType:
        enum_proto.value.add(name=member.name, number=int(member))
    return f


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_schema())
Payload: Any = message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"{_PACKAGE}.Payload"))
Metric: Any = message_factory.GetMessageClass(
    _POOL.FindMessageTypeByName(f"{_PACKAGE}.Payload.Metric")
)


# --- topics --------------------------------------------------------------------------------------
class SparkplugError(ValueError):
    """A Sparkplug topic or payload that cannot be read; `reason` is a short code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class SparkplugTopic:
    group: str
    type: str  # NBIRTH ... DCMD
    edge_node: str
    device: str | None = None

    def __str__(self) -> str:
        tail = f"/{self.device}" if self.device is not None else ""
        return f"{NAMESPACE}/{self.group}/{self.type}/{self.edge_node}{tail}"


def parse_sparkplug_topic(topic: str) -> SparkplugTopic:
    """`spBv1.0/group/TYPE/node[/device]` -> SparkplugTopic; else SparkplugError `bad_topic`."""
    parts = topic.split("/")
    if len(parts) not in (4, 5) or parts[0] != NAMESPACE:
        raise SparkplugError(
            "bad_topic", f"topic {topic!r}: expected {NAMESPACE}/<group>/<type>/<node>[/<device>]"
        )
    group, kind, node = parts[1:4]
    device = parts[4] if len(parts) == 5 else None
    expected = DEVICE_TYPES if device is not None else NODE_TYPES
    if kind not in expected:
        raise SparkplugError(
            "bad_topic", f"topic {topic!r}: message type {kind!r}, expected one of {expected}"
        )
    if not group or not node or device == "":
        raise SparkplugError("bad_topic", f"topic {topic!r}: empty group, node or device level")
    return SparkplugTopic(group, kind, node, device)


def sparkplug_topic(group: str, kind: str, edge_node: str, device: str | None = None) -> str:
    return str(SparkplugTopic(group, kind, edge_node, device))


# --- payloads ------------------------------------------------------------------------------------
def decode_payload(data: bytes) -> Any:
    """The `Payload` message of `data`; SparkplugError `bad_protobuf` if it does not parse."""
    p = Payload()
    try:
        p.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise SparkplugError("bad_protobuf", f"not a Sparkplug B payload: {exc}") from None
    return p


def set_value(metric: Any, datatype: DataType, value: float | bool | None) -> None:
    """Store a scalar `value` in `metric` as Tahu does for `datatype` (None: is_null)."""
    metric.datatype = int(datatype)
    if value is None:
        metric.is_null = True
    elif datatype == DataType.Boolean:
        metric.boolean_value = bool(value)
    elif datatype == DataType.Float:
        metric.float_value = float(value)
    elif datatype == DataType.Double:
        metric.double_value = float(value)
    elif datatype in _INT_TYPES:
        metric.int_value = int(value) & 0xFFFFFFFF  # two's complement for the signed ones
    elif datatype in _LONG_TYPES:
        metric.long_value = int(value) & 0xFFFFFFFFFFFFFFFF
    else:
        raise ValueError(f"set_value: {datatype.name} is not a scalar numeric type")


def _value_field(dt: DataType) -> str:
    if dt in (DataType.Boolean, DataType.Float, DataType.Double):
        return f"{dt.name.lower()}_value"
    return "int_value" if dt in _INT_TYPES else "long_value"


# datatype number -> (its name, the oneof field carrying it, bits when signed), numeric only
_NUMERIC = {int(dt): (dt.name, _value_field(dt), _SIGNED_BITS.get(dt)) for dt in NUMERIC_TYPES}


def numeric_value(metric: Any, datatype: int) -> float:
    """The metric's value as a float (NaN when is_null); SparkplugError `bad_metric` when the
    datatype is not numeric or the value field does not match it."""
    if metric.is_null:
        return math.nan
    known = _NUMERIC.get(datatype)
    if known is None:
        name = DataType(datatype).name if datatype in DataType._value2member_map_ else datatype
        raise SparkplugError("bad_metric", f"datatype {name} is not numeric")
    name, expected, bits = known
    field = metric.WhichOneof("value")
    if field != expected:
        raise SparkplugError("bad_metric", f"a {name} metric carries {field or 'no value'}")
    raw = getattr(metric, field)
    if bits is not None:
        raw &= (1 << bits) - 1
        if raw >= 1 << (bits - 1):
            raw -= 1 << bits
    return float(raw)


def rebirth_request(timestamp_ms: int) -> bytes:
    """The NCMD payload asking an edge node to publish its births again."""
    p = Payload(timestamp=timestamp_ms)
    m = p.metrics.add(name=REBIRTH_METRIC, timestamp=timestamp_ms)
    set_value(m, DataType.Boolean, True)
    return p.SerializeToString()


def is_rebirth_request(payload: Any) -> bool:
    """True when an NCMD payload asks for a rebirth."""
    return any(m.name == REBIRTH_METRIC and m.boolean_value for m in payload.metrics)


def bd_seq(payload: Any) -> int | None:
    """The `bdSeq` metric of an NBIRTH or NDEATH payload (None: absent)."""
    for m in payload.metrics:
        if m.name == BDSEQ_METRIC:
            return int(m.long_value if m.WhichOneof("value") == "long_value" else m.int_value)
    return None
