"""The measurements behind two export choices (docs/EXPERIMENTS.md), on the test set as jpeg-js
decodes it (what the engine's evaluation sees), in PyTorch:

    /usr/bin/python3 train/experiments/export_choices.py --ckpt train/out/see-cifar10/finetune.npz   # ~5 min on 2 cores

1. Decoder norm statistics: training's running averages against statistics re-estimated with one member
   (all bit depths, or 1 bit only) on 10,000 training images, float weights.
2. int8 weights: every weight of >= 4,096 values rounded, against the bottleneck's last conv kept float32.
   (The 8x8 model ships with int8 everywhere: train/export_cifar.py --f32 "".)
"""
import argparse
import copy
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))   # train/
from loop import evaluate  # noqa: E402
from data import js_pixels, load  # noqa: E402
from export_cifar import F32_WEIGHTS, fake_quantize_weights, recalibrated  # noqa: E402
from model import load_checkpoint  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--ckpt', default='train/out/ftjs/model.npz')
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, info = load_checkpoint(a.ckpt)
    model.eval()
    xtr, _ = load('train')
    xte, yte = load('test')
    xjs, y = torch.from_numpy(js_pixels('test', len(xte))), torch.from_numpy(yte)
    pixels = (info.get('args') or {}).get('pixels', 'pillow')
    tr = js_pixels('train', len(xtr)) if pixels != 'pillow' else xtr
    cal = tr[np.random.default_rng(0).choice(len(tr), 10000, replace=False)]

    def show(label, m, modes):
        m.eval()   # evaluate() leaves the model in train mode
        res = evaluate(m, xjs, y, modes)
        m.eval()
        print(f'{label:48s} ' + '  '.join(f'({k}) {100 * v["acc"]:.2f}%' for k, v in res.items()), flush=True)

    show('float, training norm statistics', model, [(1, 1), (1, 2), (2, 8)])
    show('float, re-estimated for 1 member', recalibrated(model, 1, cal), [(1, 1), (1, 2)])
    show('float, re-estimated for 1 member at 1 bit', recalibrated(model, 1, cal, bits_from=(1,)), [(1, 1)])
    show('float, re-estimated for 2 members', recalibrated(model, 2, cal), [(2, 8)])
    for label, f32 in (('int8 everywhere', ()), (f'int8 except {", ".join(F32_WEIGHTS)} (the 16x16 export)', F32_WEIGHTS)):
        q = copy.deepcopy(model)
        fake_quantize_weights(q, f32)
        show(label + ', training norm', q, [(1, 1)])


if __name__ == '__main__':
    main()
