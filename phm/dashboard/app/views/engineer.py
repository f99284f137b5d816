"""Engineer: the model's internals for one asset, kept off the operators' pages: the expert
load of the mixture-of-experts layers (latest prediction per layer, one layer over time) and
the raw vibration features (acceleration RMS in g) behind the operators' ISO 20816 chart."""

from __future__ import annotations

import streamlit as st

from phm.dashboard import charts
from phm.dashboard import queries as q
from phm.dashboard.ui import REFRESH_S, cached, dates, steady, store_or_stop

st.title("Engineer: model internals")
steady()
store = store_or_stop()
assets = [r[0] for r in store.state.assets()] or sorted(
    {p.asset_id for p in store.state.latest_predictions()}
)
if not assets:
    st.info("No assets yet: nothing is registered in the store. Start `phm demo`.")
    st.stop()
wanted = st.query_params.get("asset")
with st.sidebar:
    asset = st.selectbox(
        "Asset", assets, index=assets.index(wanted) if wanted in assets else 0, key="eng_asset"
    )
st.query_params["asset"] = asset
SPAN_S = 86_400.0  # the last day of predictions


def expert_load() -> None:
    st.subheader(f"Expert load of {asset}")
    times, loads = cached(store, "expert_load_history", asset, SPAN_S)
    if len(times) == 0:
        st.info("No expert loads recorded in this asset's predictions.")
        return
    n_layers, n_experts = loads.shape[1:]
    experts = [f"expert {e}" for e in range(n_experts)]
    left, right = st.columns(2)
    fig = charts.heatmap(
        experts,
        [f"layer {i}" for i in range(n_layers)],
        loads[-1],
        "latest prediction: share of tokens per routed expert",
        "routed expert",
        "MoE layer",
    )
    left.vega_lite_chart(fig, key="load_latest", width="stretch")
    layer = 0 if n_layers == 1 else right.selectbox("Layer", range(n_layers), key="load_layer")
    fig = charts.heatmap(
        times,
        experts,
        loads[:, layer, :].T,
        f"layer {layer}: load over the last day",
        charts.TIME_AXIS,
        "routed expert",
        time=True,
    )
    right.vega_lite_chart(fig, key="load_time", width="stretch")
    st.caption(
        "a balanced router spreads tokens evenly (1 / experts each); an expert that takes "
        "most tokens, or none, for long is worth a look when the model is retrained"
    )


def raw_features() -> None:
    if not q.has_stream(store, asset, "vibration"):
        return
    st.subheader("Raw vibration features")
    feats = cached(store, "feature_trends", asset, SPAN_S)
    if feats.height == 0:
        st.info("No vibration snapshot yet.")
        return
    rms = {c[: -len("_rms")]: feats[c].to_numpy() for c in feats.columns if c.endswith("_rms")}
    fig = charts.lines(
        dates(feats["time"].to_numpy()),
        rms,
        "acceleration RMS per snapshot",
        "acceleration RMS (g)",
        fmt=".3f",
    )
    st.vega_lite_chart(fig, key="accel_rms", width="stretch")


@st.fragment(run_every=REFRESH_S)
def engineer_view() -> None:
    try:
        expert_load()
        raw_features()
    except q.UnknownAssetError as exc:
        st.error(str(exc))
    st.caption(f"refreshes every {REFRESH_S:g} s")


engineer_view()
