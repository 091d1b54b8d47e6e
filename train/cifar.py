"""Train the slimsplit CIFAR-10 model: one set of weights for every (members, bits) mode.

    /usr/bin/python3 train/cifar.py --epochs 18 --out train/out/cifar    # ~75 min on 2 cores

Every sample in a batch gets its own mode (a per-sample sandwich rule: a quarter at the largest mode,
a quarter at the smallest, half at random), so all 16 modes train in one forward pass.
Loss = cross-entropy + lambda / (members x bits) * estimated bits (ramped in over the first 30% of steps).
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import load  # noqa: E402
from model import BITS, G, SlimSplit  # noqa: E402

MEAN = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
STD = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)


def to_input(xb_u8):
    return (xb_u8.permute(0, 3, 1, 2).float() / 255 - MEAN) / STD


def augment(x, gen):
    """Random crop (reflect pad 4) and horizontal flip, on a normalized batch."""
    B = x.shape[0]
    xp = F.pad(x, (4, 4, 4, 4), mode='reflect')
    ox = torch.randint(0, 9, (B,), generator=gen)
    oy = torch.randint(0, 9, (B,), generator=gen)
    out = torch.empty_like(x)
    for i in range(B):
        out[i] = xp[i, :, oy[i]:oy[i] + 32, ox[i]:ox[i] + 32]
    flip = torch.rand(B, generator=gen) < 0.5
    out[flip] = out[flip].flip(3)
    return out


def sample_modes(B, gen):
    members = torch.randint(1, G + 1, (B,), generator=gen)
    bits = torch.tensor(BITS)[torch.randint(0, len(BITS), (B,), generator=gen)]
    q = B // 4
    members[:q], bits[:q] = G, max(BITS)
    members[q:2 * q], bits[q:2 * q] = 1, min(BITS)
    return members, bits


def network_optimizer(model, lr, total_steps):
    """Nesterov SGD with weight decay on weights only (not norms, biases or the rate tables), one-cycle."""
    params = [p for n, p in model.named_parameters() if not n.startswith('rate.')]
    opt = torch.optim.SGD([{'params': [p for p in params if p.ndim > 1], 'weight_decay': 5e-4},
                           {'params': [p for p in params if p.ndim <= 1], 'weight_decay': 0}],
                          lr=lr, momentum=0.9, nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total_steps, pct_start=0.25,
                                                div_factor=10, final_div_factor=100)
    return opt, sched


@torch.no_grad()
def evaluate(model, x, y, modes, bs=500):
    model.eval()
    res = {}
    for (n, b) in modes:
        correct, bits_sum = 0, 0.0
        for i in range(0, len(x), bs):
            xb = to_input(x[i:i + bs])
            B = xb.shape[0]
            lg, ce, _ = model(xb, torch.full((B,), n), torch.full((B,), b))
            correct += (lg.argmax(1) == y[i:i + bs]).sum().item()
            bits_sum += ce.sum().item()
        res[f'{n},{b}'] = {'acc': correct / len(x), 'bytes': bits_sum / 8 / len(x)}
    model.train()
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--epochs', type=int, default=18)
    ap.add_argument('--bs', type=int, default=256)
    ap.add_argument('--lr', type=float, default=0.2)
    ap.add_argument('--lam', type=float, default=4e-4, help='loss weight per estimated bit at the (1 member, 1 bit) mode')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--limit', type=int, default=0, help='train on the first N images (smoke tests)')
    ap.add_argument('--out', default='train/out/cifar')
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    gen = torch.Generator().manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)

    xtr, ytr = load('train')
    xte, yte = load('test')
    xtr, ytr = torch.from_numpy(xtr), torch.from_numpy(ytr)
    xte, yte = torch.from_numpy(xte), torch.from_numpy(yte)
    if a.limit:
        xtr, ytr = xtr[:a.limit], ytr[:a.limit]
        xte, yte = xte[:a.limit // 4], yte[:a.limit // 4]

    model = SlimSplit()
    steps_per_epoch = len(xtr) // a.bs
    total = a.epochs * steps_per_epoch
    opt, sched = network_optimizer(model, a.lr, total)
    opt_rate = torch.optim.Adam(model.rate.parameters(), lr=1e-2)
    log = open(os.path.join(a.out, 'log.jsonl'), 'a')
    step = 0
    t0 = time.time()
    for ep in range(a.epochs):
        # Thread count can be changed between epochs (echo 2 > <out>/threads): OpenMP threads stall
        # badly when the machine is oversubscribed, so runs start on one and widen when it is free.
        tf = os.path.join(a.out, 'threads')
        if os.path.exists(tf):
            torch.set_num_threads(int(open(tf).read().strip()))
        perm = torch.randperm(len(xtr), generator=gen)
        model.train()
        tl, tc, tb, tn = 0.0, 0, 0.0, 0
        for i in range(steps_per_epoch):
            idx = perm[i * a.bs:(i + 1) * a.bs]
            xb = augment(to_input(xtr[idx]), gen)
            yb = ytr[idx]
            members, bits = sample_modes(len(idx), gen)
            logits, ce_bits, soft_bits = model(xb, members, bits)
            lam = a.lam * min(1.0, step / (0.3 * total))
            task = F.cross_entropy(logits, yb, label_smoothing=0.05)
            n_sym = 256.0 * 8 * members.float()
            # The rate weight is per raw bit of the mode (members x bits): every mode pays about the same
            # for sending the same fraction of its raw size, so the 8-bit modes (tens of thousands of bits)
            # cannot drown the task loss and the 1-bit modes still feel the pressure to be small.
            lam_mode = lam / (members.float() * bits.float())
            loss = task + (lam_mode * soft_bits).mean() + (ce_bits / n_sym).mean()
            opt.zero_grad(set_to_none=True)
            opt_rate.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            opt_rate.step()
            sched.step()
            step += 1
            tl += task.item() * len(idx)
            tc += (logits.argmax(1) == yb).sum().item()
            tb += ce_bits.sum().item() / 8
            tn += len(idx)
            if i % 50 == 0:
                print(f'ep {ep} it {i}/{steps_per_epoch} loss {tl / tn:.3f} acc {tc / tn:.3f} B/img {tb / tn:.1f} '
                      f'lam {lam:.1e} {time.time() - t0:.0f}s', flush=True)
        last = ep == a.epochs - 1
        modes = [(n, b) for n in range(1, G + 1) for b in BITS] if last else [(1, 1), (4, 8)]
        ev = evaluate(model, xte, yte, modes) if last or ep % 3 == 2 else {}
        rec = {'epoch': ep, 'train_loss': tl / tn, 'train_acc': tc / tn, 'train_bytes': tb / tn,
               'time_s': time.time() - t0, 'test': ev}
        print(json.dumps(rec), flush=True)
        log.write(json.dumps(rec) + '\n')
        log.flush()
        torch.save({'model': model.state_dict(), 'epoch': ep, 'args': vars(a)}, os.path.join(a.out, 'model.pt'))
    print('done', time.time() - t0, flush=True)


if __name__ == '__main__':
    main()
