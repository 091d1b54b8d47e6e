"""The training loop every trainer in train/ shares, and the pieces around it.

    from loop import loop_args, prepare, train_loop
    a = ap.parse_args()                       # after loop_args(ap, out='train/out/x', seed=0)
    dev, gen, ckpt, (xtr, ytr, xte, yte) = prepare(a)
    train_loop(a, model, len(xtr), opt, step, gen=gen, dev=dev, ckpt=ckpt, evaluate_at=...)

A trainer (cifar.py, refine.py, finetune_server.py, jpeg_baseline.py) supplies its model, its
optimizer and one function `step(idx, p)` that trains on the index batch idx at run progress p and
returns a `Batch` (task loss, student logits, labels, and the estimated bits where there are any).
The loop owns everything else: the epoch's permutation, the one-cycle learning rate, the time or
epoch budget, the running figures printed every 50 steps, the evaluation callback, the log line and
the checkpoint written after every epoch.

The order in which random numbers are drawn is part of the recipe: the permutation comes from the
CPU generator `gen` at the start of each epoch, and everything a step draws comes from the same
generator, so a run on the CPU with one thread is repeatable to the bit.
"""
import json
import math
import os
import time
from dataclasses import dataclass
from typing import Callable, Dict, Optional

import torch
import torch.nn.functional as F

from data import load_data, to_input
from model import BITS, G, save_checkpoint

LOG_EVERY = 50   # steps between printed figures; .item() syncs a GPU, so not on every step


def loop_args(ap, out, seed, pixels=('pillow', 'jsdec', 'both'), **defaults):
    """The options every trainer has (schedule, batch, threads, device, data, output)."""
    ap.add_argument('--epochs', type=int, default=12)
    ap.add_argument('--budget-s', type=float, default=0, help='train for this many seconds instead of --epochs')
    ap.add_argument('--bs', type=int, default=256)
    ap.add_argument('--lr', type=float, default=0.2, help='one-cycle peak learning rate')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--seed', type=int, default=seed)
    ap.add_argument('--limit', type=int, default=0, help='train on N random images (smoke tests)')
    ap.add_argument('--out', default=out)
    ap.add_argument('--ckpt', default='', help='checkpoint path (default <out>/model.npz)')
    ap.add_argument('--pixels', choices=list(pixels), default=pixels[0],
                    help="training images as Pillow decodes them, as the engine's jpeg-js decodes them"
                         + (", or each sample either way at random" if 'both' in pixels else ''))
    ap.set_defaults(**defaults)


def prepare(a):
    """Seeds, threads, device flags and output folder, then the data (--limit applied) on the device.
    Returns (device, CPU generator, checkpoint path, (xtr, ytr, xte, yte)). The global torch seed is
    set before the caller builds its model, so a fresh model's initial weights follow --seed."""
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    if a.device.startswith('cuda'):
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    os.makedirs(a.out, exist_ok=True)
    dev = torch.device(a.device)
    data = tuple(torch.from_numpy(t).to(dev) for t in load_data(a.pixels, a.limit, a.seed))
    return dev, torch.Generator().manual_seed(a.seed), a.ckpt or os.path.join(a.out, 'model.npz'), data


def augment(x, gen):
    """Random crop (reflect pad 4) and horizontal flip of a normalized batch, without a per-image loop.
    Random numbers come from a CPU generator (same stream on any device)."""
    B = x.shape[0]
    dev = x.device
    xp = F.pad(x, (4, 4, 4, 4), mode='reflect')
    ox = torch.randint(0, 9, (B,), generator=gen).to(dev)
    oy = torch.randint(0, 9, (B,), generator=gen).to(dev)
    flip = (torch.rand(B, generator=gen) < 0.5).to(dev)
    ar = torch.arange(32, device=dev)
    cols = torch.where(flip.view(B, 1), 31 - ar.view(1, 32), ar.view(1, 32)) + ox.view(B, 1)   # [B, 32]
    rows = ar.view(1, 32) + oy.view(B, 1)
    bi = torch.arange(B, device=dev).view(B, 1, 1)
    out = xp.permute(0, 2, 3, 1)[bi, rows.view(B, 32, 1), cols.view(B, 1, 32)]                # [B, 32, 32, 3]
    return out.permute(0, 3, 1, 2).contiguous()


def sample_modes(B, gen, top=True):
    """Per-sample modes: a quarter at the largest (unless top=False), a quarter at the smallest, the rest random."""
    members = torch.randint(1, G + 1, (B,), generator=gen)
    bits = torch.tensor(BITS)[torch.randint(0, len(BITS), (B,), generator=gen)]
    q = B // 4
    if top:
        members[:q], bits[:q] = G, max(BITS)
    members[q:2 * q], bits[q:2 * q] = 1, min(BITS)
    return members, bits


ALL_MODES = [(n, b) for n in range(1, G + 1) for b in BITS]


def network_optimizer(model, lr):
    """Nesterov SGD with weight decay on weights only (not norms, biases or the rate tables)."""
    params = [p for n, p in model.named_parameters() if not n.startswith('rate.') and n != 'qlog']
    return torch.optim.SGD([{'params': [p for p in params if p.ndim > 1], 'weight_decay': 5e-4},
                            {'params': [p for p in params if p.ndim <= 1], 'weight_decay': 0}],
                           lr=lr, momentum=0.9, nesterov=True)


def one_cycle(p, peak, warm=0.25, div=10.0, final_div=100.0):
    """Learning rate at progress p in [0, 1]: cosine up from peak/div, then cosine down to peak/div/final_div."""
    p = min(max(p, 0.0), 1.0)
    lo, end = peak / div, peak / div / final_div
    if p < warm:
        return lo + (peak - lo) * (1 - math.cos(math.pi * p / warm)) / 2
    return end + (peak - end) * (1 + math.cos(math.pi * (p - warm) / (1 - warm))) / 2


class Progress:
    """Run progress in [0, 1] by steps (epochs given) or by wall time (budget given). A GPU machine is
    lent for minutes, so there the schedule is fitted to the time rather than to a guessed epoch
    count; the epochs a run reached are stored in its checkpoint."""

    def __init__(self, total_steps=0, budget_s=0.0):
        self.total, self.budget, self.t0, self.step = total_steps, budget_s, time.time(), 0

    def p(self):
        if self.budget:
            return (time.time() - self.t0) / self.budget
        return self.step / self.total

    def done(self):
        return self.p() >= 1.0

    def batches(self, perm, bs, opt, peak):
        """One epoch's index batches, (i, idx, p), with the one-cycle learning rate set for each;
        stops early when the run is done."""
        for i in range(len(perm) // bs):
            p = self.p()
            if p >= 1.0:
                return
            for g in opt.param_groups:
                g['lr'] = one_cycle(p, peak)
            yield i, perm[i * bs:(i + 1) * bs], p


@torch.no_grad()
def evaluate(model, x, y, modes, bs=1000):
    """x uint8 [N,32,32,3] and y on the model's device. {"n,b": {acc, bytes}} with bytes = mean
    cross-entropy of the symbols under the learned tables (no header, no coder overhead)."""
    model.eval()
    res = {}
    for (n, b) in modes:
        correct, bits_sum = 0, 0.0
        for i in range(0, len(x), bs):
            xb = to_input(x[i:i + bs])
            B = xb.shape[0]
            lg, ce, _ = model(xb, torch.full((B,), n, device=xb.device), torch.full((B,), b, device=xb.device))
            correct += (lg.argmax(1) == y[i:i + bs]).sum().item()
            bits_sum += ce.sum().item()
        res[f'{n},{b}'] = {'acc': correct / len(x), 'bytes': bits_sum / 8 / len(x)}
    model.train()
    return res


class FrozenMembers:
    """The first K members' rows of the given tensors (encoder and rate tensors are laid out member by
    member on their first axis), put back by restore() after each step: that also undoes weight decay,
    momentum and the norms' running statistics on them."""

    def __init__(self, named_tensors, K):
        self.keep = [(t, t.shape[0] // G * K) for _, t in named_tensors if t.dim() > 0]
        self.keep = [(t, rows, t.detach()[:rows].clone()) for t, rows in self.keep]

    @torch.no_grad()
    def restore(self):
        for t, rows, keep in self.keep:
            t[:rows] = keep


@dataclass
class Batch:
    """What a step reports: its task loss, the logits and labels of the B training samples, and the
    estimated bits of those samples' codes (None where the model sends none)."""
    loss: torch.Tensor
    logits: torch.Tensor
    labels: torch.Tensor
    bits: Optional[torch.Tensor] = None


class Meter:
    """Running figures over the logged steps (every LOG_EVERY-th): mean task loss, accuracy, bytes."""

    def __init__(self):
        self.loss, self.correct, self.bytes, self.n = 0.0, 0, 0.0, 0

    def add(self, b: Batch):
        B = len(b.labels)
        self.loss += b.loss.item() * B
        self.correct += (b.logits.argmax(1) == b.labels).sum().item()
        if b.bits is not None:
            self.bytes += b.bits[-B:].sum().item() / 8
        self.n += B

    def record(self, with_bytes):
        n = max(self.n, 1)
        return {'train_loss': self.loss / n, 'train_acc': self.correct / n,
                **({'train_bytes': self.bytes / n} if with_bytes else {})}


def end_epoch(log, ckpt, model, rec, args):
    """Prints and logs an epoch's record and saves the checkpoint with it."""
    print(json.dumps(rec), flush=True)
    log.write(json.dumps(rec) + '\n')
    log.flush()
    save_checkpoint(ckpt, model, epochs=rec['epoch'] + 1, steps=rec['steps'], args=args, test=rec['test'], time_s=rec['time_s'])


def train_loop(a, model, n_train, opt, step: Callable[[torch.Tensor, float], Batch], *, gen, dev, ckpt,
               evaluate_at: Callable[[int, bool], Dict] = lambda ep, last: {},
               set_modes: Optional[Callable[[], None]] = None, with_bytes=True,
               status: Callable[[float], str] = lambda p: '', record: Callable[[], Dict] = lambda: {}):
    """Epochs until the budget (--epochs or --budget-s) is spent. Per epoch: a permutation from gen,
    set_modes() (default model.train(); a trainer that keeps norms at their loaded statistics passes
    its own), step(idx, p) per batch, evaluate_at(epoch, last) -> {"n,b": {acc, bytes}}, then the
    log line and the checkpoint. status(p) adds a trainer's own figures to the printed line, record()
    to the logged one. Returns the Progress (steps done) and the number of epochs run."""
    steps_per_epoch = n_train // a.bs
    prog = Progress(a.epochs * steps_per_epoch, a.budget_s)
    log = open(os.path.join(a.out, 'log.jsonl'), 'a')
    t0 = time.time()
    ep = 0
    while not prog.done():
        # The thread count can be changed between epochs (echo 2 > <out>/threads): OpenMP threads stall
        # badly when the machine is oversubscribed, so a run can start on one and widen when it is free.
        tf = os.path.join(a.out, 'threads')
        if os.path.exists(tf):
            torch.set_num_threads(int(open(tf).read().strip()))
        perm = torch.randperm(n_train, generator=gen).to(dev)
        (set_modes or model.train)()
        meter = Meter()
        for i, idx, p in prog.batches(perm, a.bs, opt, a.lr):
            b = step(idx, p)
            prog.step += 1
            if i % LOG_EVERY == 0:
                meter.add(b)
                r = meter.record(with_bytes and b.bits is not None)
                print(f'ep {ep} it {i}/{steps_per_epoch} loss {r["train_loss"]:.3f} acc {r["train_acc"]:.3f}'
                      + (f' B/img {r["train_bytes"]:.1f}' if 'train_bytes' in r else '')
                      + f' lr {one_cycle(p, a.lr):.4f} p {p:.3f}{status(p)} {time.time() - t0:.0f}s', flush=True)
        last = prog.done()
        ev = evaluate_at(ep, last)
        rec = {'epoch': ep, **meter.record(with_bytes), 'time_s': time.time() - t0, 'steps': prog.step,
               'test': ev, **record()}
        end_epoch(log, ckpt, model, rec, vars(a))
        ep += 1
    print('done', time.time() - t0, flush=True)
    return prog, ep
