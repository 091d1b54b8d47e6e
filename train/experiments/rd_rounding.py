"""Rate-distortion rounding at the encoder: would rounding some values to a cheaper neighbouring level
(a trellis-quantization-style dead zone, decoder unchanged) give better operating points than the
4x4 model's modes? (a measurement, not shipped; docs/EXPERIMENTS.md)

    /usr/bin/python3 train/experiments/rd_rounding.py 8,4,1 0,0.05,0.1,0.2,0.4 --ckpt <4x4 model>.npz   # ~5 min, one thread

Each value goes to floor or ceil of z / step, whichever costs less in (pos - s)^2 + mu * bits_c(s),
with bits_c the per-channel static cost of each level on 20,000 training images (round to nearest),
i.e. up when its fraction exceeds 0.5 + mu * (bits_c(k+1) - bits_c(k)) / 2. Prints PyTorch top-1
(training norm statistics) on the 10,000 test images as jpeg-js decodes them, and the payload bytes
(test-set cross-entropy under the export's diagonal contexts, counted on the training codes rounded
the same way; no header) per members count.
"""
import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))   # train/
from coder_context import cross_entropy  # noqa: E402  (train/experiments/, first on sys.path)
from data import js_pixels, load, to_input  # noqa: E402
from export_cifar import DIAG, contexts  # noqa: E402
from model import G, decoder_input, load_checkpoint, member_mask  # noqa: E402

NTR = 20000   # training codes the level costs and context tables are counted on


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('bits', help='bit depths, e.g. 8,4,1')
    ap.add_argument('mus', help='rate weights mu, e.g. 0,0.05,0.1')
    ap.add_argument('--ckpt', default='train/out/see-cifar10-d4/gpu.npz', help='the 4x4 model (.npz)')
    a = ap.parse_args()
    torch.set_num_threads(1)
    model, _ = load_checkpoint(a.ckpt)
    model.eval()
    cm = model.cfg['cm']
    xtr, _ = load('train')
    xtr = js_pixels('train', len(xtr))[:NTR]
    xte, yte = load('test')
    xte = js_pixels('test', len(xte))
    yte = torch.from_numpy(yte)

    def enc(x, bs=1000):
        out = []
        with torch.no_grad():
            for i in range(0, len(x), bs):
                out.append(model.enc(to_input(torch.from_numpy(x[i:i+bs]))))
        return torch.cat(out)
    t = time.time(); ztr, zte = enc(xtr), enc(xte); print('enc', time.time() - t, flush=True)
    def step(b):
        s = model.step_of(b)
        return float(s) if s is not None else 1.0 / (2 ** b - 1)
    def q(z, b, thr=None):
        s = np.float32(step(b))
        pos = (z / torch.tensor(s)).numpy()
        if thr is None:
            return np.round(pos).astype(np.int64)
        lo = np.floor(pos).astype(np.int64); fr = pos - lo
        Lm = thr.shape[1]
        lo_c = np.clip(lo, 0, Lm - 1)
        C = pos.shape[1]
        t = thr[np.arange(C)[None, :, None, None], lo_c]
        return lo + (fr > t)
    def ce(tr, te, K):
        L = int(max(tr.max(), te.max())) + 1
        ctr, cte = contexts(tr, K, 0, DIAG), contexts(te, K, 0, DIAG)
        nctx = K ** 4
        per = np.array([cross_entropy(tr[:, c:c + 1], te[:, c:c + 1], ctr[:, c:c + 1], cte[:, c:c + 1], nctx, L)
                        for c in range(tr.shape[1])])
        return per / 8 / len(te)   # bytes per image per channel
    def acc(sym, b, n, bs=2000):
        s = step(b); correct = 0
        with torch.no_grad():
            for i in range(0, len(sym), bs):
                deq = torch.from_numpy(sym[i:i+bs]).float() * s
                mask = member_mask(torch.full((deq.shape[0],), n), 'cpu', cm)
                lg = model.dec(decoder_input(deq, mask))
                correct += (lg.argmax(1) == yte[i:i+bs]).sum().item()
        return correct / len(sym)
    for b in [int(v) for v in a.bits.split(',')]:
        K = 2 if b <= 2 else 3
        base_tr = q(ztr, b)
        L = int(base_tr.max()) + 1
        cnt = np.stack([np.bincount(base_tr[:, c].ravel(), minlength=L) for c in range(base_tr.shape[1])]) + 0.5
        bits = -np.log2(cnt / cnt.sum(1, keepdims=True))    # [C, L]
        print(f'bits {b}: levels {L}, marginal p per level (mean over channels) {np.round((cnt / cnt.sum(1, keepdims=True)).mean(0), 3)}', flush=True)
        for mu in [float(v) for v in a.mus.split(',')]:
            thr = np.clip(0.5 + mu * (bits[:, 1:] - bits[:, :-1]) / 2, 0, 1) if mu > 0 else None
            tr, te = q(ztr, b, thr), q(zte, b, thr)
            per = ce(tr, te, K)
            row = []
            for n in range(1, G + 1):
                row.append(f'({n},{b}) {100 * acc(te, b, n):.2f}% {per[:n * cm].sum():.1f} B')
            print(f'  mu {mu}: ' + ' | '.join(row), flush=True)


if __name__ == '__main__':
    main()
