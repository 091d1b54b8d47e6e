"""Turn a trained model's later members into refining members (SlimSplit refine=K), on the CPU.

    /usr/bin/python3 train/refine.py --init <4x4 model>.npz --refine 1 --pixels jsdec \
        --budget-s 3300 --threads 1 --out train/out/d4r          # train/recipes/see-cifar10-d4r.sh

In the models train/cifar.py makes, every member sends its own channels, so mode (N, b) costs N
members' bytes. Past two members that buys little (in the 4x4 model members 3 and 4 add ~0.1 point
each at 1 bit for ~25 B each). Here member k >= K instead adds its pre-sigmoid head output to member
k mod K's (model.refined): modes with more than K members send K members' channels, and the extra
members only make those values better, as the SEE paper's summed members do.

What is kept exactly: the first K members (encoder rows, norms), the decoder, the rate tables and
the learned steps, so modes (1, b) .. (K, b) code the same symbols and predict the same classes as
the loaded model. Members K+1.. start with a zero head (their modes start equal to mode (K, b))
and are the only weights trained, on modes with more than K members: cross-entropy plus the rate
term of cifar.py under the frozen tables. Norms use their loaded statistics (eval mode) throughout.
"""
import argparse
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import to_input  # noqa: E402
from loop import ALL_MODES, Batch, FrozenMembers, augment, evaluate, loop_args, prepare, train_loop  # noqa: E402
from model import BITS, G, SlimSplit, load_checkpoint  # noqa: E402


def refining_model(init, K):
    """A refine=K copy of init: the decoder's first conv keeps its first K members' input channels,
    and members K.. get a zero head (a refining member that adds nothing yet)."""
    cfg = init.cfg
    if cfg.get('refine'):
        raise SystemExit('--init is already a refining model')
    model = SlimSplit(cfg['cm'], cfg['dec'], cfg.get('enc', 's16'), cfg.get('c4'), cfg.get('learnSteps', ()), K)
    sd = init.state_dict()
    sd['dec.inp.weight'] = sd['dec.inp.weight'][:, :K * cfg['cm']]
    model.load_state_dict(sd)
    with torch.no_grad():
        model.enc.head.weight[K * cfg['cm']:] = 0
        model.enc.head.bias[K * cfg['cm']:] = 0
    return model


def main():
    ap = argparse.ArgumentParser()
    loop_args(ap, 'train/out/refine', 0, pixels=('jsdec', 'pillow'), bs=128, lr=0.02, epochs=4, threads=2)
    ap.add_argument('--init', required=True, help='the trained split model (.npz) whose later members become refining')
    ap.add_argument('--refine', type=int, default=2, help='members that own channels (K); the rest refine them')
    ap.add_argument('--lam', type=float, default=5.6e-4, help='loss weight per estimated bit, divided by K x bits')
    a = ap.parse_args()
    dev, gen, ckpt, (xtr, ytr, xte, yte) = prepare(a)
    init, _ = load_checkpoint(a.init)
    K = a.refine
    model = refining_model(init, K).to(dev)
    # Only encoder weights train (the stem's outputs are laid out member by member too); the first K
    # members' rows are put back after each step.
    for n, p in model.named_parameters():
        p.requires_grad_(n.startswith('enc.'))
    train_p = [p for n, p in model.named_parameters() if n.startswith('enc.')]
    frozen = FrozenMembers([(n, p) for n, p in model.named_parameters() if n.startswith('enc.')], K)
    opt = torch.optim.SGD(train_p, lr=a.lr, momentum=0.9, nesterov=True)

    def step(idx, p):
        xb = augment(to_input(xtr[idx]), gen)
        yb = ytr[idx]
        B = len(idx)
        members = torch.randint(K + 1, G + 1, (B,), generator=gen).to(dev)
        bits = torch.tensor(BITS)[torch.randint(0, len(BITS), (B,), generator=gen)].to(dev)
        logits, ce_bits, soft_bits = model(xb, members, bits)
        task = F.cross_entropy(logits, yb, label_smoothing=0.05)
        loss = task + (a.lam / (K * bits.float()) * soft_bits).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        frozen.restore()
        return Batch(task, logits, yb, ce_bits)

    # every epoch two probe modes past K members; after the last one all 16
    evaluate_at = lambda ep, last: evaluate(model, xte, yte, ALL_MODES if last else [(K + 1, 1), (G, 8)])
    # norms keep their loaded statistics throughout (eval mode), also after evaluate() set train mode
    train_loop(a, model, len(xtr), opt, step, gen=gen, dev=dev, ckpt=ckpt, evaluate_at=evaluate_at,
               set_modes=model.eval, with_bytes=False)


if __name__ == '__main__':
    main()
