"""Network shapes, the receptive field the card's halo relies on, and the FLOP counter."""
import torch

import pytest

from pssr_trainer.nets import FastNet, PSSRUNet, count_flops, grow_fast


def test_shapes_single_and_five_frames():
    for frames in (1, 5):
        x = torch.rand(2, frames, 16, 24)
        assert FastNet(frames, 8, 2).eval()(x).shape == (2, 1, 64, 96)
        assert PSSRUNet(frames, 8).eval()(x).shape == (2, 1, 64, 96)


def test_fast_receptive_field_is_what_the_card_says():
    torch.manual_seed(0)
    net = FastNet(1, 8, 3).eval()
    for p in net.parameters():  # random, non-degenerate weights everywhere
        torch.nn.init.normal_(p, std=0.3)
    x = torch.rand(1, 1, 41, 41, requires_grad=True)
    net(x)[0, 0, 4 * 20 + 1, 4 * 20 + 1].backward()  # an HR pixel inside LR pixel (20, 20)
    ys, xs = torch.nonzero(x.grad[0, 0].abs() > 0, as_tuple=True)
    reach = int(max((ys - 20).abs().max(), (xs - 20).abs().max()))
    assert reach <= net.receptive_radius_lr()
    assert reach >= net.receptive_radius_lr() - 1  # tight: the bound is not padded


def test_fast_is_a_residual_over_pixel_centre_bilinear_at_start():
    net = FastNet(1, 8, 2).eval()
    for p in net.up.parameters():
        torch.nn.init.zeros_(p)
    x = torch.rand(1, 1, 8, 8)
    want = torch.nn.functional.interpolate(x, scale_factor=4.0, mode="bilinear", align_corners=False)
    assert torch.allclose(net(x), want)


def test_flop_counter():
    net = FastNet(1, 8, 1)
    # head 1->8, 2 body convs, tail, up 8->16; 3x3 kernels on a 10x10 LR input
    want = 2 * 9 * 100 * (1 * 8 + 8 * 8 * 3 + 8 * 16) / 1e9
    assert abs(count_flops(net, [1, 1, 10, 10]) - want) < 1e-12
    # the published design (base 64) costs about 20x more per output tile than the default fast network
    ratio = count_flops(PSSRUNet(1, 64), [1, 1, 32, 32]) / count_flops(FastNet(1, 48, 8), [1, 1, 32, 32])
    assert ratio > 10


def test_growing_a_fast_network_keeps_its_function_then_trains_the_new_channels():
    torch.manual_seed(0)
    small = FastNet(5, 8, 2).eval()
    for p in small.parameters():  # non-trivial weights everywhere, the tail included
        torch.nn.init.normal_(p, std=0.2)
    x = torch.rand(2, 5, 12, 20)
    for width, depth in ((12, 2), (8, 4), (12, 3)):
        big = FastNet(5, width, depth)
        grown = grow_fast(big, small.state_dict())
        assert grown, "nothing was grown"
        with torch.no_grad():
            assert torch.allclose(big.eval()(x), small(x), atol=1e-6)
        # the new capacity is trainable: the zero weights into old channels get gradients
        big.train()
        big(x).square().mean().backward()
        if width > 8:
            assert big.up.weight.grad[:, 8:].abs().sum() > 0
        if depth > 2:
            assert big.body[2].conv2.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="cannot grow"):
        grow_fast(FastNet(5, 4, 2), small.state_dict())
