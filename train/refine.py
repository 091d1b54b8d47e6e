"""Turn a trained model's later members into refining members (SlimSplit refine=K), on the CPU.

    /usr/bin/python3 train/refine.py --init train/out/gpu/N/N.npz --refine 2 --pixels jsdec \
        --budget-s 3600 --threads 2 --out train/out/refN

In the models train/cifar.py makes, every member sends its own channels, so mode (N, b) costs N
members' bytes. Past two members that buys little (run N: members 3 and 4 add ~0.1 point each at
1 bit for ~25 B each). Here member k >= K instead adds its pre-sigmoid head output to member
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
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cifar import FrozenMembers, Progress, augment, end_epoch, evaluate, load_data, one_cycle, to_input  # noqa: E402
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
    ap.add_argument('--init', required=True)
    ap.add_argument('--refine', type=int, default=2, help='members that own channels (K); the rest refine them')
    ap.add_argument('--lam', type=float, default=5.6e-4, help='loss weight per estimated bit, divided by K x bits')
    ap.add_argument('--lr', type=float, default=0.02)
    ap.add_argument('--bs', type=int, default=128)
    ap.add_argument('--epochs', type=int, default=4)
    ap.add_argument('--budget-s', type=float, default=0)
    ap.add_argument('--pixels', choices=['pillow', 'jsdec'], default='jsdec')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--limit', type=int, default=0, help='train on N random images (smoke tests)')
    ap.add_argument('--out', default='train/out/refine')
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    xtr, ytr, xte, yte = load_data(a.pixels, a.limit, a.seed)
    xtr, ytr, xte, yte = (torch.from_numpy(t) for t in (xtr, ytr, xte, yte))
    init, _ = load_checkpoint(a.init)
    K = a.refine
    model = refining_model(init, K)
    # Only encoder weights train (the stem's outputs are laid out member by member too); the first K
    # members' rows are put back after each step.
    for n, p in model.named_parameters():
        p.requires_grad_(n.startswith('enc.'))
    train_p = [p for n, p in model.named_parameters() if n.startswith('enc.')]
    frozen = FrozenMembers([(n, p) for n, p in model.named_parameters() if n.startswith('enc.')], K)
    opt = torch.optim.SGD(train_p, lr=a.lr, momentum=0.9, nesterov=True)
    gen = torch.Generator().manual_seed(a.seed)
    steps_per_epoch = len(xtr) // a.bs
    prog = Progress(a.epochs * steps_per_epoch, a.budget_s)
    log = open(os.path.join(a.out, 'log.jsonl'), 'a')
    ckpt = os.path.join(a.out, 'model.npz')
    t0, ep = time.time(), 0
    while not prog.done():
        perm = torch.randperm(len(xtr), generator=gen)
        tl, tc, tb, tn = 0.0, 0, 0.0, 0
        for i, idx, p in prog.batches(perm, a.bs, opt, a.lr):
            model.eval()
            xb = augment(to_input(xtr[idx]), gen)
            yb = ytr[idx]
            B = len(idx)
            members = torch.randint(K + 1, G + 1, (B,), generator=gen)
            bits = torch.tensor(BITS)[torch.randint(0, len(BITS), (B,), generator=gen)]
            logits, ce_bits, soft_bits = model(xb, members, bits)
            task = F.cross_entropy(logits, yb, label_smoothing=0.05)
            loss = task + (a.lam / (K * bits.float()) * soft_bits).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            frozen.restore()
            prog.step += 1
            if i % 50 == 0:
                tl += task.item() * B
                tc += (logits.argmax(1) == yb).sum().item()
                tb += ce_bits.sum().item() / 8
                tn += B
                print(f'ep {ep} it {i}/{steps_per_epoch} loss {tl / tn:.3f} acc {tc / tn:.3f} B/img {tb / tn:.1f} '
                      f'lr {one_cycle(p, a.lr):.4f} p {p:.3f} {time.time() - t0:.0f}s', flush=True)
        last = prog.done()
        modes = [(n, b) for n in range(1, G + 1) for b in BITS] if last else [(K + 1, 1), (G, 8)]
        ev = evaluate(model, xte, yte, modes)
        rec = {'epoch': ep, 'train_loss': tl / max(tn, 1), 'train_acc': tc / max(tn, 1), 'time_s': time.time() - t0,
               'steps': prog.step, 'test': ev}
        end_epoch(log, ckpt, model, rec, vars(a))
        ep += 1
    print('done', time.time() - t0, flush=True)


if __name__ == '__main__':
    main()
