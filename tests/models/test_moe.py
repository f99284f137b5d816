"""DeepSeekMoE layer: selection, grouped dispatch, balancing bias, balance loss (tiny sizes)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from phm.models.model import ModelConfig
from phm.models.moe import (
    Gate,
    MoE,
    RoutedExperts,
    grouped_dispatch,
    load_cv,
    select_experts,
    sequence_balance_loss,
)

TINY = ModelConfig(d_model=16, n_routed_experts=8, n_activated_experts=2, expert_hidden=8)


def test_bias_changes_choice_but_not_gate_weights() -> None:
    torch.manual_seed(0)
    scores = torch.rand(64, 8)
    w0, i0 = select_experts(scores, torch.zeros(8), top_k=2)
    bias = torch.zeros(8)
    bias[7] = 10.0  # expert 7 now wins every token's first slot
    w1, i1 = select_experts(scores, bias, top_k=2)
    assert (i1 == 7).any(-1).all()
    assert not torch.equal(i0, i1)
    # weights are the unbiased affinities of the chosen experts, normalised to sum to 1
    expected = scores.gather(-1, i1) / scores.gather(-1, i1).sum(-1, keepdim=True)
    torch.testing.assert_close(w1, expected)
    torch.testing.assert_close(w1.sum(-1), torch.ones(64))
    # tokens whose chosen set did not change keep exactly the same weights
    same = (i0.sort(-1).values == i1.sort(-1).values).all(-1)
    assert same.any()
    w0s = w0.gather(-1, i0.argsort(-1))
    w1s = w1.gather(-1, i1.argsort(-1))
    torch.testing.assert_close(w0s[same], w1s[same])


def test_select_hand_case_and_route_scale() -> None:
    scores = torch.tensor([[0.9, 0.1, 0.6, 0.3]])
    w, i = select_experts(scores, torch.zeros(4), top_k=2, route_scale=2.0)
    assert i.tolist() == [[0, 2]]
    torch.testing.assert_close(w, torch.tensor([[0.9 / 1.5 * 2, 0.6 / 1.5 * 2]]))


def test_group_limited_routing_masks_other_groups() -> None:
    torch.manual_seed(1)
    scores = torch.rand(200, 8)
    _, idx = select_experts(scores, torch.zeros(8), top_k=2, n_groups=4, top_groups=1)
    groups = idx // 2  # 4 groups of 2 experts
    assert (groups[:, 0] == groups[:, 1]).all()  # both picks from the one allowed group


def naive_moe(x: torch.Tensor, w: torch.Tensor, idx: torch.Tensor, experts: RoutedExperts):
    """Reference: loop over every token and each of its chosen experts."""
    out = torch.zeros_like(x)
    for t in range(x.shape[0]):
        for s in range(idx.shape[1]):
            e = int(idx[t, s])
            out[t] += w[t, s] * experts.expert(e, x[t : t + 1])[0]
    return out


@pytest.mark.parametrize("n_tokens", [1, 7, 50])
def test_grouped_dispatch_equals_naive_reference(n_tokens: int) -> None:
    torch.manual_seed(n_tokens)
    experts = RoutedExperts(6, 12, 10)
    x = torch.randn(n_tokens, 12)
    w, idx = select_experts(torch.rand(n_tokens, 6), torch.randn(6), top_k=3)
    torch.testing.assert_close(grouped_dispatch(x, w, idx, experts), naive_moe(x, w, idx, experts))


def test_grouped_dispatch_gradients_match_reference() -> None:
    torch.manual_seed(3)
    experts = RoutedExperts(4, 8, 8)
    x = torch.randn(20, 8, requires_grad=True)
    w, idx = select_experts(torch.rand(20, 4), torch.zeros(4), top_k=2)
    g1 = torch.autograd.grad(grouped_dispatch(x, w, idx, experts).square().sum(), x)[0]
    g2 = torch.autograd.grad(naive_moe(x, w, idx, experts).square().sum(), x)[0]
    torch.testing.assert_close(g1, g2)


def test_bias_is_an_fp32_buffer_not_a_parameter() -> None:
    gate = Gate(TINY)
    assert "bias" in dict(gate.named_buffers())
    assert "bias" not in dict(gate.named_parameters())
    assert gate.bias.dtype == torch.float32
    assert "gate.bias" in MoE(TINY).state_dict()


@pytest.mark.parametrize("router", ["linear", "lowrank"])
def test_moe_shapes_and_padding_not_routed(router: str) -> None:
    cfg = dataclasses.replace(TINY, router=router, router_rank=4)
    moe = MoE(cfg).train()
    x = torch.randn(3, 5, 16)
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[0, :2] = False  # 2 padded tokens
    y = moe(x, mask)
    assert y.shape == (3, 5, 16)
    assert moe.load_counts.sum() == (15 - 2) * cfg.n_activated_experts
    # a padded token's content does not change the real tokens' outputs
    x2 = x.clone()
    x2[0, :2] = 100.0
    torch.testing.assert_close(moe(x2, mask)[mask], y[mask])


def test_balancing_bias_evens_out_a_skewed_load() -> None:
    torch.manual_seed(0)
    cfg = dataclasses.replace(TINY, bias_update_speed=0.01)
    moe = MoE(cfg).train()
    with torch.no_grad():  # skew the router: experts 0 and 1 win most tokens
        moe.gate.proj.weight.zero_()
        moe.gate.proj.weight[0, 0] = 3.0
        moe.gate.proj.weight[1, 0] = 2.0
        moe.gate.proj.weight += 0.3 * torch.randn_like(moe.gate.proj.weight)
    x = torch.randn(512, 1, 16)
    x[..., 0] = x[..., 0].abs() + 1.0
    moe(x)
    cv_start = load_cv(moe.last_load)
    for _ in range(300):
        moe(x)
        moe.update_bias(cfg.bias_update_speed)
    moe(x)
    cv_end = load_cv(moe.last_load)
    assert cv_start > 1.0
    assert cv_end < 0.3 * cv_start
    # the gate weights still come from the router: bias changed, router weights did not
    assert moe.gate.bias[0] < 0 < moe.gate.bias[7]


def test_update_bias_sign_rule() -> None:
    moe = MoE(dataclasses.replace(TINY, n_routed_experts=4))
    moe.load_counts.copy_(torch.tensor([10.0, 2.0, 4.0, 4.0]))  # mean 5
    moe.update_bias(0.1)
    torch.testing.assert_close(moe.gate.bias, torch.tensor([-0.1, 0.1, 0.1, 0.1]))
    assert moe.load_counts.sum() == 0  # consumed


def test_sequence_balance_loss_hand_cases() -> None:
    # one sequence, 2 tokens, 2 experts, k = 1
    skewed = torch.tensor([[[0.9, 0.1], [0.9, 0.1]]])
    both_on_0 = torch.tensor([[[0], [0]]])
    # f_0 = E / (k T) * 2 = 2, P_0 = 0.9 -> 1.8
    torch.testing.assert_close(sequence_balance_loss(skewed, both_on_0), torch.tensor(1.8))
    uniform = torch.full((1, 2, 2), 0.5)
    split = torch.tensor([[[0], [1]]])
    torch.testing.assert_close(sequence_balance_loss(uniform, split), torch.tensor(1.0))
    # masked tokens do not count
    mask = torch.tensor([[True, False]])
    padded = torch.tensor([[[0.9, 0.1], [0.0001, 0.9999]]])
    loss = sequence_balance_loss(padded, torch.tensor([[[0], [1]]]), mask)
    torch.testing.assert_close(loss, torch.tensor(2 * 0.9))


def test_balance_loss_has_gradient_to_router() -> None:
    cfg = dataclasses.replace(TINY, balance_loss_weight=1e-2)
    moe = MoE(cfg).train()
    moe(torch.randn(2, 6, 16))
    assert moe.routing is not None
    loss = sequence_balance_loss(*moe.routing)
    loss.backward()
    assert moe.gate.proj.weight.grad is not None
    assert moe.gate.proj.weight.grad.abs().sum() > 0
