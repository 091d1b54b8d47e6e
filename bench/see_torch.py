"""PyTorch CPU, one thread: the SEE encoder (train/see.py, same seed) at 384x384 for N = 1..4.

    /usr/bin/python3 bench/see_torch.py [--iters 20] [--warmup 3]

Prints one JSON object on stdout (bench/see.bench.ts parses it):
  {"engine": "pytorch-cpu", "torch": "<version>", "threads": 1,
   "results": [{"members": N, "medianMs": ..., "samplesMs": [...], "nerr": <vs the golden float64 output>}]}
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'train'))
import see  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('--iters', type=int, default=20)
    ap.add_argument('--warmup', type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    model = see.build()
    x = torch.from_numpy(see.golden_input())
    fixtures = os.path.join(ROOT, 'test/fixtures/see')
    results = []
    with torch.inference_mode():
        for n in range(1, see.MEMBERS + 1):
            for _ in range(args.warmup):
                y = model(x, n)
            times = []
            for _ in range(args.iters):
                t0 = time.perf_counter()
                y = model(x, n)
                times.append((time.perf_counter() - t0) * 1e3)
            entry = {'members': n, 'medianMs': statistics.median(times), 'samplesMs': times}
            golden = os.path.join(fixtures, f'out-n{n}.f32')
            if os.path.exists(golden):
                entry['nerr'] = see.nerr(y[0].numpy().astype(np.float64).ravel(), np.fromfile(golden, dtype='<f4').astype(np.float64))
            results.append(entry)
    print(json.dumps({'engine': 'pytorch-cpu', 'torch': torch.__version__, 'threads': torch.get_num_threads(),
                      'results': results}))


if __name__ == '__main__':
    main()
