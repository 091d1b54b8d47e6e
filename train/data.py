"""CIFAR-10 from the shared JPEG tarballs, decoded once and cached as uint8 arrays.

    from data import load
    x, y = load('train')     # x: uint8 [N, 32, 32, 3] (RGB), y: int64 [N]

The tarballs stay in ../shared; only the decoded cache (train/data/, git-ignored) is written here.
"""
import io
import multiprocessing
import os
import tarfile

import numpy as np
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


def jpeg_bytes(split):
    """The original JPEG files (the baseline re-encodes decoded pixels, see jpeg_baseline.py)."""
    return read_tar(os.path.join(SHARED, f'{split}.tar.gz'))


if __name__ == '__main__':
    for s in ('test', 'train'):
        x, y = load(s)
        print(s, x.shape, x.dtype, np.bincount(y))
