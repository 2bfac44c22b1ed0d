import pytest
import torch
import torchvision
from torch import nn

from dnn_suite.errors import UsageError
from dnn_suite_efficientdet.model import build_efficientdet
from dnn_suite_efficientdet.model.activation import SiLU, silu
from dnn_suite_efficientdet.model.backbone import hub_checkpoint
from dnn_suite_efficientdet.model.bifpn import BiFPN, ConvBN
from dnn_suite_efficientdet.model.head import HeadNet


@pytest.fixture(scope="module")
def d0():
    torch.manual_seed(0)
    return build_efficientdet("d0", num_classes=3, image_size=128)


def test_forward_backward_shapes(d0):
    d0.train()
    images = torch.randn(2, 3, 128, 128)
    class_outputs, box_outputs = d0(images)
    num_anchors = len(d0.anchors())
    assert num_anchors == 9 * (16**2 + 8**2 + 4**2 + 2**2 + 1)
    assert class_outputs.shape == (2, num_anchors, 3) and box_outputs.shape == (2, num_anchors, 4)
    (class_outputs.sigmoid().mean() + box_outputs.abs().mean()).backward()
    for name in ("backbone.features.0.0.weight", "fpn.layers.2.nodes.7.conv.1.weight",
                 "class_net.pointwise.0.weight", "box_net.predict.1.bias"):
        grad = d0.get_parameter(name).grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name
    d0.zero_grad(set_to_none=True)


def test_swish_is_in_place_only_where_autograd_does_not_record(d0):
    """In training an in-place SiLU would make autograd copy its input; in inference it saves a tensor."""
    x = torch.randn(2, 4, 8, 8)
    kept = x.clone()
    out = silu(x)
    assert out is not x and torch.equal(x, kept) and torch.equal(out, torch.nn.functional.silu(kept))
    with torch.inference_mode():
        y = kept.clone()
        assert silu(y) is y and torch.equal(y, torch.nn.functional.silu(kept))
    assert not any(isinstance(m, nn.SiLU) for m in d0.modules())  # torchvision's in-place SiLUs are replaced
    assert sum(isinstance(m, SiLU) for m in d0.backbone.modules()) > 0
    d0.eval()
    images = torch.randn(1, 3, 128, 128)
    expected = d0(images)  # autograd records: out of place
    with torch.inference_mode():
        outputs = d0(images)
    assert all(torch.equal(a, b) for a, b in zip(outputs, expected, strict=True))


def test_initial_class_probability_is_the_prior(d0):
    d0.eval()
    with torch.no_grad():
        class_outputs, _ = d0(torch.randn(1, 3, 128, 128))
    assert class_outputs.sigmoid().mean().item() == pytest.approx(0.01, rel=0.2)


def test_channels_last_gives_the_same_outputs(d0):
    d0.eval()
    images = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        reference = d0(images)
        d0.to(memory_format=torch.channels_last)
        try:
            outputs = d0(images.to(memory_format=torch.channels_last))
        finally:
            d0.to(memory_format=torch.contiguous_format)
    for ref, out in zip(reference, outputs):
        torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)


def test_bf16_autocast(d0):
    d0.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        class_outputs, box_outputs = d0(torch.randn(1, 3, 64, 64))
    assert class_outputs.dtype == box_outputs.dtype == torch.bfloat16
    assert torch.isfinite(class_outputs).all() and torch.isfinite(box_outputs).all()


def test_size_not_divisible_by_128(d0):
    d0.eval()
    with torch.no_grad():
        class_outputs, box_outputs = d0(torch.randn(1, 3, 100, 72))
    assert class_outputs.shape[1] == box_outputs.shape[1] == len(d0.anchors((100, 72)))


def test_batchnorm_settings_everywhere(d0):
    norms = [m for m in d0.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) > 100
    assert all(m.momentum == 0.01 and m.eps == 1e-3 for m in norms)


def test_head_flattening_matches_anchor_order():
    head = HeadNet(channels=2, num_outputs=2, num_anchors=9, repeats=0, num_levels=2)
    with torch.no_grad():  # predict = channel 0 at each location, times (anchor * 2 + output + 1)
        head.predict[0].weight.zero_()[:, 0, 1, 1] = 1
        head.predict[1].weight.zero_()[:, 0, 0, 0] = torch.arange(1.0, 19.0)
        head.predict[1].bias.zero_()
    p3, p4 = torch.zeros(1, 2, 4, 6), torch.zeros(1, 2, 2, 3)
    p3[0, 0, 2, 5], p4[0, 0, 1, 0] = 1.0, 10.0
    out = head([p3, p4])
    assert out.shape == (1, 9 * (24 + 6), 2)
    rows = {9 * (2 * 6 + 5) + a: 1.0 for a in range(9)} | {9 * 24 + 9 * (1 * 3 + 0) + a: 10.0 for a in range(9)}
    expected = torch.zeros(out.shape[1], 2)
    for row, value in rows.items():
        a = row % 9
        expected[row] = value * torch.tensor([2 * a + 1.0, 2 * a + 2.0])
    torch.testing.assert_close(out[0], expected)


def test_class_bias_prior_and_fusion_modes():
    head = HeadNet(8, 5, 9, repeats=1, num_levels=5, prior_probability=0.01)
    torch.testing.assert_close(head.predict[1].bias.sigmoid(), torch.full((45,), 0.01))
    fast = BiFPN([40, 112, 320], 16, num_levels=5, repeats=2, fusion="fast")
    total = BiFPN([40, 112, 320], 16, num_levels=5, repeats=2, fusion="sum")
    # 8 nodes per layer: 4 top-down (2 inputs), 3 bottom-up with 3 inputs, P7 with 2.
    assert [len(n.inputs) for n in fast.layers[0].nodes] == [2, 2, 2, 2, 3, 3, 3, 2]
    assert all(torch.equal(n.weight, torch.ones(len(n.inputs))) for layer in fast.layers for n in layer.nodes)
    assert all(n.weight is None for layer in total.layers for n in layer.nodes)
    # Projections where channels differ: P3 once, P4 and P5 in both passes, plus P6's; none after layer 0.
    assert sum(isinstance(m, ConvBN) for m in fast.layers[0].modules()) == 5
    assert sum(isinstance(m, ConvBN) for m in fast.layers[1].modules()) == 0
    features = [torch.randn(1, 40, 16, 16), torch.randn(1, 112, 8, 8), torch.randn(1, 320, 4, 4)]
    shapes = [tuple(f.shape) for f in total.eval()(features)]
    assert shapes == [(1, 16, 16, 16), (1, 16, 8, 8), (1, 16, 4, 4), (1, 16, 2, 2), (1, 16, 1, 1)]


# --- backbone weights ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def b0_state(tmp_path_factory):
    """A torchvision-format efficientnet_b0 state dict with values no initialiser produces."""
    torch.manual_seed(1)
    state = torchvision.models.efficientnet_b0(weights=None).state_dict()
    for key, value in state.items():
        if value.is_floating_point():
            state[key] = torch.rand_like(value) + 0.5
    path = tmp_path_factory.mktemp("weights") / "b0.pth"
    torch.save(state, path)
    return path, state


def assert_backbone_equals(model, state):
    loaded = model.backbone.state_dict()
    assert all(torch.equal(value, state[key]) for key, value in loaded.items())
    assert "features.8.0.weight" in state and "features.8.0.weight" not in loaded


def test_backbone_weights_loaded_and_not_reinitialised(b0_state):
    path, state = b0_state
    model = build_efficientdet("d0", num_classes=3, image_size=128, backbone_weights=path)
    assert_backbone_equals(model, state)


def test_imagenet_weights_come_from_the_hub_cache_only(b0_state, tmp_path, monkeypatch):
    # torch.hub.set_dir's setting, undone afterwards (set_dir(get_dir()) would pin the hub folder
    # and hide later tests' TORCH_HOME)
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path))
    with pytest.raises(UsageError, match="efficientnet_b0.*file not found.*never downloaded"):
        build_efficientdet("d0", num_classes=3, backbone_weights="imagenet")
    cached = hub_checkpoint("efficientnet_b0")
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b0_state[0].read_bytes())
    model = build_efficientdet("d0", num_classes=3, backbone_weights="imagenet")
    assert_backbone_equals(model, b0_state[1])


def test_bad_weight_files_are_usage_errors(b0_state, tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(UsageError, match=f"{missing}: file not found"):
        build_efficientdet("d0", num_classes=3, backbone_weights=missing)
    garbage = tmp_path / "garbage.pth"
    garbage.write_text("not a checkpoint")
    with pytest.raises(UsageError, match=f"{garbage}: cannot be read as a state dict"):
        build_efficientdet("d0", num_classes=3, backbone_weights=garbage)
    # b0 weights for a B1 backbone: B1 has more blocks per stage.
    with pytest.raises(UsageError, match=r"b0.pth: not a torchvision efficientnet_b1 state dict: missing keys"):
        build_efficientdet("d1", num_classes=3, backbone_weights=b0_state[0])
    truncated = tmp_path / "truncated.pth"
    state = dict(b0_state[1])
    state["features.3.0.block.0.0.weight"] = state["features.3.0.block.0.0.weight"][:10]
    torch.save(state, truncated)
    with pytest.raises(UsageError, match=r"shape mismatches \(1, e.g. features.3.0.block.0.0.weight\)"):
        build_efficientdet("d0", num_classes=3, backbone_weights=truncated)
