"""Networks. Input `lr` [N, F, h, w] (normalised, F = 1 or 5 frames t-2..t+2), output `hr` [N, 1, 4h, 4w].

`fast` (default) works at LR resolution and ends in a PixelShuffle x4 head (sub-pixel convolution), plus a
bilinear pixel-centre skip of the centre frame, so it only learns the residual over interpolation. Running
at input size costs ~16x fewer FLOPs than the published design, which runs at output size.

`pssr` is the published design (Fang et al.; fastai `unet_learner(resnet34, self_attention=True,
blur=True)`): a ResNet34-style encoder U-Net with self-attention and PixelShuffle-ICNR upsampling with blur,
applied at output size to a bilinear-upsampled input. `base` = 64 is the published width; smaller bases
shrink every layer proportionally.

Both must run on torch 1.13 and 2.x and export to ONNX opset 17 (PixelShuffle -> DepthToSpace, bilinear
align_corners=False -> Resize half_pixel).
"""
from __future__ import annotations

from typing import List

import torch
import torch.nn as nn
import torch.nn.functional as F


def icnr_(weight: torch.Tensor, scale: int = 2, init=nn.init.kaiming_normal_) -> None:
    """ICNR (Aitken et al.): a sub-pixel conv initialised as nearest-neighbour upsampling, no checkerboard."""
    ni, nf, h, w = weight.shape
    ni2 = ni // (scale ** 2)
    k = torch.zeros(ni2, nf, h, w)
    init(k)
    k = k.repeat_interleave(scale ** 2, dim=0)
    with torch.no_grad():
        weight.copy_(k)


def bilinear4(x: torch.Tensor) -> torch.Tensor:
    """Pixel-centre 4x bilinear (HR pixel j at LR coordinate (j - 1.5) / 4), as CONTRACTS requires."""
    return F.interpolate(x, scale_factor=4.0, mode="bilinear", align_corners=False)


class ResBlock(nn.Module):
    def __init__(self, width: int, res_scale: float = 1.0):
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.res_scale = res_scale

    def forward(self, x):
        return x + self.conv2(F.relu(self.conv1(x))) * self.res_scale


class FastNet(nn.Module):
    """EDSR-like residual body at LR size (no batch norm: tiles and whole frames behave the same)."""

    def __init__(self, frames: int = 1, width: int = 48, depth: int = 6):
        super().__init__()
        self.frames, self.width, self.depth = frames, width, depth
        self.head = nn.Conv2d(frames, width, 3, padding=1)
        self.body = nn.Sequential(*[ResBlock(width, res_scale=0.2) for _ in range(depth)])
        self.body_tail = nn.Conv2d(width, width, 3, padding=1)
        self.up = nn.Conv2d(width, 16, 3, padding=1)
        self.shuffle = nn.PixelShuffle(4)
        icnr_(self.up.weight, scale=4)
        with torch.no_grad():
            # start near "bilinear": the residual branch begins small
            self.up.weight.mul_(0.1)
            self.up.bias.zero_()

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        c = self.frames // 2
        skip = bilinear4(lr[:, c:c + 1])
        f = self.head(lr)
        f = f + self.body_tail(self.body(f))
        return skip + self.shuffle(self.up(f))

    def receptive_radius_lr(self) -> int:
        # 3x3 convs: head + 2 per block + body_tail + up, each +1 LR pixel of radius; the bilinear skip
        # needs 1 more LR pixel, already covered.
        return 1 + 2 * self.depth + 1 + 1

    def describe(self) -> dict:
        return {"name": "fast", "width": self.width, "depth": self.depth,
                "parameters": count_parameters(self), "receptiveFieldLR": self.receptive_radius_lr()}


# ------------------------------- the published design -----------------------------------------------

class BasicBlock(nn.Module):
    def __init__(self, ni: int, nf: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(ni, nf, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(nf)
        self.conv2 = nn.Conv2d(nf, nf, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(nf)
        self.down = None
        if stride != 1 or ni != nf:
            self.down = nn.Sequential(nn.Conv2d(ni, nf, 1, stride, bias=False), nn.BatchNorm2d(nf))

    def forward(self, x):
        idt = x if self.down is None else self.down(x)
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + idt)


def _layer(ni: int, nf: int, blocks: int, stride: int) -> nn.Sequential:
    return nn.Sequential(BasicBlock(ni, nf, stride), *[BasicBlock(nf, nf) for _ in range(blocks - 1)])


class PixelShuffleICNR(nn.Module):
    """fastai PixelShuffle_ICNR(blur=True): 1x1 conv -> ReLU -> shuffle x2 -> pad + 2x2 average (blur)."""

    def __init__(self, ni: int, nf: int):
        super().__init__()
        self.conv = nn.Conv2d(ni, nf * 4, 1)
        icnr_(self.conv.weight, scale=2)
        nn.init.zeros_(self.conv.bias)
        self.shuf = nn.PixelShuffle(2)
        self.pad = nn.ReplicationPad2d((1, 0, 1, 0))
        self.blur = nn.AvgPool2d(2, stride=1)

    def forward(self, x):
        return self.blur(self.pad(self.shuf(F.relu(self.conv(x)))))


class SelfAttention(nn.Module):
    """SAGAN self-attention as in fastai (gamma starts at 0)."""

    def __init__(self, n: int):
        super().__init__()
        self.q = nn.Conv1d(n, max(n // 8, 1), 1, bias=False)
        self.k = nn.Conv1d(n, max(n // 8, 1), 1, bias=False)
        self.v = nn.Conv1d(n, n, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        n, c, h, w = x.shape
        flat = x.reshape(n, c, h * w)
        f, g, v = self.q(flat), self.k(flat), self.v(flat)
        beta = F.softmax(torch.bmm(f.transpose(1, 2), g), dim=1)
        o = self.gamma * torch.bmm(v, beta) + flat
        return o.reshape(n, c, h, w)


def conv_relu(ni: int, nf: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(ni, nf, 3, padding=1), nn.ReLU(inplace=True))


class UnetBlock(nn.Module):
    def __init__(self, up_in: int, skip_in: int, attention: bool, final: bool = False):
        super().__init__()
        self.shuf = PixelShuffleICNR(up_in, up_in // 2)
        self.bn = nn.BatchNorm2d(skip_in)
        ni = up_in // 2 + skip_in
        nf = ni // 2 if final else ni  # fastai final_div
        self.conv1 = conv_relu(ni, nf)
        self.conv2 = conv_relu(nf, nf)
        self.att = SelfAttention(nf) if attention else None
        self.out_channels = nf

    def forward(self, up, skip):
        x = torch.cat([self.shuf(up), self.bn(skip)], dim=1)
        x = F.relu(x)
        x = self.conv2(self.conv1(x))
        return self.att(x) if self.att is not None else x


class PSSRUNet(nn.Module):
    """ResNet34 encoder ([3,4,6,3] basic blocks) + fastai DynamicUnet decoder, at output size."""

    def __init__(self, frames: int = 1, base: int = 64):
        super().__init__()
        self.frames, self.base = frames, base
        b = base
        self.stem = nn.Sequential(nn.Conv2d(frames, b, 7, 2, 3, bias=False), nn.BatchNorm2d(b), nn.ReLU(inplace=True))
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = _layer(b, b, 3, 1)
        self.layer2 = _layer(b, 2 * b, 4, 2)
        self.layer3 = _layer(2 * b, 4 * b, 6, 2)
        self.layer4 = _layer(4 * b, 8 * b, 3, 2)
        self.middle = nn.Sequential(nn.BatchNorm2d(8 * b), nn.ReLU(inplace=True),
                                    conv_relu(8 * b, 16 * b), conv_relu(16 * b, 8 * b))
        self.up4 = UnetBlock(8 * b, 4 * b, attention=False)
        self.up3 = UnetBlock(self.up4.out_channels, 2 * b, attention=True)   # fastai: 3rd from last
        self.up2 = UnetBlock(self.up3.out_channels, b, attention=False)
        self.up1 = UnetBlock(self.up2.out_channels, b, attention=False, final=True)
        ni = self.up1.out_channels
        self.final_shuf = PixelShuffleICNR(ni, ni)
        self.res1 = conv_relu(ni + frames, ni + frames)
        self.res2 = conv_relu(ni + frames, ni + frames)
        self.out = nn.Conv2d(ni + frames, 1, 1)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        x = bilinear4(lr)  # published PSSR feeds the upsampled LR image
        s0 = self.stem(x)                      # /2
        s1 = self.layer1(self.pool(s0))        # /4
        s2 = self.layer2(s1)                   # /8
        s3 = self.layer3(s2)                   # /16
        s4 = self.layer4(s3)                   # /32
        y = self.middle(s4)
        y = self.up4(y, s3)
        y = self.up3(y, s2)
        y = self.up2(y, s1)
        y = self.up1(y, s0)
        y = torch.cat([self.final_shuf(y), x], dim=1)  # fastai last_cross
        y = y + self.res2(self.res1(y))
        return self.out(y)

    def receptive_radius_lr(self) -> int:
        # The ResNet34 encoder's receptive field exceeds any tile; stitching needs a generous halo anyway.
        return 32

    def describe(self) -> dict:
        return {"name": "pssr", "base": self.base, "publishedBase": 64, "encoder": "resnet34-style",
                "parameters": count_parameters(self), "receptiveFieldLR": self.receptive_radius_lr()}


def grow_fast(model: "FastNet", old_state: dict) -> List[str]:
    """Load a smaller `fast` network's weights into `model` (same frames, width and depth >= the old ones)
    so that `model` computes exactly the old function, then trains with the extra capacity.

    Net2Net-style with zero outgoing weights: old channels keep their weights; new channels keep their
    random incoming weights but every weight from a new channel into an old channel (and into the output)
    is zero, so they are invisible until training makes those weights non-zero. New residual blocks start
    as identities (their second convolution is zero). Returns the names of the tensors that were grown."""
    new_state = model.state_dict()
    grown: List[str] = []
    with torch.no_grad():
        for name, t in new_state.items():
            old = old_state.get(name)
            if old is None:
                if name.startswith("body.") and ".conv2." in name:
                    t.zero_()  # an appended block: x + 0 = identity
                grown.append(name)
                continue
            if tuple(old.shape) == tuple(t.shape):
                t.copy_(old)
                continue
            if old.dim() != t.dim() or any(o > n for o, n in zip(old.shape, t.shape)):
                raise ValueError(f"cannot grow {name}: {tuple(old.shape)} -> {tuple(t.shape)}")
            o = old.shape[0]
            if t.dim() == 4:
                i = old.shape[1]
                t[:o, i:].zero_()       # new channels -> old channels: zero
                t[:o, :i].copy_(old)
            else:
                t[:o].copy_(old)
            grown.append(name)
    model.load_state_dict(new_state)
    return grown


def count_parameters(m: nn.Module) -> int:
    return int(sum(p.numel() for p in m.parameters()))


def build_network(arch: str, frames: int, width: int = 48, depth: int = 6, base: int = 32) -> nn.Module:
    if arch == "fast":
        return FastNet(frames, width, depth)
    if arch == "pssr":
        return PSSRUNet(frames, base)
    raise ValueError(f"unknown arch {arch!r}; allowed: fast, pssr")


def tile_multiple(arch: str) -> int:
    # pssr runs at 4x on a /32 encoder: LR sides must be multiples of 8. fast accepts any size; 8 keeps
    # tile plans interchangeable.
    return 8


def count_flops(model: nn.Module, shape: List[int]) -> float:
    """Multiply-adds x 2 of convolutions and attention matmuls for one forward pass (GFLOP)."""
    total = [0.0]
    hooks = []

    def conv_hook(mod, inp, out):
        k = mod.kernel_size[0] * (mod.kernel_size[1] if len(mod.kernel_size) > 1 else 1)
        total[0] += 2.0 * out.numel() * (mod.in_channels // mod.groups) * k

    def att_hook(mod, inp, out):
        n, c, h, w = inp[0].shape
        total[0] += 2.0 * n * (h * w) ** 2 * (max(c // 8, 1) + c)

    for mod in model.modules():
        if isinstance(mod, (nn.Conv2d, nn.Conv1d)):
            hooks.append(mod.register_forward_hook(conv_hook))
        if isinstance(mod, SelfAttention):
            hooks.append(mod.register_forward_hook(att_hook))
    with torch.no_grad():
        model.eval()(torch.zeros(*shape))
    for h in hooks:
        h.remove()
    return total[0] / 1e9
