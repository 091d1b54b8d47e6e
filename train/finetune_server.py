"""Server-side fine-tune: the device side (encoder, learned quantizer steps, rate model) stays frozen, so
every mode sends exactly the codes, and so the bytes, it sent before, and only the decoder trains again,
taught by a stronger model's soft labels (another checkpoint at one of its modes).

    /usr/bin/python3 train/finetune_server.py --init train/out/gpu/N/N.npz \
        --teacher train/out/ftjs/model.npz --teacher-mode 4,8 --budget-s 3000 --out train/out/ftsN

Why: a split model's accuracy at a given byte count is the decoder's to improve, and the server is not
compute-bound. Each batch: random crop and flip (train/cifar.py augment), the teacher's logits at its
mode, the student's codes at per-sample modes (cifar.py sample_modes), then
loss = (1 - kd) * cross-entropy + kd * KL(teacher || student) on the decoder only.
"""
import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cifar import Progress, augment, end_epoch, evaluate, load_data, network_optimizer, sample_modes, to_input  # noqa: E402
from model import BITS, G, decoder_input, load_checkpoint, member_mask  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--init', required=True, help='the split model whose decoder trains (.npz)')
    ap.add_argument('--teacher', required=True, help='a checkpoint whose logits teach (.npz)')
    ap.add_argument('--teacher-mode', default='4,8', help='members,bits the teacher runs at')
    ap.add_argument('--kd', type=float, default=0.7, help='weight of the teacher term (the rest: cross-entropy)')
    ap.add_argument('--lr', type=float, default=0.01, help='one-cycle peak of Nesterov SGD')
    ap.add_argument('--bs', type=int, default=256)
    ap.add_argument('--epochs', type=int, default=10)
    ap.add_argument('--budget-s', type=float, default=0, help='train for this many seconds instead of --epochs')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--pixels', choices=['pillow', 'jsdec'], default='jsdec',
                    help="training and test images as Pillow or as the engine's jpeg-js decodes them")
    ap.add_argument('--out', default='train/out/fts')
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    xtr, ytr, xte, yte = load_data(a.pixels)
    xtr, ytr, xte, yte = (torch.from_numpy(t) for t in (xtr, ytr, xte, yte))
    model, _ = load_checkpoint(a.init)
    teacher, _ = load_checkpoint(a.teacher)
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    for n, p in model.named_parameters():
        p.requires_grad_(n.startswith('dec.'))
    tm, tb = (int(v) for v in a.teacher_mode.split(','))
    cm = model.cfg['cm']
    gen = torch.Generator().manual_seed(a.seed)
    opt = network_optimizer(model, a.lr)   # frozen parameters get no gradient, so SGD leaves them alone
    steps_per_epoch = len(xtr) // a.bs
    prog = Progress(a.epochs * steps_per_epoch, a.budget_s)
    ckpt = os.path.join(a.out, 'model.npz')
    log = open(os.path.join(a.out, 'log.jsonl'), 'a')
    t0 = time.time()
    ep = 0
    while not prog.done():
        perm = torch.randperm(len(xtr), generator=gen)
        model.train()
        model.enc.eval()   # its BatchNorm statistics are part of the frozen device side
        tl, tc, tn = 0.0, 0, 0
        for i, idx, p in prog.batches(perm, a.bs, opt, a.lr):
            xb = augment(to_input(xtr[idx]), gen)
            yb = ytr[idx]
            B = len(idx)
            members, bits = sample_modes(B, gen)
            with torch.no_grad():
                teach = teacher(xb, torch.full((B,), tm), torch.full((B,), tb))[0]
                deq, _, _ = model.quantize(model.enc(xb), bits)
                din = decoder_input(deq, member_mask(members, xb.device, cm))
            logits = model.dec(din)
            kd = F.kl_div(F.log_softmax(logits, 1), F.softmax(teach, 1), reduction='batchmean')
            loss = (1 - a.kd) * F.cross_entropy(logits, yb, label_smoothing=0.05) + a.kd * kd
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            prog.step += 1
            if i % 50 == 0:
                tl += loss.item() * B
                tc += (logits.argmax(1) == yb).sum().item()
                tn += B
                print(f'ep {ep} it {i}/{steps_per_epoch} loss {tl / tn:.3f} acc {tc / tn:.3f} p {p:.3f} {time.time() - t0:.0f}s', flush=True)
        last = prog.done()
        ev = evaluate(model, xte, yte, [(n, b) for n in range(1, G + 1) for b in BITS]) if last else {}
        rec = {'epoch': ep, 'train_loss': tl / max(tn, 1), 'train_acc': tc / max(tn, 1), 'time_s': time.time() - t0,
               'steps': prog.step, 'test': ev}
        end_epoch(log, ckpt, model, rec, vars(a))
        ep += 1
    print('done', time.time() - t0, flush=True)


if __name__ == '__main__':
    main()
