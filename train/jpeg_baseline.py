"""The JPEG baseline's classifier: the same network as the slimsplit model (all members, no
quantization at the split), trained on training images re-encoded as JPEG at random qualities, so that
it is fair to JPEG at every quality the evaluation uses.

    python3 train/jpeg_baseline.py --device cuda --epochs 114 --bs 512 --lr 0.4 ...   # train/recipes/jpeg-baseline.sh
    /usr/bin/python3 train/jpeg_baseline.py --epochs 8 --threads 1 --out train/out/jpeg  # a CPU run

JPEGs are made with Pillow at 4:4:4 (subsampling=0) and the IJG tables scaled by quality, which is
what the evaluation's encoder (jpeg-js) writes too.
"""
import argparse
import io
import multiprocessing
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cifar import build_model, model_args  # noqa: E402
from data import CACHE, to_input  # noqa: E402
from loop import Batch, augment, loop_args, network_optimizer, prepare, train_loop  # noqa: E402
from model import G, decoder_input, member_mask, save_checkpoint  # noqa: E402

QUALITIES = [5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95]


def jpeg_roundtrip(img, q):
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format='JPEG', quality=q, subsampling=0)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert('RGB'))


def _degrade_chunk(args):
    x, q = args
    return np.stack([jpeg_roundtrip(im, q) for im in x])


def degraded_set(x, split, workers=0):
    """uint8 [len(QUALITIES), N, 32, 32, 3], cached; made by `workers` processes (0: all cores)."""
    path = os.path.join(CACHE, f'{split}-jpeg.npy')
    if os.path.exists(path):
        return np.load(path, mmap_mode='r')
    chunks = [(x[i:i + 2500], q) for q in QUALITIES for i in range(0, len(x), 2500)]
    with multiprocessing.Pool(workers or os.cpu_count()) as pool:
        parts = pool.map(_degrade_chunk, chunks)
    per_q = len(parts) // len(QUALITIES)
    out = np.stack([np.concatenate(parts[k * per_q:(k + 1) * per_q]) for k in range(len(QUALITIES))])
    np.save(path, out)
    return out


def forward(model, x):
    z = model.enc(x)
    ones = member_mask(torch.full((x.shape[0],), G, device=x.device), x.device, model.cfg['cm'])
    return model.dec(decoder_input(z, ones))


def main():
    ap = argparse.ArgumentParser()
    loop_args(ap, 'train/out/jpeg', 1, pixels=('pillow',))
    model_args(ap)
    ap.set_defaults(cm=8)  # the shipped baseline: the 8-channel-per-member encoder, unquantized
    a = ap.parse_args()
    dev, gen, ckpt, (xtr, ytr, xte, yte) = prepare(a)
    model = build_model(a, dev)
    xtr, xte, yte = xtr.cpu().numpy(), xte.cpu().numpy(), yte.cpu().numpy()
    t0 = time.time()
    deg = degraded_set(xtr, 'train' if not a.limit else f'train{a.limit}-seed{a.seed}')  # --limit: a random subset (data.load_data)
    print(f'degraded set ready {time.time() - t0:.0f}s', flush=True)
    # All qualities plus the clean images, on the device: [len(QUALITIES) + 1, N, 32, 32, 3]
    pool_u8 = torch.from_numpy(np.concatenate([np.asarray(deg), xtr[None]])).to(dev)
    opt = network_optimizer(model, a.lr)

    def step(idx, p):
        # One sample in thirteen stays clean (index len(QUALITIES)); the rest take a random JPEG quality.
        qi = torch.randint(0, len(QUALITIES) + 1, (len(idx),), generator=gen).to(dev)
        xb = augment(to_input(pool_u8[qi, idx]), gen)
        yb = ytr[idx]
        logits = forward(model, xb)
        loss = F.cross_entropy(logits, yb, label_smoothing=0.05)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return Batch(loss, logits, yb)

    t0 = time.time()
    prog, ep = train_loop(a, model, len(xtr), opt, step, gen=gen, dev=dev, ckpt=ckpt, with_bytes=False)
    model.eval()
    with torch.no_grad():
        acc = {}
        for q in (10, 50, 90):
            imgs = torch.from_numpy(np.stack([jpeg_roundtrip(im, q) for im in xte])).to(dev)
            pred = torch.cat([forward(model, to_input(imgs[i:i + 1000])).argmax(1) for i in range(0, len(imgs), 1000)])
            acc[q] = (pred.cpu().numpy() == yte).mean()
        print('test acc by quality (PyTorch):', acc, flush=True)
    save_checkpoint(ckpt, model, epochs=ep, steps=prog.step, args=vars(a),
                    test={str(q): float(v) for q, v in acc.items()}, time_s=time.time() - t0)
    print('done with the evaluation', time.time() - t0, flush=True)


if __name__ == '__main__':
    main()
