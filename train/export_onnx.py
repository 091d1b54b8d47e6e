"""ONNX files for `slimsplit import`'s tests (test/import/onnx.test.ts), exported with Debian's torch.

    /usr/bin/python3 train/export_onnx.py                 # build/onnx/mobilenet_v2.onnx, resnet18.onnx
    /usr/bin/python3 train/export_onnx.py --tiny test/fixtures/onnx   # the small committed fixtures

torchvision's mobilenet_v2() and resnet18() with random weights from a fixed seed (nothing is
downloaded: the architecture is what the import is checked on), in eval mode, exported at opset 13
with constant folding (so BatchNorm is folded into the convs, as a user's export would be). Beside
each model: `<name>.torch.json`, torch's own outputs on inputs the TypeScript tests regenerate from
a seed (train/common_export.py randn_like_ts == test/util.ts randn), a third opinion next to
onnxruntime's.

--tiny writes two small networks (a few kB) that hold every op the importer maps: a torchvision-style
stem (conv + BN + ReLU, 3x3/2 max pool with padding 1), a ReLU6 inverted residual with a depthwise
conv, an unfolded BatchNorm (tiny-bn.onnx, exported without constant folding), GAP, Flatten and Gemm.
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
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)
    if args.tiny:
        for name, fold in (('tiny', True), ('tiny-bn', False)):
            torch.manual_seed(SEED)
            m = Tiny()
            randomize_bn(m, torch.Generator().manual_seed(SEED), 32)
            export(m, name, args.out, 32, fold)
        return
    import torchvision
    for name, ctor in (('mobilenet_v2', torchvision.models.mobilenet_v2), ('resnet18', torchvision.models.resnet18)):
        torch.manual_seed(SEED)
        m = ctor(weights=None)
        randomize_bn(m, torch.Generator().manual_seed(SEED), 224)
        export(m, name, args.out, 224)


if __name__ == '__main__':
    main()
