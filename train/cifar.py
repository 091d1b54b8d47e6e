"""Train the slimsplit CIFAR-10 model: one set of weights for every (members, bits) mode.

    /usr/bin/python3 train/cifar.py --budget-s 5400 --threads 1 --out train/out/cpu   # CPU: 90 min, one core
    python3 train/cifar.py --device cuda --epochs 104 --bs 512 --lr 0.4 --kd 0.7       # GPU: the shipped run (train/gpu.sh)
    ... --init train/out/gpu/D2.npz --lr 0.004 ...                                      # fine-tune a finished run

Defaults are the shipped architecture (4 bottleneck channels per member, a 96/160/192 server side).

Every sample in a batch gets its own mode (a per-sample sandwich rule: a quarter at the largest mode,
a quarter at the smallest, half at random), so all 16 modes train in one forward pass.
Loss = cross-entropy + lambda / (members x bits)^rate_pow * estimated bits (ramped in over the first 30%).

The learning rate follows a one-cycle curve over the run's progress p in [0, 1]: p is steps done /
steps planned with --epochs, or seconds spent / --budget-s with a time budget (the GPU machine is lent
for minutes, so there the schedule is fitted to the time rather than to a guessed epoch count; the
epochs it reached are stored in the checkpoint).
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
from data import js_pixels, load  # noqa: E402
from model import BITS, G, SlimSplit, load_checkpoint, save_checkpoint  # noqa: E402

MEAN = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
STD = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)


def to_input(xb_u8):
    x = xb_u8.permute(0, 3, 1, 2).float() / 255
    return (x - MEAN.to(x.device)) / STD.to(x.device)


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
    """Run progress in [0, 1] by steps (epochs given) or by wall time (budget given)."""

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


def common_args(ap, out, seed):
    ap.add_argument('--epochs', type=int, default=12)
    ap.add_argument('--budget-s', type=float, default=0, help='train for this many seconds instead of --epochs')
    ap.add_argument('--bs', type=int, default=256)
    ap.add_argument('--lr', type=float, default=0.2)
    ap.add_argument('--dec', default='96,160,192', help='decoder widths at 16x16, 8x8, 4x4')
    ap.add_argument('--cm', type=int, default=4, help='bottleneck channels per member')
    ap.add_argument('--enc', choices=['s16', 'd8', 'd4'], default='s16',
                    help='encoder: split at 16x16 after two convs (s16), at 8x8 after four (d8; --dec then has two widths) '
                         'or at 4x4 after six (d4; --dec has one width, three blocks at 4x4)')
    ap.add_argument('--c4', type=int, default=128, help='d4: per-member channels of the 4x4 encoder convs')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--seed', type=int, default=seed)
    ap.add_argument('--limit', type=int, default=0, help='train on the first N images (smoke tests)')
    ap.add_argument('--out', default=out)
    ap.add_argument('--ckpt', default='', help='checkpoint path (default <out>/model.npz)')
    ap.add_argument('--pixels', choices=['pillow', 'jsdec', 'both'], default='pillow',
                    help="training images as Pillow decodes them, as the engine's jpeg-js decodes them, or each "
                         "sample either way at random")
    ap.add_argument('--quick-eval', action='store_true', help='evaluate only (1,1) and (4,8) at the end (CPU runs)')
    ap.add_argument('--init', default='', help='start from this checkpoint (.npz; its widths must match --cm/--dec)')


def load_data(pixels='pillow', limit=0, seed=0):
    """(xtr, ytr, xte, yte) as numpy: training images as Pillow decodes them, as jpeg-js does
    ('jsdec'), or both per image ('both': [N, 2, 32, 32, 3]); test images on jpeg-js pixels unless
    'pillow'. limit: a fixed random subset of limit training and limit / 4 test images."""
    xtr, ytr = load('train')
    xte, yte = load('test')
    if pixels != 'pillow':
        # The engine's evaluation sees jpeg-js pixels (train/data.py js_pixels); test on them as well.
        xjs = js_pixels('train', len(xtr))
        xtr = xjs if pixels == 'jsdec' else np.stack([xtr, xjs], 1)
        xte = js_pixels('test', len(xte))
    if limit:
        # The caches are sorted by class: a prefix would be one class (and train-mode BatchNorm on
        # one-class batches wrecks a loaded model). A fixed random subset keeps the classes mixed.
        rng = np.random.default_rng(seed)
        tr, te = rng.permutation(len(xtr))[:limit], rng.permutation(len(xte))[:limit // 4]
        xtr, ytr, xte, yte = xtr[tr], ytr[tr], xte[te], yte[te]
    return xtr, ytr, xte, yte


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


def end_epoch(log, ckpt, model, rec, args):
    """Prints and logs an epoch's record and saves the checkpoint with it."""
    print(json.dumps(rec), flush=True)
    log.write(json.dumps(rec) + '\n')
    log.flush()
    save_checkpoint(ckpt, model, epochs=rec['epoch'] + 1, steps=rec['steps'], args=args, test=rec['test'], time_s=rec['time_s'])


def setup(a):
    """Seeds, threads, device flags, output folder; the data (numpy, --limit applied) and a fresh model.
    Returns (device, checkpoint path, CPU generator, (xtr, ytr, xte, yte), model on the device)."""
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    if a.device.startswith('cuda'):
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    os.makedirs(a.out, exist_ok=True)
    xtr, ytr, xte, yte = load_data(a.pixels, a.limit, a.seed)
    dev = torch.device(a.device)
    learn = [int(b) for b in getattr(a, 'learn_steps', '').split(',') if b]   # the baseline has none
    model = SlimSplit(a.cm, [int(d) for d in a.dec.split(',')], a.enc, a.c4, learn)
    if a.init:
        # Fine-tuning: the weights, norms and rate tables of a finished run, then this run's schedule.
        # A checkpoint with fixed steps may start a run that learns them (from 2^b - 1 levels).
        init, meta = load_checkpoint(a.init)
        strip = lambda cfg: {k: v for k, v in cfg.items() if k != 'learnSteps'}
        if strip(init.cfg) != strip(model.cfg) or (init.cfg.get('learnSteps') and init.cfg != model.cfg):
            raise SystemExit(f'--init {a.init}: config {init.cfg} does not match this run\'s {model.cfg}')
        model.load_state_dict(init.state_dict(), strict=not (learn and 'learnSteps' not in init.cfg))
    model = model.to(dev)
    return (dev, a.ckpt or os.path.join(a.out, 'model.npz'), torch.Generator().manual_seed(a.seed),
            (xtr, ytr, xte, yte), model)


def main():
    ap = argparse.ArgumentParser()
    common_args(ap, 'train/out/cifar', 0)
    ap.add_argument('--lam', type=float, default=4e-4, help='loss weight per estimated bit at the (1 member, 1 bit) mode')
    ap.add_argument('--rate-pow', type=float, default=1.0, help='the rate weight of mode (N, b) is lam / (N*b)^rate_pow')
    ap.add_argument('--member-rate', type=float, default=1.0,
                    help='rate weight of members 2..G\'s channels relative to member 1\'s (the encoder\'s rate gradient only)')
    ap.add_argument('--member-rates', default='', help='rate weight of each member\'s channels, e.g. 1,0.25,1,1 '
                    '(instead of --member-rate)')
    ap.add_argument('--freeze-members', type=int, default=0,
                    help='fine-tune: keep the first K members\' encoder weights, norms and rate tables and the learned '
                         'steps as loaded (their codes and bytes stay), train the later members and the decoder')
    ap.add_argument('--learn-steps', default='', help='bit depths whose quantizer step is learned (e.g. 4,8; '
                    'default: every bit depth uses its 2^b - 1 levels)')
    ap.add_argument('--step-lr', type=float, default=2e-3, help='Adam learning rate of the learned steps (log scale)')
    ap.add_argument('--kd', type=float, default=0.0,
                    help='inplace distillation: each batch also runs at the largest mode, whose detached '
                         'predictions teach the other modes with this weight (0: off, one pass of mixed modes)')
    a = ap.parse_args()
    dev, ckpt, gen, data, model = setup(a)
    xtr, ytr, xte, yte = (torch.from_numpy(t).to(dev) for t in data)
    cm = a.cm
    steps_per_epoch = len(xtr) // a.bs
    # Under the full rate weight members 2..G learned constant channels in every run (the accuracy they
    # add at N > 1 was worth less than their bits): a lower weight on their channels keeps them sending.
    rate_w = None
    if a.member_rates:
        w = [float(v) for v in a.member_rates.split(',')]
        if len(w) != G:
            raise SystemExit(f'--member-rates: {len(w)} weights for {G} members')
        rate_w = torch.tensor(w).repeat_interleave(cm).to(dev)
    elif a.member_rate != 1.0:
        rate_w = torch.where(torch.arange(G * cm) < cm, 1.0, a.member_rate).to(dev)
    # Frozen members: their rows of every encoder and rate tensor, parameters and norm statistics.
    if a.freeze_members and not a.init:
        raise SystemExit('--freeze-members needs --init')
    frozen = FrozenMembers([(n, t) for n, t in list(model.named_parameters()) + list(model.named_buffers())
                            if n.startswith('enc.') or n.startswith('rate.')], a.freeze_members)
    prog = Progress(a.epochs * steps_per_epoch, a.budget_s)
    opt = network_optimizer(model, a.lr)
    opt_rate = torch.optim.Adam(model.rate.parameters(), lr=1e-2)
    opt_step = torch.optim.Adam([model.qlog], lr=a.step_lr) if model.learn_steps and not a.freeze_members else None
    log = open(os.path.join(a.out, 'log.jsonl'), 'a')
    t0 = time.time()
    ep = 0
    while not prog.done():
        # Thread count can be changed between epochs (echo 2 > <out>/threads): OpenMP threads stall
        # badly when the machine is oversubscribed, so runs start on one and widen when it is free.
        tf = os.path.join(a.out, 'threads')
        if os.path.exists(tf):
            torch.set_num_threads(int(open(tf).read().strip()))
        perm = torch.randperm(len(xtr), generator=gen).to(dev)
        model.train()
        tl, tc, tb, tn = 0.0, 0, 0.0, 0
        for i, idx, p in prog.batches(perm, a.bs, opt, a.lr):
            xi = xtr[idx]
            if xi.dim() == 5:   # --pixels both: one decoder per sample, at random
                pick = (torch.rand(len(idx), generator=gen) < 0.5).long().to(dev)
                xi = xi[torch.arange(len(idx), device=dev), pick]
            xb = augment(to_input(xi), gen)
            yb = ytr[idx]
            B = len(idx)
            if a.kd:
                # The same images twice: first at the largest mode (the teacher), then at sampled modes.
                m2, b2 = sample_modes(B, gen, top=False)
                members = torch.cat([torch.full((B,), G), m2])
                bits = torch.cat([torch.full((B,), max(BITS)), b2])
                xb = torch.cat([xb, xb])
            else:
                members, bits = sample_modes(B, gen)
            members, bits = members.to(dev), bits.to(dev)
            logits, ce_bits, soft_bits = model(xb, members, bits, rate_w)
            # A fresh run ramps the rate weight in; a fine-tune starts from a model already under it
            # (the one CPU fine-tune that ramped it from 0, at peak lr 0.04, lost 5 points at 1 bit in
            # its first epoch; which of the two did it was not separated).
            lam = a.lam * (1.0 if a.init else min(1.0, p / 0.3))
            if a.kd:
                teach, stud = logits[:B], logits[B:]
                kd = F.kl_div(F.log_softmax(stud, 1), F.softmax(teach.detach(), 1), reduction='batchmean')
                task = (F.cross_entropy(teach, yb, label_smoothing=0.05)
                        + (1 - a.kd) * F.cross_entropy(stud, yb, label_smoothing=0.05) + a.kd * kd) / 2
                logits = stud
            else:
                task = F.cross_entropy(logits, yb, label_smoothing=0.05)
            n_sym = float(model.hw) * cm * members.float()
            # The rate weight is per raw bit of the mode (members x bits): every mode pays about the same
            # for sending the same fraction of its raw size, so the 8-bit modes (tens of thousands of bits)
            # cannot drown the task loss and the 1-bit modes still feel the pressure to be small.
            lam_mode = lam / (members.float() * bits.float()) ** a.rate_pow
            loss = task + (lam_mode * soft_bits).mean() + (ce_bits / n_sym).mean()
            opt.zero_grad(set_to_none=True)
            opt_rate.zero_grad(set_to_none=True)
            if opt_step:
                opt_step.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            opt_rate.step()
            if opt_step:
                opt_step.step()
                model.clamp_steps()
            frozen.restore()
            prog.step += 1
            if i % 50 == 0:
                # .item() syncs the GPU: only every 50 steps
                tl += task.item() * B
                tc += (logits.argmax(1) == yb).sum().item()
                tb += ce_bits[-B:].sum().item() / 8
                tn += B
                lv = ''.join(f' L{b} {v:.2f}' for b, v in model.levels().items() if b in model.learn_steps)
                print(f'ep {ep} it {i}/{steps_per_epoch} loss {tl / tn:.3f} acc {tc / tn:.3f} B/img {tb / tn:.1f} '
                      f'lam {lam:.1e} lr {one_cycle(p, a.lr):.3f} p {p:.3f}{lv} {time.time() - t0:.0f}s', flush=True)
        last = prog.done()
        modes = ([(n, b) for n in range(1, G + 1) for b in BITS] if last and not a.quick_eval else [(1, 1), (4, 8)])
        ev = evaluate(model, xte, yte, modes) if last or ep % 5 == 4 else {}
        rec = {'epoch': ep, 'train_loss': tl / max(tn, 1), 'train_acc': tc / max(tn, 1), 'train_bytes': tb / max(tn, 1),
               'time_s': time.time() - t0, 'steps': prog.step, 'test': ev,
               **({'levels': {str(b): v for b, v in model.levels().items()}} if model.learn_steps else {})}
        end_epoch(log, ckpt, model, rec, vars(a))
        ep += 1
    print('done', time.time() - t0, flush=True)


if __name__ == '__main__':
    main()
