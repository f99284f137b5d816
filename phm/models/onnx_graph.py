"""A checkpoint's model as an ONNX graph, and the `OnnxPredictor` that scores with one.

`onnx_graph(model, header)` returns the ONNX bytes of a `PhmModel` (or ensemble) with a dynamic
batch axis. Two parts of the model are rewritten for the export, each computing the same
function with operators ONNX has:

- the spectral tokens' rFFT becomes a one-frame STFT (ONNX `STFT`, opset 17) and the adaptive
  average pooling into bands a matmul with its pooling matrix (ONNX has no adaptive pooling
  for lengths the band count does not divide);
- the MoE's grouped dispatch (argsort, bincount, a data-dependent capacity) becomes a dense
  one: every routed expert runs on every token and the top-k gate weights (zero elsewhere)
  mix them. E / k times the routed FLOPs, no data-dependent shapes; the same top-k choice.

Graph inputs are the model's modalities by name (`process` (B, T, C) float, `process_mask`
(B, T) bool, `vibration` (B, S, C, L) float, `vibration_mask` (B, S) bool, `context` (B, K)
int64: those the config has); outputs the raw head outputs (`fault` logits (B, n_classes),
`rul` parameters, `ttf` logits) and `expert_load` (B, MoE layers, E): each row's share of
routed slots per expert. The file is usable alone: its metadata_props hold the checkpoint
header (`phm.header`: dataset, classes, channels, feature scaling, window sizes, RUL unit),
the model config (`phm.config`) and the RUL head's conformal calibration (`phm.rul`), all
JSON; `OnnxPredictor` decodes the outputs with the heads' own summaries, as `Predictor` does.

The export uses torch's TorchScript-based exporter (`dynamo=False`): the torch.export-based
one needs onnxscript, which phm does not depend on. Torch deprecates the former (it warns);
moving over means adding onnxscript and re-running the parity tests.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from phm.errors import ConfigError
from phm.models.checkpoint import CheckpointHeader
from phm.models.encoder import SpectralTokens
from phm.models.heads import RulHead, TtfHead
from phm.models.model import ModelConfig, PhmModel, config_from_dict, load_checkpoint
from phm.models.moe import MoE, select_experts
from phm.models.predictor import Decoded, Predictor

OPSET = 17  # STFT needs opset 17
ONNX_FORMAT = 1  # layout of the phm.* metadata this module writes and reads
OUTPUTS = ("fault", "rul", "ttf")


class DenseSpectralTokens(nn.Module):
    """`SpectralTokens` with its rFFT as a one-frame STFT and its band pooling as a matmul."""

    def __init__(self, tokens: SpectralTokens, samples: int) -> None:
        super().__init__()
        self.norm, self.proj, self.samples = tokens.norm, tokens.proj, samples
        eye = torch.eye(samples // 2)[:, None, :]  # unit spectra, (L//2, 1, L//2)
        pool = F.adaptive_avg_pool1d(eye, tokens.bands)[:, 0, :]  # (L//2, bands)
        self.register_buffer("pool", pool, persistent=False)
        self.register_buffer("window", torch.ones(samples), persistent=False)

    def forward(self, x: Tensor) -> Tensor:  # (B, S, C, L) -> (B, S, D)
        b, s = x.shape[:2]
        n = self.samples  # a constant: the STFT's size is fixed in the graph
        if x.shape[-1] != n:
            raise ValueError(f"snapshots of {x.shape[-1]} samples; the graph is built for {n}")
        x = x.float() - x.float().mean(-1, keepdim=True)
        spec = torch.stft(  # (B*S*C, L//2 + 1, 1 frame, re/im)
            x.reshape(-1, n),
            n_fft=n,
            hop_length=n,
            window=self.window,
            center=False,
            onesided=True,
            return_complex=False,
        )
        # squeeze the one frame (a free reshape; indexing it is a Gather copy in ONNX)
        mag = spec.squeeze(2)[:, 1:].pow(2).sum(-1).sqrt()  # (B*S*C, L//2), DC dropped
        bands = torch.log1p(mag / n**0.5) @ self.pool  # (B*S*C, bands)
        return self.proj(self.norm(bands.reshape(b, s, -1)))


class DenseDispatchMoE(nn.Module):
    """`MoE` with every routed expert run on every token, mixed by the top-k gate weights.

    After each forward, `row_load` (B, E) holds each row's share of routed slots per expert
    (its real tokens only), what `MoE.last_load` holds for a batch of one.
    """

    def __init__(self, moe: MoE) -> None:
        super().__init__()
        self.config, self.gate, self.experts, self.shared = (
            moe.config,
            moe.gate,
            moe.experts,
            moe.shared,
        )
        self.row_load: Tensor | None = None

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:  # (B, T, D), (B, T)
        cfg = self.config
        d = x.shape[-1]
        flat = x.reshape(-1, d)  # (M, D)
        keep = mask.reshape(-1, 1).to(flat.dtype)  # (M, 1)
        scores = self.gate(flat)  # (M, E)
        weights, indices = select_experts(
            scores,
            self.gate.bias,
            cfg.n_activated_experts,
            cfg.n_expert_groups,
            cfg.n_limited_groups,
            cfg.route_scale,
        )
        gates = torch.zeros_like(scores).scatter(1, indices, weights) * keep  # (M, E)
        e = self.experts
        hidden = F.silu(torch.matmul(flat, e.w1)) * torch.matmul(flat, e.w3)  # (E, M, H)
        out = torch.matmul(hidden, e.w2)  # (E, M, D)
        y = (out * gates.t()[:, :, None]).sum(0)  # (M, D)
        if self.shared is not None:
            y = y + self.shared(flat)
        chosen = torch.zeros_like(scores).scatter(1, indices, 1.0) * keep  # (M, E)
        per_row = chosen.reshape(x.shape[0], -1, scores.shape[-1]).sum(1)  # (B, E)
        self.row_load = per_row / per_row.sum(-1, keepdim=True).clamp_min(1.0)
        return y.reshape(x.shape)


class ExportedModel(nn.Module):
    """The model with the export rewrites, taking its inputs positionally (`input_names`)."""

    def __init__(self, model: PhmModel, header: CheckpointHeader) -> None:
        super().__init__()
        self.model = copy.deepcopy(model).eval()
        self.moes = _rewrite(self.model, header)
        self.input_names = model_input_names(model.config)
        self.output_names = [n for n in OUTPUTS if getattr(model, n) is not None]
        if self.moes:
            self.output_names.append("expert_load")

    def forward(self, *tensors: Tensor) -> tuple[Tensor, ...]:
        out = self.model(dict(zip(self.input_names, tensors, strict=True)))
        outputs = [out[n] for n in OUTPUTS if n in out]
        if self.moes:
            loads = [m.row_load for m in self.moes]
            outputs.append(torch.stack(loads, 1))  # type: ignore[arg-type]  # (B, layers, E)
        return tuple(outputs)


def _rewrite(module: nn.Module, header: CheckpointHeader) -> list[DenseDispatchMoE]:
    """Swap in place every MoE and SpectralTokens below `module`; the new MoEs, in order."""
    moes: list[DenseDispatchMoE] = []
    for name, child in module.named_children():
        if isinstance(child, MoE):
            dense = DenseDispatchMoE(child)
            setattr(module, name, dense)
            moes.append(dense)
        elif isinstance(child, SpectralTokens):
            if header.samples is None:
                raise ConfigError("the checkpoint header has no `samples`: cannot size the STFT")
            setattr(module, name, DenseSpectralTokens(child, int(header.samples)))
        else:
            moes.extend(_rewrite(child, header))
    return moes


def model_input_names(config: ModelConfig) -> list[str]:
    """The graph's inputs for a config, in order."""
    names = []
    if config.context_cardinalities:
        names.append("context")
    if config.process_channels:
        names += ["process", "process_mask"]
    if config.vibration_channels:
        names += ["vibration", "vibration_mask"]
    return names


def example_inputs(config: ModelConfig, header: CheckpointHeader, batch: int = 2) -> list[Tensor]:
    """Zero inputs of the graph's shapes (masks all True) for tracing."""
    steps = header.snapshots or header.window or 1
    out = []
    for name in model_input_names(config):
        if name == "context":
            out.append(torch.zeros(batch, len(config.context_cardinalities), dtype=torch.long))
        elif name == "process":
            out.append(torch.zeros(batch, steps, config.process_channels))
        elif name == "vibration":
            samples = int(header.samples or 0)
            out.append(torch.zeros(batch, steps, config.vibration_channels, samples))
        else:
            out.append(torch.ones(batch, steps, dtype=torch.bool))
    return out


def onnx_graph(model: PhmModel, header: CheckpointHeader) -> bytes:
    """The ONNX model (bytes) of `model`, batch axis dynamic, metadata as the module doc says;
    checked with `onnx.checker.check_model`."""
    import onnx

    wrapped = ExportedModel(model, header)
    buffer = io.BytesIO()
    names = wrapped.input_names + wrapped.output_names
    with torch.no_grad(), warnings.catch_warnings():
        # the trace is checked by the parity tests; these warnings are about other inputs
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="stft with return_complex=False")
        torch.onnx.export(
            wrapped,
            tuple(example_inputs(model.config, header)),
            buffer,
            input_names=wrapped.input_names,
            output_names=wrapped.output_names,
            dynamic_axes={n: {0: "batch"} for n in names},
            opset_version=OPSET,
            dynamo=False,
        )
    proto = onnx.load_from_string(buffer.getvalue())
    set_metadata(proto, model, header, precision="fp32")
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def set_metadata(proto: Any, model: PhmModel, header: CheckpointHeader, precision: str) -> None:
    """Write the phm.* metadata_props (replacing any already there)."""
    rul = {}
    if model.rul is not None:
        rul = {
            "conformal_factor": model.rul.conformal_factor.tolist(),
            "conformal_edges": model.rul.conformal_edges.tolist(),
        }
    values = {
        "phm.format": str(ONNX_FORMAT),
        "phm.header": json.dumps(header_to_json(header)),
        "phm.config": json.dumps(dataclasses.asdict(model.config)),
        "phm.rul": json.dumps(rul),
        "phm.members": str(len(getattr(model, "members", ()))),
        "phm.precision": precision,
    }
    kept = [p for p in proto.metadata_props if p.key not in values]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    for key, value in values.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value


def header_to_json(header: CheckpointHeader) -> dict[str, Any]:
    """The header as JSON values (arrays as lists); `training` (provenance) is left out."""
    out = {}
    for f in dataclasses.fields(header):
        value = getattr(header, f.name)
        if f.name == "training":
            continue
        if isinstance(value, np.ndarray):
            value = value.tolist()
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def header_from_json(values: dict[str, Any], source: str) -> CheckpointHeader:
    state = {
        k: torch.as_tensor(np.asarray(v, dtype=np.float32)) if k in _ARRAY_FIELDS and v else v
        for k, v in values.items()
    }
    return CheckpointHeader.from_state(state, source)


_ARRAY_FIELDS = ("feature_mean", "feature_scale", "condition_centres")


class _Heads(nn.Module):
    """The heads `Predictor.decode` reads (`rul`, `ttf`), rebuilt from the metadata."""

    def __init__(self, config: ModelConfig, rul: dict[str, list[float]]) -> None:
        super().__init__()
        self.config = config
        d = 2 * config.d_model
        self.rul = RulHead(config, d) if config.rul_head != "none" else None
        self.ttf = TtfHead(config, d) if config.n_fault_modes > 0 else None
        if self.rul is not None and rul:
            self.rul.conformal_factor.copy_(torch.tensor(rul["conformal_factor"]))
            self.rul.conformal_edges.copy_(torch.tensor(rul["conformal_edges"]))


class OnnxPredictor(Predictor):
    """A `Predictor` that runs an ONNX file (`phm export`) with onnxruntime: the same
    preprocessing (the header from the file's metadata) and decoding; `threads`: the
    session's intra-op threads (0: onnxruntime's default)."""

    def __init__(self, data: bytes, source: str, threads: int = 1) -> None:
        import onnxruntime as ort  # the gateway needs onnxruntime only, not onnx

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own error types
            raise ConfigError(
                f"{source}: onnxruntime cannot load it ({exc}); export it with `phm export`"
            ) from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get("phm.format") != str(ONNX_FORMAT):
            raise ConfigError(
                f"{source}: not a phm ONNX model of format {ONNX_FORMAT} (metadata phm.format "
                f"is {meta.get('phm.format')!r}); export it with `phm export`"
            )
        config = config_from_dict(json.loads(meta["phm.config"]), source)
        header = header_from_json(json.loads(meta["phm.header"]), source)
        heads = _Heads(config, json.loads(meta["phm.rul"])).eval()
        super().__init__(heads, header, f"{Path(source).name}:{config.name}")  # type: ignore[arg-type]
        self.precision = meta.get("phm.precision", "fp32")
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.last_load: np.ndarray | None = None  # (B, layers, E) of the last run

    @classmethod
    def load(cls, path: str | Path, dataset: str | None = None, threads: int = 1) -> OnnxPredictor:  # type: ignore[override]
        """The ONNX file at `path`; with `dataset`, a ConfigError unless it was exported from a
        checkpoint of `phm train --dataset <dataset>`."""
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            raise ConfigError(f"{path}: ONNX model not found") from None
        out = cls(data, str(path), threads)
        if dataset is not None:
            out.require(dataset, str(path))
        return out

    @classmethod
    def from_checkpoint(cls, path: str | Path, threads: int = 1) -> OnnxPredictor:
        """A checkpoint (.pt) exported to an fp32 graph in memory."""
        model, header = load_checkpoint(path)
        return cls(onnx_graph(model, header), str(Path(path).with_suffix(".onnx")), threads)

    def run(self, inputs: dict[str, Any]) -> dict[str, np.ndarray]:
        """The graph's raw outputs by name for `inputs` (arrays with a batch axis)."""
        feed = {}
        for name in self.input_names:
            if name not in inputs:
                raise ValueError(f"{self.name}: input {name!r} missing (got {sorted(inputs)})")
            value = np.asarray(inputs[name])
            if name.endswith("_mask"):
                value = value.astype(bool)
            elif name == "context":
                value = value.astype(np.int64)
            else:
                value = value.astype(np.float32)
            feed[name] = np.ascontiguousarray(value)
        return dict(zip(self.output_names, self.session.run(None, feed), strict=True))

    def predict(self, inputs: dict[str, Any], quantiles: tuple[float, ...] = ()) -> Decoded:
        outputs = self.run(inputs)
        self.last_load = outputs.get("expert_load")
        raw = {k: torch.from_numpy(v) for k, v in outputs.items() if k in OUTPUTS}
        return self.decode(raw, quantiles)

    def expert_load(self) -> list[list[float]]:
        """Row 0's expert load of the last run (what a torch predictor gives for one window)."""
        return [] if self.last_load is None else self.last_load[0].tolist()


def load_predictor(path: str | Path, dataset: str | None = None) -> Predictor:
    """A `Predictor` of a checkpoint (.pt) or an `OnnxPredictor` of an exported .onnx file."""
    if Path(path).suffix == ".onnx":
        return OnnxPredictor.load(path, dataset)
    return Predictor.load(path, dataset)


__all__ = ["ExportedModel", "OnnxPredictor", "load_predictor", "model_input_names", "onnx_graph"]
