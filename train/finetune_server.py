"""Server-side fine-tune: the device side (encoder, learned quantizer steps, rate model) stays frozen, so
every mode sends exactly the codes, and so the bytes, it sent before, and only the decoder trains again,
taught by a stronger model's soft labels (another checkpoint at one of its modes).

    /usr/bin/python3 train/finetune_server.py --init <4x4 model>.npz \
        --teacher <16x16 model>.npz --teacher-mode 4,8 --budget-s 3300 --out train/out/fts

Why: a split model's accuracy at a given byte count is the decoder's to improve, and the server is not
compute-bound. Each batch: random crop and flip (train/cifar.py augment), the teacher's logits at its
mode, the student's codes at per-sample modes (loop.sample_modes), then
loss = (1 - kd) * cross-entropy + kd * KL(teacher || student) on the decoder only.
"""
import argparse
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import to_input  # noqa: E402
from loop import ALL_MODES, Batch, augment, evaluate, loop_args, network_optimizer, prepare, sample_modes, train_loop  # noqa: E402
from model import decoder_input, load_checkpoint, member_mask  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    loop_args(ap, 'train/out/fts', 0, pixels=('jsdec', 'pillow'), lr=0.01, epochs=10, threads=2)
    ap.add_argument('--init', required=True, help='the split model whose decoder trains (.npz)')
    ap.add_argument('--teacher', required=True, help='a checkpoint whose logits teach (.npz)')
    ap.add_argument('--teacher-mode', default='4,8', help='members,bits the teacher runs at')
    ap.add_argument('--kd', type=float, default=0.7, help='weight of the teacher term (the rest: cross-entropy)')
    a = ap.parse_args()
    dev, gen, ckpt, (xtr, ytr, xte, yte) = prepare(a)
    model = load_checkpoint(a.init)[0].to(dev)
    teacher = load_checkpoint(a.teacher)[0].to(dev)
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    for n, p in model.named_parameters():
        p.requires_grad_(n.startswith('dec.'))
    tm, tb = (int(v) for v in a.teacher_mode.split(','))
    cm = model.cfg['cm']
    opt = network_optimizer(model, a.lr)   # frozen parameters get no gradient, so SGD leaves them alone

    def step(idx, p):
        xb = augment(to_input(xtr[idx]), gen)
        yb = ytr[idx]
        B = len(idx)
        members, bits = sample_modes(B, gen)
        members, bits = members.to(dev), bits.to(dev)
        with torch.no_grad():
            teach = teacher(xb, torch.full((B,), tm, device=dev), torch.full((B,), tb, device=dev))[0]
            deq, _, _ = model.quantize(model.enc(xb), bits)
            din = decoder_input(deq, member_mask(members, xb.device, cm))
        logits = model.dec(din)
        kd = F.kl_div(F.log_softmax(logits, 1), F.softmax(teach, 1), reduction='batchmean')
        loss = (1 - a.kd) * F.cross_entropy(logits, yb, label_smoothing=0.05) + a.kd * kd
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return Batch(loss, logits, yb)

    def set_modes():
        model.train()
        model.enc.eval()   # its BatchNorm statistics are part of the frozen device side

    train_loop(a, model, len(xtr), opt, step, gen=gen, dev=dev, ckpt=ckpt, set_modes=set_modes, with_bytes=False,
               evaluate_at=lambda ep, last: evaluate(model, xte, yte, ALL_MODES) if last else {})


if __name__ == '__main__':
    main()
