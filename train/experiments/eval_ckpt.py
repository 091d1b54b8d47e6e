"""PyTorch top-1 and estimated payload bytes of a checkpoint in every mode, on the 10,000 test images
(float weights, training's norm statistics; bytes = the symbols' cross-entropy under the learned
tables, no header or coder overhead): the numbers train/cifar.py prints after its last epoch, for any
checkpoint and either decoder's pixels, so that two checkpoints can be compared on the same footing.

    /usr/bin/python3 train/experiments/eval_ckpt.py --ckpt train/out/see-cifar10-d4/gpu.npz --pixels jsdec   # ~2 min (4x4 model)
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))   # train/
from loop import evaluate  # noqa: E402
from data import js_pixels, load  # noqa: E402
from model import BITS, G, load_checkpoint  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--ckpt', required=True)
    ap.add_argument('--pixels', choices=['pillow', 'jsdec'], default='jsdec',
                    help="test images as Pillow decodes them (what GPU training evaluates on) or as jpeg-js does (the engine's eval)")
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, info = load_checkpoint(a.ckpt)
    x, y = load('test')
    if a.pixels == 'jsdec':
        x = js_pixels('test', len(x))
    res = evaluate(model, torch.from_numpy(x), torch.from_numpy(y), [(n, b) for n in range(1, G + 1) for b in BITS])
    print(f'{a.ckpt}: {info.get("epochs")} epochs, {a.pixels} test pixels')
    for k, v in res.items():
        print(f'({k}) {100 * v["acc"]:.2f}% {v["bytes"]:.1f} B')


if __name__ == '__main__':
    main()
