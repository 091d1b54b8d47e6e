"""Writers for the exported graph (docs/GRAPH.md): `<name>.graph.json` + `<name>.tensors.bin`.

Model-agnostic: an exporter adds float32 tensors and layer dicts, then saves.

    from common_export import GraphExport, mulberry32_uniform
    ex = GraphExport('see-384-random', input_shape=[3, 384, 384], mean=[...], std=[...],
                     modes={'members': [1, 2, 3, 4]})
    g = ex.graph('encoder', input='x', output='z')
    g.buffer('x', [3, 384, 384])
    ex.tensor('stem.w', w)                       # numpy/torch array, stored as LE float32
    g.layer('conv2d', x='x', y='t0', w='stem.w', ..., active={'coutActive': {'members': [6, 12, 18, 24]}})
    ex.save('train/out/see')                     # writes train/out/see/<name>.graph.json, .tensors.bin
    run_packer('train/out/see/<name>.graph.json', 'train/out/see/<name>.tensors.bin', 'weights/<name>.slim')   # slimsplit pack

Also: the seeded PRNG the TypeScript tests use (test/util.ts `rng`/`randn`), so a golden input
can be stored as a seed and regenerated bit-identically on both sides, and BatchNorm folding.
"""
from __future__ import annotations

import json
import os
import subprocess
from typing import Any, Dict, List, Optional

import numpy as np

TENSOR_ALIGN = 16  # docs/GRAPH.md: each tensor 16-byte aligned in tensors.bin


def _as_f32(a: Any) -> np.ndarray:
    if hasattr(a, 'detach'):  # a torch tensor; torch stays an optional import here
        a = a.detach().cpu().double().numpy()
    arr = np.ascontiguousarray(np.asarray(a, dtype=np.float32))
    if not np.all(np.isfinite(arr)):
        raise ValueError('common_export: tensor has NaN/Inf values')
    return arr


class Graph:
    """One named graph (encoder, decoder, ...): buffers with full shapes and an ordered layer list."""

    def __init__(self, owner: 'GraphExport', input: str, output: str):
        self._owner = owner
        self.input = input
        self.output = output
        self.buffers: Dict[str, List[int]] = {}
        self.layers: List[Dict[str, Any]] = []

    def buffer(self, name: str, shape: List[int]) -> str:
        shape = [int(s) for s in shape]
        if name in self.buffers and self.buffers[name] != shape:
            raise ValueError(f"common_export: buffer '{name}' redeclared as {shape}, was {self.buffers[name]}")
        self.buffers[name] = shape
        return name

    def layer(self, op: str, active: Optional[Dict[str, Dict[str, List[int]]]] = None, **fields: Any) -> Dict[str, Any]:
        for key in ('x', 'y', 'a', 'b'):
            if key in fields and isinstance(fields[key], str) and fields[key] not in self.buffers:
                raise ValueError(f"common_export: {op} layer field {key}='{fields[key]}' names no declared buffer")
        for key in ('w', 'bias', 'scale', 'shift', 'gamma', 'beta', 'w1', 'b1', 'w2', 'b2', 'weights'):
            if key in fields and isinstance(fields[key], str) and fields[key] not in self._owner.tensors:
                raise ValueError(f"common_export: {op} layer field {key}='{fields[key]}' names no added tensor")
        d: Dict[str, Any] = {'op': op, **fields}
        if active:
            for field, per_axis in active.items():
                for axis, values in per_axis.items():
                    n = len(self._owner.modes.get(axis, []))
                    if len(values) != n:
                        raise ValueError(f"common_export: {op}.{field} gives {len(values)} values for axis '{axis}' of {n}")
            d['active'] = active
        self.layers.append(d)
        return d

    def to_json(self) -> Dict[str, Any]:
        for name in (self.input, self.output):
            if name not in self.buffers:
                raise ValueError(f"common_export: graph input/output '{name}' is not a declared buffer")
        return {'input': self.input, 'output': self.output, 'buffers': self.buffers, 'layers': self.layers}


class GraphExport:
    def __init__(self, name: str, input_shape: List[int], modes: Dict[str, List[int]],
                 mean: Optional[List[float]] = None, std: Optional[List[float]] = None,
                 meta: Optional[Dict[str, Any]] = None):
        self.name = name
        self.input: Dict[str, Any] = {'shape': [int(s) for s in input_shape]}
        if mean is not None:
            self.input['mean'] = [float(v) for v in mean]
        if std is not None:
            self.input['std'] = [float(v) for v in std]
        self.modes = modes
        self.meta = meta or {}
        self.tensors: Dict[str, Dict[str, Any]] = {}
        self._blobs: List[np.ndarray] = []
        self._size = 0
        self.graphs: Dict[str, Graph] = {}

    def tensor(self, name: str, value: Any, storage: Optional[str] = None) -> str:
        """Adds a float32 tensor. storage='q8': the blob stores it as int8 per first-axis row with an
        f32 scale per row (docs/FORMAT.md), expanded to float32 when loaded."""
        if name in self.tensors:
            raise ValueError(f"common_export: tensor '{name}' added twice")
        arr = _as_f32(value)
        offset = -(-self._size // TENSOR_ALIGN) * TENSOR_ALIGN
        if offset > self._size:
            self._blobs.append(np.zeros((offset - self._size) // 4, dtype=np.float32))
        self._blobs.append(arr.reshape(-1))
        self._size = offset + arr.nbytes
        self.tensors[name] = {'shape': list(arr.shape), 'offset': offset}
        if storage is not None:
            if storage != 'q8':
                raise ValueError(f"common_export: tensor '{name}': unknown storage '{storage}' (only 'q8')")
            self.tensors[name]['storage'] = storage
        return name

    def graph(self, name: str, input: str, output: str) -> Graph:
        if name in self.graphs:
            raise ValueError(f"common_export: graph '{name}' declared twice")
        g = Graph(self, input, output)
        self.graphs[name] = g
        return g

    def to_json(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {'name': self.name, 'input': self.input, 'modes': self.modes,
                             'tensors': self.tensors,
                             'graphs': {k: g.to_json() for k, g in self.graphs.items()}}
        if self.meta:
            d['meta'] = self.meta
        return d

    def save(self, out_dir: str) -> Dict[str, str]:
        os.makedirs(out_dir, exist_ok=True)
        gpath = os.path.join(out_dir, f'{self.name}.graph.json')
        tpath = os.path.join(out_dir, f'{self.name}.tensors.bin')
        with open(gpath, 'w') as f:
            json.dump(self.to_json(), f, indent=1)
        with open(tpath, 'wb') as f:
            for b in self._blobs:
                f.write(b.astype('<f4').tobytes())
        return {'graph': gpath, 'tensors': tpath}


def fold_bn(gamma: Any, beta: Any, mean: Any, var: Any, eps: float):
    """Eval-mode BatchNorm as a per-channel affine: y = x * scale + shift (computed in float64)."""
    g, b, m, v = (np.asarray(t.detach().cpu().double().numpy() if hasattr(t, 'detach') else t, dtype=np.float64)
                  for t in (gamma, beta, mean, var))
    scale = g / np.sqrt(v + eps)
    return scale, b - m * scale


def mulberry32_uniform(n: int, seed: int) -> np.ndarray:
    """test/util.ts `rng(seed)` drawn n times, as float64 in [0, 1).

    mulberry32's state after i draws is seed + i * 0x6d2b79f5 (mod 2^32) and each output is a
    function of that state alone, so the whole stream vectorizes in uint32 arithmetic
    (Math.imul and the JS int32 adds are the same bits mod 2^32)."""
    with np.errstate(over='ignore'):
        s = (np.uint32(seed & 0xFFFFFFFF) + np.arange(1, n + 1, dtype=np.uint64).astype(np.uint32) * np.uint32(0x6D2B79F5))
        t = s.astype(np.uint32)
        t = (t ^ (t >> np.uint32(15))) * (t | np.uint32(1))
        t = t ^ (t + (t ^ (t >> np.uint32(7))) * (t | np.uint32(61)))
        out = (t ^ (t >> np.uint32(14))).astype(np.float64) / 4294967296.0
    return out


def randn_like_ts(n: int, seed: int, scale: float = 1.0) -> np.ndarray:
    """test/util.ts `randn(n, seed, scale)`: uniform in [-scale, scale), rounded to float32 as a Float32Array does."""
    return ((mulberry32_uniform(n, seed) * 2 - 1) * scale).astype(np.float32)


def run_packer(graph_json: str, tensors_bin: str, out_slim: str, repo_root: Optional[str] = None) -> None:
    """Run the packer (`slimsplit pack`, from source) on the exported pair."""
    root = repo_root or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cmd = ['npx', 'tsx', 'src/cli/main.ts', 'pack', os.path.abspath(graph_json), os.path.abspath(tensors_bin), '-o', os.path.abspath(out_slim)]
    r = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"common_export: packer failed ({' '.join(cmd)}):\n{r.stdout}\n{r.stderr}")
