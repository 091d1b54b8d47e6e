"""Train a slimsplit CIFAR-10 split model: one set of weights for every (members, bits) mode.

    python3 train/cifar.py --device cuda --bs 512 --lr 0.4 --threads 4 ...   # the GPU runs: train/recipes/*.sh
    /usr/bin/python3 train/cifar.py --init <run>.npz --pixels jsdec ...      # a CPU fine-tune of a finished run

Defaults are the shipped architecture (4 bottleneck channels per member, a 96/160/192 server side).

Every sample in a batch gets its own mode (a per-sample sandwich rule: a quarter at the largest mode,
a quarter at the smallest, half at random), so all 16 modes train in one forward pass.
Loss = cross-entropy + lambda / (members x bits)^rate_pow * estimated bits (ramped in over the first 30%).

The learning rate follows a one-cycle curve over the run's progress p in [0, 1]: p is steps done /
steps planned with --epochs, or seconds spent / --budget-s with a time budget (train/loop.py, the
loop every trainer here shares).
"""
import argparse
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import to_input  # noqa: E402
from loop import (ALL_MODES, Batch, FrozenMembers, augment, evaluate, loop_args, network_optimizer,  # noqa: E402
                  prepare, sample_modes, train_loop)
from model import BITS, G, SlimSplit, load_checkpoint  # noqa: E402


def model_args(ap):
    """The split model's architecture and where it starts (also the JPEG baseline's, jpeg_baseline.py)."""
    ap.add_argument('--dec', default='96,160,192', help='decoder widths at 16x16, 8x8, 4x4')
    ap.add_argument('--cm', type=int, default=4, help='bottleneck channels per member')
    ap.add_argument('--enc', choices=['s16', 'd8', 'd4'], default='s16',
                    help='encoder: split at 16x16 after two convs (s16), at 8x8 after four (d8; --dec then has two widths) '
                         'or at 4x4 after six (d4; --dec has one width, three blocks at 4x4)')
    ap.add_argument('--c4', type=int, default=128, help='d4: per-member channels of the 4x4 encoder convs')
    ap.add_argument('--quick-eval', action='store_true', help='evaluate only (1,1) and (4,8) at the end (CPU runs)')
    ap.add_argument('--init', default='', help='start from this checkpoint (.npz; its widths must match --cm/--dec)')


def build_model(a, dev):
    """A fresh SlimSplit from the options (after prepare() seeded torch), or --init's weights in it."""
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
    return model.to(dev)


def main():
    ap = argparse.ArgumentParser()
    loop_args(ap, 'train/out/cifar', 0)
    model_args(ap)
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
    dev, gen, ckpt, (xtr, ytr, xte, yte) = prepare(a)
    model = build_model(a, dev)
    cm = a.cm
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
    opt = network_optimizer(model, a.lr)
    opt_rate = torch.optim.Adam(model.rate.parameters(), lr=1e-2)
    opt_step = torch.optim.Adam([model.qlog], lr=a.step_lr) if model.learn_steps and not a.freeze_members else None
    # A fresh run ramps the rate weight in over the first 30%; a fine-tune starts from a model already
    # under it (the one CPU fine-tune that ramped it from 0, at peak lr 0.04, lost 5 points at 1 bit in
    # its first epoch; which of the two did it was not separated).
    lam_at = lambda p: a.lam * (1.0 if a.init else min(1.0, p / 0.3))

    def step(idx, p):
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
        lam = lam_at(p)
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
        return Batch(task, logits, yb, ce_bits)

    def evaluate_at(ep, last):
        # every fifth epoch two probe modes; after the last one all 16 (unless --quick-eval)
        if not (last or ep % 5 == 4):
            return {}
        return evaluate(model, xte, yte, ALL_MODES if last and not a.quick_eval else [(1, 1), (4, 8)])

    status = lambda p: f' lam {lam_at(p):.1e}' + ''.join(f' L{b} {v:.2f}' for b, v in model.levels().items() if b in model.learn_steps)
    record = lambda: {'levels': {str(b): v for b, v in model.levels().items()}} if model.learn_steps else {}
    train_loop(a, model, len(xtr), opt, step, gen=gen, dev=dev, ckpt=ckpt, evaluate_at=evaluate_at,
               status=status, record=record)


if __name__ == '__main__':
    main()
