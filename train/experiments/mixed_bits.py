"""Would mixing bit depths across a member's channels beat the uniform modes? (a measurement, not shipped)

    /usr/bin/python3 train/experiments/mixed_bits.py --ckpt <16x16 model>.npz

PyTorch top-1 of the (1 member) modes on the test images as jpeg-js decodes them, with one channel
at 2 bits and the others at 1, and one at 1 bit and the others at 2 (members-1 norm statistics).
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))   # train/
from data import js_pixels, load, to_input  # noqa: E402
from export_cifar import fake_quantize_weights, recalibrated  # noqa: E402
from model import decoder_input, load_checkpoint, member_mask  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--ckpt', required=True, help='a trained 16x16 split model (.npz)')
    args = ap.parse_args()
    torch.set_num_threads(1)
    model, _ = load_checkpoint(args.ckpt)
    fake_quantize_weights(model); model.eval()
    xtr, _ = load('train'); xte, yte = load('test')
    xjs = js_pixels('test', len(xte))
    cal = xtr[np.random.default_rng(0).choice(len(xtr), 10000, replace=False)]
    d1 = recalibrated(model, 1, cal)
    with torch.no_grad():
        z = torch.cat([model.enc(to_input(torch.from_numpy(xjs[i:i+1000]))) for i in range(0, 10000, 1000)])
        mask = member_mask(torch.ones(10000, dtype=torch.long), z.device, model.cfg['cm'])
        def acc(bits_per_ch):
            L = torch.tensor([2 ** b - 1 for b in bits_per_ch] + [1] * (z.shape[1] - len(bits_per_ch)), dtype=z.dtype).view(1, -1, 1, 1)
            deq = torch.round(z * L) / L
            lg = torch.cat([d1.dec(decoder_input(deq[i:i+1000], mask[i:i+1000])) for i in range(0, 10000, 1000)])
            return (lg.argmax(1).numpy() == yte).mean()
        print('all 1', acc([1,1,1,1]), 'all 2', acc([2,2,2,2]), flush=True)
        for c in range(4):
            b = [1]*4; b[c] = 2
            print('ch', c, '2 bits:', acc(b), flush=True)
        for c in range(4):
            b = [2]*4; b[c] = 1
            print('ch', c, '1 bit, rest 2:', acc(b), flush=True)


if __name__ == '__main__':
    main()
