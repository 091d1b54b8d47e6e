"""ONNX files for `slimsplit import`'s tests (test/import/onnx.test.ts), exported with Debian's torch.

    /usr/bin/python3 train/export_onnx.py                 # build/onnx/mobilenet_v2.onnx, resnet18.onnx, mobilenet_v3_small.onnx
    /usr/bin/python3 train/export_onnx.py --more          # also mobilenet_v3_large, efficientnet_b0, squeezenet1_1, mnasnet0_5, regnet_y_400mf, densenet121, googlenet, shufflenet_v2_x0_5, shufflenet_v2_x1_0
    /usr/bin/python3 train/export_onnx.py --tiny test/fixtures/onnx   # the small committed fixtures

torchvision's mobilenet_v2(), resnet18() and mobilenet_v3_small() with random weights from a fixed seed (nothing is
downloaded: the architecture is what the import is checked on), in eval mode, exported at opset 13
with constant folding (so BatchNorm is folded into the convs, as a user's export would be). Beside
each model: `<name>.torch.json`, torch's own outputs on inputs the TypeScript tests regenerate from
a seed (train/common_export.py randn_like_ts == test/util.ts randn), a third opinion next to
onnxruntime's.

--tiny writes three small networks (a few kB) that hold every op the importer maps: a torchvision-style
stem (conv + BN + ReLU, 3x3/2 max pool with padding 1), a ReLU6 inverted residual with a depthwise
conv, an unfolded BatchNorm (tiny-bn.onnx, exported without constant folding), GAP, Flatten and Gemm;
and tiny-v3.onnx with the MobileNetV3 / EfficientNet ops: hard swish and SiLU (x * gate(x)),
squeeze-excite gates (hard sigmoid, sigmoid), average pools with and without count_include_pad,
channel and vector concats, a scalar Mul, softmax over channels, bilinear resizes (half_pixel by a
scale, align_corners to a size computed with Shape/Slice/Concat) and a mean over H, W.

--more writes further torchvision models the importer maps, for bench/onnx-parity.ts (not the tests).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common_export import randn_like_ts  # noqa: E402

SEED = 20261206
OPSET = 13
# input seeds the tests regenerate with test/util.ts randn(3 * H * W, seed)
INPUT_SEEDS = [1, 2, 3]


class Tiny(nn.Module):
    """Every op the ONNX importer maps, small enough to commit."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.expand = nn.Sequential(nn.Conv2d(8, 16, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6(inplace=True))
        self.dw = nn.Sequential(nn.Conv2d(16, 16, 3, 1, 1, groups=16, bias=False), nn.BatchNorm2d(16), nn.ReLU6(inplace=True))
        self.project = nn.Sequential(nn.Conv2d(16, 8, 1, bias=False), nn.BatchNorm2d(8))
        self.down = nn.Sequential(nn.Conv2d(8, 12, 5, 2, 2), nn.ReLU())
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(12, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.stem(x))
        x = x + self.project(self.dw(self.expand(x)))
        x = self.down(x)
        x = nn.functional.adaptive_avg_pool2d(x, 1)
        return self.fc(self.drop(torch.flatten(x, 1)))


class SqueezeExcite(nn.Module):
    def __init__(self, c: int, r: int, gate: nn.Module) -> None:
        super().__init__()
        self.fc1, self.fc2, self.gate = nn.Conv2d(c, r, 1), nn.Conv2d(r, c, 1), gate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = nn.functional.adaptive_avg_pool2d(x, 1)
        return x * self.gate(self.fc2(nn.functional.relu(self.fc1(g))))


class TinyV3(nn.Module):
    """The ops of MobileNetV3 and EfficientNet (and a few more the importer maps), small enough to commit."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.Hardswish())
        self.se1 = SqueezeExcite(8, 4, nn.Hardsigmoid())
        self.dw = nn.Sequential(nn.Conv2d(8, 8, 3, 1, 1, groups=8, bias=False), nn.BatchNorm2d(8), nn.SiLU())
        self.se2 = SqueezeExcite(8, 4, nn.Sigmoid())
        self.pool_pad = nn.AvgPool2d(3, 1, 1)  # count_include_pad: exported as Pad + AveragePool
        self.pool_in = nn.AvgPool2d(3, 2, 1, count_include_pad=False)
        self.mix = nn.Conv2d(16, 12, 1)
        self.head = nn.Sequential(nn.Conv2d(12, 2, 1, bias=False), nn.BatchNorm2d(2))
        self.fc = nn.Sequential(nn.Linear(2 * 4 * 4 + 24, 16), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(16, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        F = nn.functional
        x = self.se1(self.stem(x))
        y = self.se2(self.dw(x))
        z = self.mix(torch.cat([self.pool_pad(y), x], 1)) * 0.5
        z = torch.sigmoid(z) * torch.softmax(z, 1)
        d = self.pool_in(z)
        up = F.interpolate(d, scale_factor=2, mode='bilinear', align_corners=False)
        ac = F.interpolate(d, size=(16, 16), mode='bilinear', align_corners=True)
        z = z + up * ac
        # means over the whole map hardly depend on a random input; a normalized 4x4 map does
        local = F.avg_pool2d(self.head(z), 4).flatten(1)
        return self.fc(torch.cat([local, z.mean((2, 3)), F.hardsigmoid(F.adaptive_avg_pool2d(z, 1).flatten(1))], 1))


def randomize_bn(m: nn.Module, g: torch.Generator, hw: int) -> None:
    """
    BatchNorm statistics measured on random inputs, and random affine parameters: with torchvision's
    init (mean 0, var 1) a deep random network saturates its ReLU6s and its output hardly depends on
    the input, which would make a weak test; measured statistics keep every layer normalized (and
    the folding is exercised with values that are not 0/1).
    """
    bns = [b for b in m.modules() if isinstance(b, nn.BatchNorm2d)]
    with torch.no_grad():
        for b in bns:
            b.reset_running_stats()
            b.momentum = None  # a cumulative average over the calibration batches
            b.weight.copy_(torch.rand(b.num_features, generator=g) * 0.5 + 0.75)
            b.bias.copy_(torch.randn(b.num_features, generator=g) * 0.1)
        m.train()
        for _ in range(2):
            m(torch.rand(8, 3, hw, hw, generator=g) * 2 - 1)
    m.eval()


def export(model: nn.Module, name: str, out_dir: str, hw: int, fold: bool = True) -> None:
    model.eval()
    path = os.path.join(out_dir, f'{name}.onnx')
    x0 = torch.from_numpy(randn_like_ts(3 * hw * hw, INPUT_SEEDS[0]).reshape(1, 3, hw, hw))
    torch.onnx.export(model, x0, path, opset_version=OPSET, input_names=['input'], output_names=['logits'],
                      do_constant_folding=fold, training=torch.onnx.TrainingMode.EVAL if fold else torch.onnx.TrainingMode.PRESERVE)
    outs = {}
    with torch.no_grad():
        for s in INPUT_SEEDS:
            x = torch.from_numpy(randn_like_ts(3 * hw * hw, s).reshape(1, 3, hw, hw))
            outs[str(s)] = [float(v) for v in model(x).double().flatten()]
    with open(os.path.join(out_dir, f'{name}.torch.json'), 'w') as f:
        json.dump({'model': name, 'torch': torch.__version__, 'seed': SEED, 'opset': OPSET, 'input': [1, 3, hw, hw],
                   'inputSeeds': INPUT_SEEDS, 'outputs': outs}, f)
    print(f'{path}: {os.path.getsize(path):,} bytes')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('out', nargs='?', default='build/onnx', help='output folder (default build/onnx)')
    ap.add_argument('--tiny', action='store_true', help='write the small test fixtures instead of the torchvision models')
    ap.add_argument('--more', action='store_true', help='also the torchvision models only bench/onnx-parity.ts reads')
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)
    if args.tiny:
        for name, cls, fold in (('tiny', Tiny, True), ('tiny-bn', Tiny, False), ('tiny-v3', TinyV3, True)):
            torch.manual_seed(SEED)
            m = cls()
            randomize_bn(m, torch.Generator().manual_seed(SEED), 32)
            export(m, name, args.out, 32, fold)
        return
    import torchvision
    names = ['mobilenet_v2', 'resnet18', 'mobilenet_v3_small']
    if args.more:
        names += ['mobilenet_v3_large', 'efficientnet_b0', 'squeezenet1_1', 'mnasnet0_5', 'regnet_y_400mf', 'densenet121', 'googlenet', 'shufflenet_v2_x0_5', 'shufflenet_v2_x1_0']
    for name in names:
        torch.manual_seed(SEED)
        m = getattr(torchvision.models, name)(weights=None)
        randomize_bn(m, torch.Generator().manual_seed(SEED), 224)
        export(m, name, args.out, 224)


if __name__ == '__main__':
    main()
