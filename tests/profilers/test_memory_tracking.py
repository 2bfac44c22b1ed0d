"""The memory breakdown of one tracked iteration on a tiny model whose every category is known."""

from __future__ import annotations

import torch
from torch import nn

from dnn_suite_profilers.memory_tracking import CATEGORIES, TOTAL, track_iteration

CPU = torch.device("cpu")
FEATURES, WIDTH = 16, 8


def _setup():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(FEATURES, WIDTH), nn.ReLU(), nn.Linear(WIDTH, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_module = nn.MSELoss()

    def step(batch):
        x, y = batch
        loss = loss_module(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step((torch.randn(2, FEATURES), torch.randn(2, 1)))  # warmup: creates the momentum buffers
    return model, optimizer, step


def _tracked(batch_size: int) -> dict:
    model, optimizer, step = _setup()
    batch = (torch.randn(batch_size, FEATURES), torch.randn(batch_size, 1))
    return track_iteration(model, optimizer, lambda: step(batch), CPU, inputs=batch), model


def _param_bytes(module: nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in module.parameters())


def test_every_category_is_exact():
    result, model = _tracked(4)
    param_bytes = _param_bytes(model)
    assert param_bytes == (FEATURES * WIDTH + WIDTH + WIDTH + 1) * 4
    phases = result["phases"]
    for name in ("after_forward", "after_backward", "after_optimizer_step"):
        assert phases[name]["parameters"] == param_bytes
        assert phases[name]["optimizer_state"] == param_bytes  # one momentum buffer per parameter
        assert phases[name]["buffers"] == 0
    assert phases["after_backward"]["gradients"] == param_bytes
    assert phases["after_backward"]["temporaries"] == 0  # backward's temporaries are freed by its end
    # the batch was loaded before tracking: 'other'
    assert phases["after_forward"]["other"] == 4 * (FEATURES + 1) * 4
    # kept from forward: ReLU's output (saved for backward, the second Linear's input) and the model's output;
    # the first Linear's output is freed once ReLU has run
    assert phases["after_forward"]["activations"] == 4 * (WIDTH + 1) * 4


def test_categories_add_up_to_the_total():
    result, _ = _tracked(4)
    for breakdown in [result["peak"], result["end"], *result["phases"].values()]:
        assert sum(breakdown[c] for c in CATEGORIES.values()) == breakdown[TOTAL] > 0


def test_activations_grow_linearly_with_batch_size():
    after_forward = {b: _tracked(b)[0]["phases"]["after_forward"] for b in (1, 2, 4, 8)}
    per_sample = after_forward[1]["activations"]
    assert per_sample == (WIDTH + 1) * 4
    for b, breakdown in after_forward.items():
        assert breakdown["activations"] == b * per_sample
        assert breakdown["parameters"] == after_forward[1]["parameters"]  # fixed


def test_per_module_breakdown():
    result, model = _tracked(4)
    modules = result["modules"]
    assert list(modules) == ["0", "1", "2", "MSELoss"]  # the model's children, then the loss module run on its own
    first = modules["0"]
    assert first["parameters"] == first["gradients"] == first["optimizer_state"] == _param_bytes(model[0])
    assert modules["1"]["parameters"] == 0
    assert first["activations"] == 4 * WIDTH * 4  # its output, when it returned
    assert modules["2"]["activations"] == 4 * 1 * 4
    assert modules["MSELoss"]["parameters"] == 0


def test_allocator_view_on_cpu_is_rss():
    result, _ = _tracked(3)
    assert set(result["allocator"]) == {"rss"}
    assert result["allocator"]["rss"] > result["end"][TOTAL]
