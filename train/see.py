"""The SEE encoder (Assine et al. 2023, docs: /work/shared/papers.md section 1) with random weights.

    /usr/bin/python3 train/see.py            # export graph + tensors, golden vectors, ONNX, then pack
    /usr/bin/python3 train/see.py --no-pack  # everything but the .slim (train/recipes/see-384-random.sh packs it)

Writes
  test/fixtures/see/see-384-random.graph.json, .tensors.bin   the engine graph (docs/GRAPH.md), kept
                                                          so the blob can be re-packed without torch
  weights/see-384-random.slim                             packed by `slimsplit pack`
  test/fixtures/see/meta.json                             input seed, output norms, checks
  test/fixtures/see/out-n{1..4}.f32                       golden 6x96x96 outputs (LE float32)
  test/fixtures/see/see-384-random.n{1..4}.onnx           the same model at mode N, for the peers

The PyTorch module mirrors the authors' code (jsiloto/adaptive-cod-on-device,
host/literature_models/assine_2022b: Assine2022BEncoder, MBConvBlockV2, Ensemble), minus the
ensemble's 768->384 nearest downscale: our input is already 3x384x384 and normalized.
The engine runs the 4 members side by side as channel groups, so mode N is the prefix of every
layer: the stem is one 3->24 conv (coutActive = 6N), block convs and projections are grouped
convs (groupsActive = N), and a groupsum adds the members with weights [1, 2, 1, 0.5].
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import os
import sys
import warnings
from typing import List, Tuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common_export import GraphExport, fold_bn, randn_like_ts, run_packer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = 'see-384-random'
MEMBERS = 4
MEMBER_WEIGHTS = [1.0, 2.0, 1.0, 0.5]  # Ensemble.forward: member i>=1 scaled by 2**(1-(i-1))
STEM_OUT = 6
IN_EPS = 1e-3    # global_params.batch_norm_epsilon of efficientnet-b2, used by the blocks' InstanceNorm
BN0_EPS = 1e-5   # the stem's nn.BatchNorm2d is built with PyTorch's default eps
SE_RATIO = 0.25
# (input, output, expand, stride, residual); residual = id_skip and stride == 1 and in == out.
# Block 1 has stride [1] (a list) in the authors' code, so its `stride == 1` test is False, but in != out anyway.
BLOCKS: List[Tuple[int, int, int, int, bool]] = [
    (6, 4, 1, 1, False),
    (4, 4, 1, 1, True),
    (4, 6, 6, 2, False),
    (6, 6, 6, 1, True),
    (6, 6, 6, 1, False),  # id_skip=False
]
INPUT_SEED = 20230621
INPUT_SCALE = 2.0  # uniform [-2, 2): the range of ImageNet-normalized RGB
MODEL_SEED = 0
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def tf_same_pads(size: int, k: int, s: int) -> Tuple[int, int]:
    """TensorFlow SAME: total = max((ceil(size/s)-1)*s + k - size, 0), the odd one at the bottom/right."""
    total = max((math.ceil(size / s) - 1) * s + k - size, 0)
    return total // 2, total - total // 2


class Conv2dTFSame(nn.Conv2d):
    """Conv2dStaticSamePadding of Yet-Another-EfficientDet: the padding follows the actual input size.

    When the padding comes out symmetric (every conv of this model at 384x384) it is passed to the
    convolution itself, so the ONNX export has a plain Conv and no separate Pad node."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, bias: bool = True):
        super().__init__(cin, cout, k, stride, padding=0, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size[0], self.stride[0]
        pt, pb = tf_same_pads(int(x.shape[-2]), k, s)
        pl, pr = tf_same_pads(int(x.shape[-1]), k, s)
        if pt == pb and pl == pr:
            return F.conv2d(x, self.weight, self.bias, self.stride, (pt, pl))
        return F.conv2d(F.pad(x, [pl, pr, pt, pb]), self.weight, self.bias, self.stride)


def swish(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(x)


class MBConvBlockV2(nn.Module):
    """Full kxk expand conv (no depthwise), InstanceNorm, swish, squeeze-excite, 1x1 projection, InstanceNorm."""

    def __init__(self, cin: int, cout: int, expand: int, stride: int, residual: bool, k: int = 3):
        super().__init__()
        mid = cin * expand
        self.residual = residual
        self.stride = stride
        self._expand_conv = Conv2dTFSame(cin, mid, k, stride, bias=False)
        self._bn0 = nn.InstanceNorm2d(mid, eps=IN_EPS)
        squeezed = max(1, int(cin * SE_RATIO))  # from the block's *input* width, not the expanded one
        self._se_reduce = Conv2dTFSame(mid, squeezed, 1)
        self._se_expand = Conv2dTFSame(squeezed, mid, 1)
        self._project_conv = Conv2dTFSame(mid, cout, 1, bias=False)
        self._bn2 = nn.InstanceNorm2d(cout, eps=IN_EPS)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = swish(self._bn0(self._expand_conv(inputs)))
        s = F.adaptive_avg_pool2d(x, 1)
        s = self._se_expand(swish(self._se_reduce(s)))
        x = torch.sigmoid(s) * x
        x = self._bn2(self._project_conv(x))
        return x + inputs if self.residual else x


class Member(nn.Module):
    """Assine2022BEncoder: stem 3x3/2 without padding (384 -> 191) + BatchNorm, no activation; five blocks."""

    def __init__(self):
        super().__init__()
        self.conv_stem = nn.Conv2d(3, STEM_OUT, 3, stride=2, bias=False)
        self.bn0 = nn.BatchNorm2d(STEM_OUT, eps=BN0_EPS)
        self.blocks = nn.ModuleList([MBConvBlockV2(*b) for b in BLOCKS])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn0(self.conv_stem(x))
        for b in self.blocks:
            x = b(x)
        return x


class SEE(nn.Module):
    def __init__(self):
        super().__init__()
        self.models = nn.ModuleList([Member() for _ in range(MEMBERS)])

    def forward(self, x: torch.Tensor, n: int = MEMBERS) -> torch.Tensor:
        y = self.models[0](x) * MEMBER_WEIGHTS[0]
        for i in range(1, n):
            y = y + self.models[i](x) * MEMBER_WEIGHTS[i]
        return y


class SEEMode(nn.Module):
    """SEE fixed at mode N: what the peers (ONNX, TorchScript) load, one file per mode."""

    def __init__(self, see: SEE, n: int):
        super().__init__()
        self.see, self.n = see, n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.see(x, self.n)


def build(seed: int = MODEL_SEED) -> SEE:
    """Random weights (PyTorch's default init under a fixed seed) and random BatchNorm statistics,
    so that folding the stem's BN is actually exercised; eval mode."""
    torch.manual_seed(seed)
    model = SEE()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.2)
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.3)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) * 1.5 + 0.25)
    return model.eval()


def golden_input() -> np.ndarray:
    """The test input: test/util.ts randn(3*384*384, INPUT_SEED, INPUT_SCALE), regenerated identically in TS."""
    return randn_like_ts(3 * 384 * 384, INPUT_SEED, INPUT_SCALE).reshape(1, 3, 384, 384)


# ----------------------------------------------------------------------------------------------
# Engine graph: the four members side by side as channel groups.
# ----------------------------------------------------------------------------------------------

def stack(ts: List[torch.Tensor]) -> np.ndarray:
    return torch.cat([t.detach().double() for t in ts], 0).numpy()


def export_graph(model: SEE, out_dir: str) -> dict:
    G = MEMBERS
    axis = {'members': list(range(1, G + 1))}
    ex = GraphExport(NAME, [3, 384, 384], modes=axis, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                     meta={'source': 'train/see.py', 'seed': MODEL_SEED, 'memberWeights': MEMBER_WEIGHTS,
                           'note': 'input is already normalized; output is the float 6x96x96 weighted member sum'})
    g = ex.graph('encoder', input='x', output='z')
    members = list(model.models)

    def per_mode(unit: int) -> List[int]:
        return [unit * n for n in axis['members']]

    # stem: conv 3 -> 6 per member, all members in one conv 3 -> 24; BN folded into scale/shift.
    H = 384
    OH = (H - 3) // 2 + 1  # 191, no padding
    g.buffer('x', [3, H, H])
    g.buffer('stem', [G * STEM_OUT, OH, OH])
    ex.tensor('stem.w', stack([m.conv_stem.weight for m in members]))           # [24][3][3][3]
    scale, shift = zip(*[fold_bn(m.bn0.weight, m.bn0.bias, m.bn0.running_mean, m.bn0.running_var, m.bn0.eps)
                         for m in members])
    ex.tensor('stem.scale', np.concatenate(scale))                               # [24]
    ex.tensor('stem.shift', np.concatenate(shift))                               # [24]
    g.layer('conv2d', x='x', y='stem', w='stem.w', scale='stem.scale', shift='stem.shift',
            cin=3, cout=G * STEM_OUT, groups=1, k=3, stride=2, pad='none', act='none',
            active={'coutActive': {'members': per_mode(STEM_OUT)}})

    cur, H = 'stem', OH
    for bi, (cin, cout, expand, stride, residual) in enumerate(BLOCKS):
        blocks = [m.blocks[bi] for m in members]
        mid = cin * expand
        R = blocks[0]._se_reduce.out_channels
        OH = math.ceil(H / stride)
        p = f'b{bi + 1}'
        # expand conv: [G*mid][cin][3][3], TF-SAME
        g.buffer(f'{p}.e', [G * mid, OH, OH])
        ex.tensor(f'{p}.conv.w', stack([b._expand_conv.weight for b in blocks]))
        g.layer('conv2d', x=cur, y=f'{p}.e', w=f'{p}.conv.w', cin=G * cin, cout=G * mid, groups=G, k=3,
                stride=stride, pad='tf-same', act='none', active={'groupsActive': {'members': per_mode(1)}})
        # InstanceNorm (no affine) + swish, in place
        g.layer('instnorm', x=f'{p}.e', y=f'{p}.e', C=G * mid, HW=OH * OH, eps=IN_EPS, act='swish',
                active={'cActive': {'members': per_mode(mid)}})
        # squeeze-excite per member: w1 [G*R][mid], w2 [G*mid][R]; act is the squeeze's swish, in place.
        # The kernel's cActive/rActive are per group and stay full: only the member count changes.
        ex.tensor(f'{p}.se.w1', stack([b._se_reduce.weight.reshape(R, mid) for b in blocks]))
        ex.tensor(f'{p}.se.b1', stack([b._se_reduce.bias for b in blocks]))
        ex.tensor(f'{p}.se.w2', stack([b._se_expand.weight.reshape(mid, R) for b in blocks]))
        ex.tensor(f'{p}.se.b2', stack([b._se_expand.bias for b in blocks]))
        g.layer('se', x=f'{p}.e', y=f'{p}.e', C=G * mid, R=G * R, groups=G, w1=f'{p}.se.w1', b1=f'{p}.se.b1',
                w2=f'{p}.se.w2', b2=f'{p}.se.b2', act='swish', H=OH, W=OH,
                active={'groupsActive': {'members': per_mode(1)}})
        # projection: grouped 1x1 [G*cout][mid]
        g.buffer(f'{p}.p', [G * cout, OH, OH])
        ex.tensor(f'{p}.proj.w', stack([b._project_conv.weight for b in blocks]))
        g.layer('conv2d', x=f'{p}.e', y=f'{p}.p', w=f'{p}.proj.w', cin=G * mid, cout=G * cout, groups=G, k=1,
                stride=1, pad='none', act='none', active={'groupsActive': {'members': per_mode(1)}})
        g.layer('instnorm', x=f'{p}.p', y=f'{p}.p', C=G * cout, HW=OH * OH, eps=IN_EPS, act='none',
                active={'cActive': {'members': per_mode(cout)}})
        if residual:
            assert stride == 1 and cin == cout
            g.layer('add', a=f'{p}.p', b=cur, y=f'{p}.p', n=G * cout * OH * OH, act='none',
                    active={'nActive': {'members': per_mode(cout * OH * OH)}})
        cur, H = f'{p}.p', OH

    C = BLOCKS[-1][1]
    g.buffer('z', [C, H, H])
    ex.tensor('ensemble.weights', np.array(MEMBER_WEIGHTS))
    g.layer('groupsum', x=cur, y='z', G=G, C=C, H=H, W=H, weights='ensemble.weights',
            active={'gActive': {'members': per_mode(1)}})
    paths = ex.save(out_dir)
    n_params = sum(int(np.prod(t['shape'])) for t in ex.tensors.values())
    print(f'graph: {paths["graph"]} ({len(g.layers)} layers, {n_params} floats)')
    return paths


# ----------------------------------------------------------------------------------------------
# Golden vectors and ONNX
# ----------------------------------------------------------------------------------------------

def nerr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm((a - b).ravel()) / max(np.linalg.norm(b.ravel()), 1e-12))


def export_golden(model: SEE, fix_dir: str) -> None:
    os.makedirs(fix_dir, exist_ok=True)
    x = golden_input()
    m64 = copy.deepcopy(model).double()  # same weights; the reference is computed in float64
    meta = {'input': {'generator': 'test/util.ts randn(n, seed, scale)', 'n': int(x.size), 'shape': [1, 3, 384, 384],
                      'seed': INPUT_SEED, 'scale': INPUT_SCALE,
                      'sha256': hashlib.sha256(x.astype('<f4').tobytes()).hexdigest()},
            'output': {'shape': [6, 96, 96], 'dtype': 'float32 little-endian', 'reference': 'PyTorch float64'},
            'modes': []}
    with torch.no_grad():
        for n in range(1, MEMBERS + 1):
            y64 = m64(torch.from_numpy(x).double(), n)[0].numpy()
            y32 = model(torch.from_numpy(x), n)[0].numpy()
            fname = f'out-n{n}.f32'
            y64.astype('<f4').tofile(os.path.join(fix_dir, fname))
            meta['modes'].append({'members': n, 'file': fname, 'l2': float(np.linalg.norm(y64)),
                                  'sum': float(y64.sum()), 'min': float(y64.min()), 'max': float(y64.max()),
                                  'torchF32Nerr': nerr(y32, y64)})
            print(f'golden N={n}: ||y||={meta["modes"][-1]["l2"]:.4f}, torch f32 vs f64 nerr {nerr(y32, y64):.2e}')
    with open(os.path.join(fix_dir, 'meta.json'), 'w') as f:
        json.dump(meta, f, indent=1)


def export_onnx(model: SEE, fix_dir: str, opset: int = 13) -> None:
    x = torch.from_numpy(golden_input())
    for n in range(1, MEMBERS + 1):
        path = os.path.join(fix_dir, f'{NAME}.n{n}.onnx')
        with warnings.catch_warnings():
            # The trace freezes the TF-SAME padding for 384x384 (intended: the ONNX is fixed-size), and
            # InstanceNorm always normalizes with the instance's own statistics, whatever the mode flag.
            warnings.simplefilter('ignore')
            torch.onnx.export(SEEMode(model, n), (x,), path, opset_version=opset, input_names=['x'],
                              output_names=['z'], do_constant_folding=True)
        print(f'onnx: {path} ({os.path.getsize(path)} bytes)')


def check_graph_semantics(model: SEE, graph_json: str, tensors_bin: str) -> None:
    """Re-run the exported graph in float64 torch ops from its own JSON and tensors.bin: catches layout
    mistakes in the export (group stacking, SE shapes, folding) before the engine sees them."""
    with open(graph_json) as f:
        gj = json.load(f)
    raw = np.fromfile(tensors_bin, dtype='<f4')

    def T(name: str) -> torch.Tensor:
        t = gj['tensors'][name]
        n = int(np.prod(t['shape']))
        return torch.from_numpy(raw[t['offset'] // 4: t['offset'] // 4 + n].astype(np.float64).reshape(t['shape']))

    g = gj['graphs']['encoder']
    x = torch.from_numpy(golden_input()[0]).double()
    with torch.no_grad():
        ref = {n: model.double()(x[None], n)[0] for n in range(1, MEMBERS + 1)}
        for n in range(1, MEMBERS + 1):
            mi = n - 1
            act = lambda L, f, dflt: L.get('active', {}).get(f, {}).get('members', [dflt] * MEMBERS)[mi]  # noqa: E731
            buf = {'x': x}
            for L in g['layers']:
                op = L['op']
                if op == 'conv2d':
                    gr, ga = L['groups'], act(L, 'groupsActive', L['groups'])
                    co = act(L, 'coutActive', L['cout'] * ga // gr)
                    w = T(L['w'])[:co]
                    xin = buf[L['x']][:w.shape[1] * (ga if gr > 1 else 1)]
                    if L['pad'] == 'tf-same':
                        pt, pb = tf_same_pads(xin.shape[1], L['k'], L['stride'])
                        xin = F.pad(xin, [pt, pb, pt, pb])
                    y = F.conv2d(xin[None], w, None, L['stride'], 0, 1, ga if gr > 1 else 1)[0]
                    if 'scale' in L:
                        y = y * T(L['scale'])[:co, None, None] + T(L['shift'])[:co, None, None]
                    buf[L['y']] = y
                elif op == 'instnorm':
                    c = act(L, 'cActive', L['C'])
                    y = F.instance_norm(buf[L['x']][None, :c], eps=L['eps'])[0]
                    buf[L['y']] = swish(y) if L['act'] == 'swish' else y
                elif op == 'se':
                    ga = act(L, 'groupsActive', L['groups'])
                    c, r = L['C'] // L['groups'] * ga, L['R'] // L['groups'] * ga
                    v = buf[L['x']][:c]
                    s = v.mean(dim=(1, 2))
                    h = F.conv1d(s[None, :, None], T(L['w1'])[:r, :, None], T(L['b1'])[:r], groups=ga)[0, :, 0]
                    h = swish(h)
                    e = F.conv1d(h[None, :, None], T(L['w2'])[:c, :, None], T(L['b2'])[:c], groups=ga)[0, :, 0]
                    buf[L['y']] = v * torch.sigmoid(e)[:, None, None]
                elif op == 'add':
                    a, b = buf[L['a']], buf[L['b']]
                    buf[L['y']] = a + b[:a.shape[0]]
                elif op == 'groupsum':
                    ga, C = act(L, 'gActive', L['G']), L['C']
                    w = T(L['weights'])
                    v = buf[L['x']]
                    buf[L['y']] = sum(v[i * C:(i + 1) * C] * w[i] for i in range(ga))
                else:
                    raise ValueError(f'check_graph_semantics: no reference for op {op}')
            e = nerr(buf[g['output']].numpy(), ref[n].numpy())
            print(f'graph JSON re-run N={n}: nerr vs model {e:.2e}')
            # scale/shift were folded in float64 and stored as float32: ~1e-8 is the floor here
            if e > 1e-6:
                raise SystemExit(f'see.py: exported graph disagrees with the model at N={n} (nerr {e:.2e})')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default=os.path.join(ROOT, 'test/fixtures/see'), help='graph JSON + tensors.bin')
    ap.add_argument('--fixtures', default=os.path.join(ROOT, 'test/fixtures/see'))
    ap.add_argument('--slim', default=os.path.join(ROOT, 'weights', f'{NAME}.slim'))
    ap.add_argument('--no-pack', action='store_true', help='skip slimsplit pack')
    ap.add_argument('--no-onnx', action='store_true')
    ap.add_argument('--no-golden', action='store_true')
    args = ap.parse_args()
    torch.set_num_threads(1)
    model = build()
    n_params = sum(p.numel() for p in model.models[0].parameters())
    print(f'one member: {n_params} parameters (+{2 * STEM_OUT} BN statistics)')
    paths = export_graph(model, args.out)
    check_graph_semantics(build(), paths['graph'], paths['tensors'])
    if not args.no_golden:
        export_golden(model, args.fixtures)
    if not args.no_onnx:
        export_onnx(model, args.fixtures)
    if not args.no_pack:
        run_packer(paths['graph'], paths['tensors'], args.slim, ROOT)
        size = os.path.getsize(args.slim)
        if size >= 2 * 1024 * 1024:
            raise SystemExit(f'see.py: {args.slim} is {size} bytes, over the 2 MB limit for a committed blob')
        print(f'packed: {args.slim} ({size} bytes)')


if __name__ == '__main__':
    main()
