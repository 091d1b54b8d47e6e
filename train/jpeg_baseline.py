"""The JPEG baseline's classifier: the same network as the slimsplit model (all members, no
quantization at the split), trained on training images re-encoded as JPEG at random qualities, so that
it is fair to JPEG at every quality the evaluation uses.

    /usr/bin/python3 train/jpeg_baseline.py --epochs 10 --out train/out/jpeg

JPEGs are made with Pillow at 4:4:4 (subsampling=0) and the IJG tables scaled by quality, which is
what the evaluation's encoder (jpeg-js) writes too.
"""
import argparse
import io
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cifar import augment, network_optimizer, to_input  # noqa: E402
from data import load, CACHE  # noqa: E402
from model import G, SlimSplit, decoder_input, member_mask  # noqa: E402

QUALITIES = [5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95]


def jpeg_roundtrip(img, q):
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format='JPEG', quality=q, subsampling=0)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert('RGB'))


def degraded_set(x, split):
    """uint8 [len(QUALITIES), N, 32, 32, 3], cached."""
    path = os.path.join(CACHE, f'{split}-jpeg.npy')
    if os.path.exists(path):
        return np.load(path, mmap_mode='r')
    out = np.stack([np.stack([jpeg_roundtrip(im, q) for im in x]) for q in QUALITIES])
    np.save(path, out)
    return out


def forward(model, x):
    z = model.enc(x)
    ones = member_mask(torch.full((x.shape[0],), G), x.device)
    return model.dec(decoder_input(z, ones))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--epochs', type=int, default=10)
    ap.add_argument('--bs', type=int, default=256)
    ap.add_argument('--lr', type=float, default=0.2)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--out', default='train/out/jpeg')
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    gen = torch.Generator().manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)
    xtr, ytr = load('train')
    xte, yte = load('test')
    t0 = time.time()
    deg = degraded_set(xtr, 'train')
    print(f'degraded set ready {time.time() - t0:.0f}s', flush=True)
    ytr_t = torch.from_numpy(ytr)

    model = SlimSplit()
    spe = len(xtr) // a.bs
    opt, sched = network_optimizer(model, a.lr, a.epochs * spe)
    log = open(os.path.join(a.out, 'log.jsonl'), 'a')
    for ep in range(a.epochs):
        perm = torch.randperm(len(xtr), generator=gen).numpy()
        model.train()
        tc, tn = 0, 0
        for i in range(spe):
            idx = np.sort(perm[i * a.bs:(i + 1) * a.bs])
            # One in six samples stays clean; the rest take a random JPEG quality.
            qi = torch.randint(-2, len(QUALITIES), (len(idx),), generator=gen).numpy()
            imgs = np.stack([xtr[j] if q < 0 else deg[q, j] for j, q in zip(idx, qi)])
            xb = augment(to_input(torch.from_numpy(imgs)), gen)
            yb = ytr_t[idx]
            logits = forward(model, xb)
            loss = F.cross_entropy(logits, yb, label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tc += (logits.argmax(1) == yb).sum().item()
            tn += len(idx)
            if i % 50 == 0:
                print(f'ep {ep} it {i}/{spe} loss {loss.item():.3f} acc {tc / tn:.3f} {time.time() - t0:.0f}s', flush=True)
        rec = {'epoch': ep, 'train_acc': tc / tn, 'time_s': time.time() - t0}
        log.write(json.dumps(rec) + '\n')
        log.flush()
        print(json.dumps(rec), flush=True)
        torch.save({'model': model.state_dict(), 'epoch': ep, 'args': vars(a)}, os.path.join(a.out, 'model.pt'))
    model.eval()
    with torch.no_grad():
        acc = {}
        for q in (10, 50, 90):
            imgs = np.stack([jpeg_roundtrip(im, q) for im in xte])
            pred = torch.cat([forward(model, to_input(torch.from_numpy(imgs[i:i + 500]))).argmax(1) for i in range(0, len(imgs), 500)])
            acc[q] = (pred.numpy() == yte).mean()
        print('test acc by quality (PyTorch):', acc, flush=True)
    print('done', time.time() - t0, flush=True)


if __name__ == '__main__':
    main()
