"""How much context modelling saves over per-channel static tables (a measurement, not part of the
pipeline; the coder uses left + up + previous-channel contexts, assembly/rans.ts rans_encode_ctx).

    /usr/bin/python3 train/experiments/coder_context.py --ckpt <model>.npz [--sweep | --members]

For the (1 member, b bits) modes: cross-entropy of the 10,000 test images' codes under per-channel
tables counted on 20,000 training images, against tables conditioned on each symbol's left and upper
neighbours, and on the shipped contexts (left, up, previous channel; train/export_cifar.py CONTEXTS).
Results: docs/EXPERIMENTS.md and docs/MODELS.md. --members: every member at
every bit depth instead (members_sweep; the 4x4 model's 4- and 8-bit context choice).
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))   # train/
from data import to_input  # noqa: E402
from data import load  # noqa: E402
from model import BITS, load_checkpoint  # noqa: E402
from export_cifar import CONTEXTS, DIAG, contexts  # noqa: E402


def codes(model, x, b, bs=1000):
    out = []
    with torch.no_grad():
        for i in range(0, len(x), bs):
            z = model.enc(to_input(torch.from_numpy(x[i:i + bs])))
            out.append(model.quantize(z, torch.full((z.shape[0],), b))[1].numpy())
    return np.concatenate(out)  # [N, C, H, W]


def cross_entropy(tr, te, ctr, cte, nctx, L):
    """Bits of te's symbols under per-(channel, context) counts from tr (+0.5 each)."""
    bits = 0.0
    for c in range(tr.shape[1]):
        q = np.bincount((ctr[:, c] * L + tr[:, c]).ravel(), minlength=nctx * L).reshape(nctx, L) + 0.5
        bits += -np.log2((q / q.sum(1, keepdims=True))[cte[:, c], te[:, c]]).sum()
    return bits


def left_up(a, L):
    left = np.zeros_like(a)
    left[:, :, :, 1:] = a[:, :, :, :-1]
    up = np.zeros_like(a)
    up[:, :, 1:, :] = a[:, :, :-1, :]
    return left * L + up


def richer(tr, te):
    """(name, [(feature on tr, feature on te)]) for context sets beyond the shipped one."""
    def shifted(a, dc, dy, dx):
        out = np.zeros_like(a)
        C, H, W = a.shape[1:]
        out[:, dc:, dy:, max(dx, 0):W + min(dx, 0)] = a[:, :C - dc, :H - dy, max(-dx, 0):W - max(dx, 0)]
        return out
    feats = {'left': (0, 0, 1), 'up': (0, 1, 0), 'up-left': (0, 1, 1), 'up-right': (0, 1, -1),
             'prev1': (1, 0, 0), 'prev2': (2, 0, 0), 'prev3': (3, 0, 0)}
    pick = lambda names: [(shifted(tr, *feats[k]), shifted(te, *feats[k])) for k in names]
    return [('left, up, up-left, up-right', pick(['left', 'up', 'up-left', 'up-right'])),
            ('left, up, 3 previous channels', pick(['left', 'up', 'prev1', 'prev2', 'prev3'])),
            ('left, up, up-left, up-right, 3 previous channels', pick(['left', 'up', 'up-left', 'up-right', 'prev1', 'prev2', 'prev3']))]


def members_sweep(model, xtr, xte, cm):
    """Every member's test-set bytes per image at each bit depth (codes of the all-members mode, which
    are each member's own): per-channel tables, the diagonal neighbours at K = 3 and 4, and K = 3 plus
    the same position of one channel of an earlier member (per channel the one that predicts best on
    the training images), i.e. what coding a member conditioned on the members before it could save."""
    n = len(xte)
    for b in BITS:
        tr, te = codes(model, xtr, b), codes(model, xte, b)
        L = int(max(tr.max(), te.max())) + 1  # the levels in use (a learned step sends few)
        print(f'bits {b}: {L} levels in use; bytes per image per member', flush=True)
        k3tr, k3te = contexts(tr, 3, 0, DIAG), contexts(te, 3, 0, DIAG)
        k4tr, k4te = contexts(tr, 4, 0, DIAG), contexts(te, 4, 0, DIAG)
        z = (np.zeros_like(tr), np.zeros_like(te))
        for m in range(tr.shape[1] // cm):
            row = {'static': 0.0, 'diag K3': 0.0, 'diag K4': 0.0, 'diag K3 + earlier member': 0.0}
            for c in range(m * cm, (m + 1) * cm):
                one = lambda ca, cb, nc: cross_entropy(tr[:, c:c + 1], te[:, c:c + 1], ca[:, c:c + 1], cb[:, c:c + 1], nc, L)
                row['static'] += one(*z, 1)
                row['diag K3'] += one(k3tr, k3te, 81)
                row['diag K4'] += one(k4tr, k4te, 256)
                if m == 0:
                    row['diag K3 + earlier member'] = float('nan')
                    continue
                pick = lambda r, a, ca: ca[:, c:c + 1] * L + a[:, r:r + 1]
                r = min(range(m * cm), key=lambda r: cross_entropy(tr[:, c:c + 1], tr[:, c:c + 1], pick(r, tr, k3tr), pick(r, tr, k3tr), 81 * L, L))
                row['diag K3 + earlier member'] += cross_entropy(tr[:, c:c + 1], te[:, c:c + 1], pick(r, tr, k3tr), pick(r, te, k3te), 81 * L, L)
            print(f'  member {m + 1}: ' + ', '.join(f'{k} {v / 8 / n:.2f}' for k, v in row.items()), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--ckpt', required=True, help='a trained split model (.npz)')
    ap.add_argument('--train-images', type=int, default=20000)
    ap.add_argument('--sweep', action='store_true', help='also richer contexts (diagonals, more channels) at 1 and 2 bits')
    ap.add_argument('--members', action='store_true', help='instead: per member and bit depth, the diagonal contexts at '
                    'K = 3 and 4 and conditioning on an earlier member (members_sweep)')
    a = ap.parse_args()
    torch.set_num_threads(1)
    model, _ = load_checkpoint(a.ckpt)
    model.eval()
    cm = model.cfg['cm']
    xtr, _ = load('train')
    xte, _ = load('test')
    n = len(xte)
    if a.members:
        return members_sweep(model, xtr[:a.train_images], xte, cm)
    for b in (1, 2, 4):
        L = 2 ** b
        tr, te = codes(model, xtr[:a.train_images], b)[:, :cm], codes(model, xte, b)[:, :cm]  # mode (1, b)
        zero = np.zeros_like(tr), np.zeros_like(te)
        static = cross_entropy(tr, te, *zero, 1, L)
        row = f'members 1, bits {b}: static tables {static / 8 / n:.1f} B/image'
        if L <= 4:
            lu = cross_entropy(tr, te, left_up(tr, L), left_up(te, L), L * L, L)
            row += f', left+up {lu / 8 / n:.1f} ({100 * (1 - lu / static):.1f}% less)'
        K, shift, _ = CONTEXTS[b]   # the default (left, up, previous channel) neighbours
        shipped = cross_entropy(tr, te, contexts(tr, K, shift), contexts(te, K, shift), K ** 3, L)
        row += f', shipped left+up+previous channel (K {K}, shift {shift}) {shipped / 8 / n:.1f} ({100 * (1 - shipped / static):.1f}% less)'
        print(row, flush=True)
        if b == 4:
            # Fewer, coarser contexts at 4 bits: 8 tables per channel instead of 64 (a smaller blob)
            K, shift = 2, 3
            small = cross_entropy(tr, te, contexts(tr, K, shift), contexts(te, K, shift), K ** 3, L)
            print(f'  K {K}, shift {shift}: {small / 8 / n:.1f} B/image ({100 * (1 - small / static):.1f}% less than static)', flush=True)
        if a.sweep and L <= 4:
            for name, fs in richer(tr, te):
                ctr, cte = np.zeros_like(tr), np.zeros_like(te)
                for f_tr, f_te in fs:
                    ctr, cte = ctr * L + f_tr, cte * L + f_te
                bits = cross_entropy(tr, te, ctr, cte, L ** len(fs), L)
                print(f'  {name}: {L ** len(fs)} contexts per channel, {bits / 8 / n:.1f} B/image ({100 * (1 - bits / static):.1f}% less)', flush=True)


if __name__ == '__main__':
    main()
