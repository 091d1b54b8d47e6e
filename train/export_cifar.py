"""Export trained CIFAR-10 models to graph JSON + tensors (docs/GRAPH.md) with entropy-coder
statistics and golden vectors, and pack them into weights/*.slim (`slimsplit pack`).

    /usr/bin/python3 train/export_cifar.py --ckpt <split model>.npz --name see-cifar10 [flags] --baseline ''
    /usr/bin/python3 train/export_cifar.py --ckpt '' --baseline <baseline>.npz      # the JPEG baseline alone

The flags each shipped model was exported with are in train/recipes/<name>.sh. Writes
<out>/<name>.graph.json and .tensors.bin (encoder + decoder graphs, modes members x bits, symbol
counts over the training set for the rANS tables), the blob (weights/<name>.slim unless --blob or
--no-pack), and golden vectors (a few test images with PyTorch's codes and logits for every mode;
test/fixtures/<name>/, test/fixtures/cifar/ for see-cifar10). With --baseline, also
<out>/jpeg-baseline.graph.json and .tensors.bin and weights/jpeg-baseline.slim (the JPEG baseline's classifier).
"""
import argparse
import copy
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from data import MEAN, STD, to_input  # noqa: E402
from common_export import GraphExport, fold_bn, run_packer  # noqa: E402
from data import CLASSES, js_pixels, load  # noqa: E402
from model import BITS, C1, C2, C3, G, SlimSplit, decoder_input, load_checkpoint  # noqa: E402


def add_conv_bn(ex, g, name, conv, bn, x, y, act, groups=1, stride=1, active=None, cin_active=None):
    """A Conv2d (+ eval BatchNorm folded into the epilogue's scale/shift).

    bn may be a list with one BatchNorm per value of the members axis (switchable norm): the decoder's
    statistics depend on how many members' channels arrive, so each members value gets its own
    folded scale/shift and the plan switches the pointers with the mode."""
    w = conv.weight
    cout, cin_g, k, _ = w.shape
    fields = dict(x=x, y=y, w=ex.tensor(f'{name}.w', w, storage=weight_storage(name, w)), cin=cin_g * groups, cout=cout,
                  groups=groups, k=k, stride=stride, pad='same', act=act)
    active = dict(active or {})
    if conv.bias is not None:
        fields['bias'] = ex.tensor(f'{name}.bias', conv.bias)
    if isinstance(bn, list):
        sc, sh = [], []
        for i, b in enumerate(bn):
            scale, shift = fold_bn(b.weight, b.bias, b.running_mean, b.running_var, b.eps)
            sc.append(ex.tensor(f'{name}.scale.m{i + 1}', scale))
            sh.append(ex.tensor(f'{name}.shift.m{i + 1}', shift))
        active['scale'] = {'members': sc}
        active['shift'] = {'members': sh}
    elif bn is not None:
        scale, shift = fold_bn(bn.weight, bn.bias, bn.running_mean, bn.running_var, bn.eps)
        fields['scale'] = ex.tensor(f'{name}.scale', scale)
        fields['shift'] = ex.tensor(f'{name}.shift', shift)
    g.layer('conv2d', active=active or None, **fields)


Q8_MIN = 4096  # weights with at least this many values ship as int8 (per output channel)
# The bottleneck's last conv stays float32 (4,608 values, +14 KB): its outputs are rounded at 0.5 in the
# 1-bit modes. Measured (train/experiments/export_choices.py): int8 there moved (1 member, 1 bit) by -0.18 points on
# the shipped checkpoint but +0.29 on its GPU run before the fine-tune, i.e. within checkpoint noise; kept for the shipped one.
F32_WEIGHTS = ['enc.head']   # a list: --f32 replaces its contents, and the defaults below see that


def weight_storage(name, w, f32=F32_WEIGHTS):
    return 'q8' if w.numel() >= Q8_MIN and name not in f32 else None


def dense_head(model):
    """A refining model's head (refine=K) as the one dense conv the engine runs: output channel j*cm + i
    reads member j's and members j+K, j+2K, ...'s inputs (zeros elsewhere), so the prefix of active
    members (cinActive) sums exactly the members running. Returns the weight [K*cm, G*c, k, k] and, per
    members count, the summed biases of the members running (the conv's shift)."""
    head, K, cm = model.enc.head, model.refine, model.cfg['cm']
    w, bias = head.weight.detach(), head.bias.detach()
    c = w.shape[1]
    dense = torch.zeros(K * cm, G * c, *w.shape[2:], dtype=w.dtype)
    for k in range(G):
        j = k % K
        dense[j * cm:(j + 1) * cm, k * c:(k + 1) * c] = w[k * cm:(k + 1) * cm]
    shifts = []
    for n in range(1, G + 1):
        sh = torch.zeros(K * cm)
        for k in range(n):
            sh[(k % K) * cm:(k % K + 1) * cm] += bias[k * cm:(k + 1) * cm]
        shifts.append(sh)
    return dense, shifts


def quantize_rows(w):
    """int8 per first-axis row with an f32 scale (the packer's q8 storage), as float values."""
    flat = w.double().reshape(w.shape[0], -1)
    s = flat.abs().amax(1).clamp(min=1e-30) / 127
    q = torch.round(flat / s[:, None]).clamp(-127, 127)
    return (q * s[:, None]).reshape(w.shape).float()


def fake_quantize_weights(model, f32=F32_WEIGHTS):
    """Round every large weight to int8 per output channel (what the blob stores), in place, so that
    PyTorch's reference numbers are those of the shipped model. f32: module names kept float32."""
    with torch.no_grad():
        for name, m in model.named_modules():
            if not (isinstance(m, (nn.Conv2d, nn.Linear)) and weight_storage(name, m.weight, f32)):
                continue
            if name == 'enc.head' and model.refine:
                # The blob stores the dense head (dense_head): a row's scale covers every member it sums.
                dense = quantize_rows(dense_head(model)[0])
                K, cm, c = model.refine, model.cfg['cm'], m.weight.shape[1]
                for k in range(G):
                    j = k % K
                    m.weight[k * cm:(k + 1) * cm] = dense[j * cm:(j + 1) * cm, k * c:(k + 1) * c]
            else:
                m.weight.copy_(quantize_rows(m.weight))


@torch.no_grad()
def recalibrated(model, members, cal_u8, bs=500, bits_from=BITS):
    """A copy of the model whose decoder BatchNorm statistics are re-estimated with `members` members
    active (bits per sample at random from bits_from): the switchable norm of the members axis."""
    m = copy.deepcopy(model)
    for mod in m.dec.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.reset_running_stats()
            mod.momentum = None  # cumulative average over the calibration set
    m.dec.train()
    gen = torch.Generator().manual_seed(members)
    for i in range(0, len(cal_u8), bs):
        xb = to_input(torch.from_numpy(cal_u8[i:i + bs]))
        B = xb.shape[0]
        bits = torch.tensor(bits_from)[torch.randint(0, len(bits_from), (B,), generator=gen)]
        m(xb, torch.full((B,), members), bits)
    m.eval()
    return m


def add_encoder_convs(ex, g, enc, modes_members, model=None):
    """x [3,32,32] -> z [G*cm,S,S] in [0,1] (sigmoid), S = enc.side; [K*cm,S,S] when model refines (refine=K)."""
    cm = enc.head.out_channels // G
    S = enc.side
    K = model.refine if model is not None else 0
    per = lambda unit: {'members': [unit * n for n in modes_members]} if modes_members else None
    g.buffer('x', [3, 32, 32])
    g.buffer('e1', [G * C1, 32, 32])
    g.buffer('e2', [G * C2, 16, 16])
    g.buffer('z', [(K or G) * cm, S, S])
    act = lambda unit: {'coutActive': per(unit)} if modes_members else None
    grp = {'groupsActive': per(1)} if modes_members else None
    add_conv_bn(ex, g, 'enc.stem', enc.stem[0], enc.stem[1], 'x', 'e1', 'relu', active=act(C1))
    add_conv_bn(ex, g, 'enc.down', enc.down[0], enc.down[1], 'e1', 'e2', 'relu', groups=G, stride=2, active=grp)
    last = 'e2'
    if enc.enc in ('d8', 'd4'):
        g.buffer('e3', [G * C3, 8, 8])
        g.buffer('e4', [G * C3, 8, 8])
        add_conv_bn(ex, g, 'enc.down2', enc.down2[0], enc.down2[1], 'e2', 'e3', 'relu', groups=G, stride=2, active=grp)
        add_conv_bn(ex, g, 'enc.mid', enc.mid[0], enc.mid[1], 'e3', 'e4', 'relu', groups=G, active=grp)
        last = 'e4'
    if enc.enc == 'd4':
        w4 = enc.mid2[0].out_channels   # G x c4
        g.buffer('e5', [w4, 4, 4])
        g.buffer('e6', [w4, 4, 4])
        add_conv_bn(ex, g, 'enc.down3', enc.down3[0], enc.down3[1], 'e4', 'e5', 'relu', groups=G, stride=2, active=grp)
        add_conv_bn(ex, g, 'enc.mid2', enc.mid2[0], enc.mid2[1], 'e5', 'e6', 'relu', groups=G, active=grp)
        last = 'e6'
    if not K:
        add_conv_bn(ex, g, 'enc.head', enc.head, None, last, 'z', 'sigmoid', groups=G, active=grp)
        return
    dense, shifts = dense_head(model)
    cin = dense.shape[1]
    g.layer('conv2d', x=last, y='z', w=ex.tensor('enc.head.w', dense, storage=weight_storage('enc.head', dense)),
            cin=cin, cout=K * cm, groups=1, k=dense.shape[2], stride=1, pad='same', act='sigmoid',
            active={'cinActive': per(cin // G), 'coutActive': {'members': [cm * min(n, K) for n in modes_members]},
                    'shift': {'members': [ex.tensor(f'enc.head.shift.m{n}', sh) for n, sh in enumerate(shifts, 1)]}})


def add_decoder(ex, g, dec, src, cin_active=None, decs=None):
    """src [G*CM,S,S] (centred) -> logits [10]. decs: one decoder per members value (switchable norm).
    S = 16: stages at 16x16, 8x8, 4x4; S = 8 (no dec.d2): two blocks at 8x8, one at 4x4; S = 4 (no dec.d2,
    no dec.d3): three blocks at 4x4."""
    decs = decs or [dec]
    s16, s4 = dec.d2 is not None, dec.d3 is None
    D1, D2, D3 = dec.inp.out_channels, dec.b2.c1.out_channels, dec.b3.c1.out_channels
    sw = len(decs) > 1

    def bn(get):
        return [get(d) for d in decs] if sw else get(dec)
    S = 16 if s16 else 4 if s4 else 8
    g.buffer('h1', [D1, S, S]); g.buffer('h2', [D1, S, S]); g.buffer('h3', [D1, S, S])
    if s16:
        g.buffer('g1', [D2, 8, 8])
    if not s4:
        g.buffer('g2', [D2, 8, 8]); g.buffer('g3', [D2, 8, 8])
        g.buffer('k1', [D3, 4, 4]); g.buffer('k2', [D3, 4, 4]); g.buffer('k3', [D3, 4, 4])
    g.buffer('pooled', [D3]); g.buffer('logits', [10])
    # Missing members' channels are zeros in training; skipping them (cinActive) is the same sum.
    add_conv_bn(ex, g, 'dec.inp', dec.inp, None, src, 'h1', 'relu',
                active={'cinActive': cin_active} if cin_active else None)

    def block(name, get, a, t1, t2, C, HWb):
        blk = get(dec)
        add_conv_bn(ex, g, f'{name}.c1', blk.c1, bn(lambda d: get(d).b1), a, t1, 'relu')
        add_conv_bn(ex, g, f'{name}.c2', blk.c2, bn(lambda d: get(d).b2), t1, t2, 'none')
        g.layer('add', a=a, b=t2, y=a, n=C * HWb, act='relu')

    block('dec.b1', lambda d: d.b1, 'h1', 'h2', 'h3', D1, S * S)
    if s16:
        add_conv_bn(ex, g, 'dec.d2', dec.d2[0], bn(lambda d: d.d2[1]), 'h1', 'g1', 'relu', stride=2)
    if s4:
        block('dec.b2', lambda d: d.b2, 'h1', 'h2', 'h3', D2, 16)
        block('dec.b3', lambda d: d.b3, 'h1', 'h2', 'h3', D3, 16)
        last = 'h1'
    else:
        t = 'g1' if s16 else 'h1'
        block('dec.b2', lambda d: d.b2, t, 'g2', 'g3', D2, 64)
        add_conv_bn(ex, g, 'dec.d3', dec.d3[0], bn(lambda d: d.d3[1]), t, 'k1', 'relu', stride=2)
        block('dec.b3', lambda d: d.b3, 'k1', 'k2', 'k3', D3, 16)
        last = 'k1'
    g.layer('gap', x=last, y='pooled', C=D3, H=4, W=4)
    g.layer('matmul', x='pooled', y='logits', w=ex.tensor('dec.fc.w', dec.fc.weight, storage=weight_storage('dec.fc', dec.fc.weight)),
            bias=ex.tensor('dec.fc.bias', dec.fc.bias), cin=D3, cout=10, n=1, act='none')


# Context-adaptive coding (assembly/rans.ts rans_encode_ctx) per bit depth: K levels per neighbour,
# each min(v >> shift, K - 1), and the neighbours: PREV (left, up, previous channel: K^3 tables per
# channel) or DIAG (left, up, up-left, up-right: K^4). 8 bits stays per channel by default: with the
# 2^8 values fixed steps send, 64 contexts of 257-symbol tables would add ~1 MB to the blob; a
# learned step sends a few levels (table_width), and --ctx8 can then afford contexts.
PREV, DIAG = 'left,up,prev', 'left,up,up-left,up-right'
CONTEXTS = {1: (2, 0, PREV), 2: (4, 0, PREV), 4: (4, 2, PREV)}


def n_contexts(K, nb):
    return K ** (3 if nb == PREV else 4)


def contexts(sym, K, shift, nb=PREV):
    """sym int [n, C, H, W] -> the context index of every symbol (rans_encode_ctx's ctxOf)."""
    q = np.minimum(sym >> shift, K - 1)
    ctx = np.zeros_like(q)
    if nb == PREV:
        ctx[:, :, :, 1:] += q[:, :, :, :-1] * K * K   # left
        ctx[:, :, 1:, :] += q[:, :, :-1, :] * K       # up
        ctx[:, 1:] += q[:, :-1]                       # same position, previous channel
        return ctx
    ctx[:, :, :, 1:] += q[:, :, :, :-1] * K ** 3      # left
    ctx[:, :, 1:, :] += q[:, :, :-1, :] * K * K       # up
    ctx[:, :, 1:, 1:] += q[:, :, :-1, :-1] * K        # up-left
    ctx[:, :, 1:, :-1] += q[:, :, :-1, 1:]            # up-right
    return ctx


def table_width(model, b):
    """Symbols a b-bit table spans: the levels a learned step can send (round(1 / step) + 1, the
    engine's quantize of z in [0, 1]), else all 2^b. The packer gives larger values the escape."""
    if b not in model.learn_steps:
        return 2 ** b
    return min(2 ** b, int(np.round(np.float32(1) / np.float32(float(model.step_of(b))))) + 1)


def parse_ctx(v):
    """'K,shift' or 'K,shift,diag' (--ctx1/--ctx2/--ctx4/--ctx8) -> a CONTEXTS entry."""
    f = v.split(',')
    if len(f) not in (2, 3) or (len(f) == 3 and f[2] != 'diag'):
        raise SystemExit(f"context '{v}': expected K,shift or K,shift,diag")
    return (int(f[0]), int(f[1]), DIAG if len(f) == 3 else PREV)


@torch.no_grad()
def symbol_histograms(model, x_u8, bs=1000):
    """Per bit depth, per channel: counts of each symbol over the training set (no augmentation),
    and for the bit depths in CONTEXTS, per channel and context. For refining members also each
    members count's own counts (context counts where coded so), for the packer's per-mode costs."""
    CM = model.cfg['cm']
    C = (model.refine or G) * CM
    counts = {b: np.zeros((C, 2 ** b), dtype=np.int64) for b in BITS}
    ctx_counts = {b: np.zeros((C, n_contexts(K, nb), 2 ** b), dtype=np.int64) for b, (K, _, nb) in CONTEXTS.items()}
    # All members' channels at once; with refining members (refine=K) the values change with the
    # members count, so each channel's counts pool every mode that sends it (equal weight per mode).
    runs = range(1, G + 1) if model.refine else [G]
    per_mode = {n: {b: None for b in BITS} for n in runs} if model.refine else None
    for i in range(0, len(x_u8), bs):
        xb = to_input(torch.from_numpy(x_u8[i:i + bs]))
        for n in runs:
            z, _ = model.bottleneck(xb, torch.full((xb.shape[0],), n))
            Cn = min(n, model.refine or G) * CM
            for b in BITS:
                _, sym, _ = model.quantize(z[:, :Cn], torch.full((z.shape[0],), b))
                L = 2 ** b
                sym = sym.numpy()
                s = sym.transpose(1, 0, 2, 3).reshape(Cn, -1) + (np.arange(Cn) * L)[:, None]
                mc = np.bincount(s.ravel(), minlength=Cn * L).reshape(Cn, L)
                counts[b][:Cn] += mc
                if per_mode and b not in CONTEXTS:
                    per_mode[n][b] = mc if per_mode[n][b] is None else per_mode[n][b] + mc
                if b in CONTEXTS:
                    K, shift, nb = CONTEXTS[b]
                    nc = n_contexts(K, nb)
                    key = (contexts(sym, K, shift, nb) * L + sym).transpose(1, 0, 2, 3).reshape(Cn, -1) + (np.arange(Cn) * nc * L)[:, None]
                    cc = np.bincount(key.ravel(), minlength=Cn * nc * L).reshape(Cn, nc, L)
                    ctx_counts[b][:Cn] += cc
                    if per_mode:
                        per_mode[n][b] = cc if per_mode[n][b] is None else per_mode[n][b] + cc
    return counts, ctx_counts, per_mode


def export_split(model, decs, out_dir, counts, ctx_counts, torch_acc, torch_acc_pil=None, name='see-cifar10', per_mode=None):
    members = list(range(1, G + 1))
    CM = model.cfg['cm']
    S = model.enc.side
    HW = S * S
    K = model.refine or G
    sent = [min(m, K) for m in members]   # members whose channels mode m sends
    T = {b: table_width(model, b) for b in BITS}
    for b in BITS:
        if counts[b][:, T[b]:].any():
            raise SystemExit(f'{b} bits: training codes reach past the {T[b]} levels of the learned step')
    ex = GraphExport(name, [3, 32, 32], modes={'members': members, 'bits': list(BITS)},
                     mean=MEAN.flatten().tolist(), std=STD.flatten().tolist(),
                     meta={'source': 'train/cifar.py', 'classes': CLASSES, 'config': model.cfg,
                           # channelMembers: members past the first K refine those K's channels (docs/GRAPH.md)
                           'split': {'channelsPerMember': CM, 'H': S, 'W': S, **({'channelMembers': K} if model.refine else {})},
                           # rANS statistics: per bit depth, per channel, counts of symbols 0..T-1 (table_width)
                           # over the 50,000 training images; the packer turns them into 16-bit integer CDFs once.
                           'symbolCounts': {str(b): counts[b][:, :T[b]].tolist() for b in BITS},
                           # and per channel and context (left, up, previous channel) where coded so
                           'contextCounts': {str(b): {'K': CONTEXTS[b][0], 'shift': CONTEXTS[b][1], 'counts': ctx_counts[b][..., :T[b]].tolist(),
                                                      **({'neighbours': DIAG} if CONTEXTS[b][2] == DIAG else {})}
                                             for b in CONTEXTS},
                           # top-1 of the same model in PyTorch on the 10,000 test images, per mode
                           # ("members,bits"), for the engine's evaluation to compare against: on the
                           # pixels jpeg-js decodes (what `slimsplit eval` sees), and on Pillow's if computed
                           'pytorchTop1': torch_acc,
                           # refining members: each members count's own counts (symbol_histograms)
                           **({'modeCounts': {str(n): {str(b): c[..., :T[b]].tolist() for b, c in pm.items()} for n, pm in per_mode.items()}}
                              if per_mode else {}),
                           **({'pytorchTop1Pil': torch_acc_pil} if torch_acc_pil else {})})
    enc = ex.graph('encoder', input='x', output='codes')
    add_encoder_convs(ex, enc, model.enc, members, model)
    n = K * CM * HW
    enc.buffer('codes', [n])
    # Learned steps (train/cifar.py --learn-steps) ship as the f32 value training divided by, so the
    # engine's codes are PyTorch's; fixed ones as 1 / (2^b - 1), which the packer rounds to f32.
    step = {b: (float(model.step_of(b)) if b in model.learn_steps else 1 / (2 ** b - 1)) for b in BITS}
    enc.layer('quantize', x='z', y='codes', n=n, bits=BITS[-1], scale=step[BITS[-1]], zeroPoint=0,
              active={'nActive': {'members': [CM * HW * m for m in sent]},
                      'bits': {'bits': list(BITS)},
                      'scale': {'bits': [step[b] for b in BITS]}})
    dec = ex.graph('decoder', input='codes', output='logits')
    dec.buffer('codes', [n])
    dec.buffer('d0', [K * CM, S, S])
    # codes -> 2q/(L-1) - 1: the centred decoder input of training (model.decoder_input).
    dec.layer('dequantize', x='codes', y='d0', n=n, bits=BITS[-1], scale=2 * step[BITS[-1]], zeroPoint=0,
              active={'nActive': {'members': [CM * HW * m for m in sent]},
                      'bits': {'bits': list(BITS)},
                      'scale': {'bits': [2 * step[b] for b in BITS]}})
    dec.layer('affine', x='d0', y='d0', n=n, a=1.0, b=-1.0, act='none',
              active={'nActive': {'members': [CM * HW * m for m in sent]}})
    add_decoder(ex, dec, model.dec, 'd0', cin_active={'members': [CM * m for m in sent]}, decs=[d.dec for d in decs] if any(d is not decs[0] for d in decs) else None)
    return ex.save(out_dir)


def export_baseline(model, out_dir):
    ex = GraphExport('jpeg-baseline', [3, 32, 32], modes={}, mean=MEAN.flatten().tolist(), std=STD.flatten().tolist(),
                     meta={'source': 'train/jpeg_baseline.py', 'classes': CLASSES})
    g = ex.graph('classifier', input='x', output='logits')
    add_encoder_convs(ex, g, model.enc, None)
    g.layer('affine', x='z', y='z', n=model.enc.head.out_channels * model.enc.side ** 2, a=2.0, b=-1.0, act='none')
    add_decoder(ex, g, model.dec, 'z')
    return ex.save(out_dir)


@torch.no_grad()
def golden(model, decs, x_u8, y, fix_dir, n_img):
    """Codes and logits from PyTorch for the first n_img test images (a class-balanced pick), every mode."""
    os.makedirs(fix_dir, exist_ok=True)
    idx = np.concatenate([np.where(y == c)[0][:n_img // 10] for c in range(10)])
    imgs = x_u8[idx]
    xb = to_input(torch.from_numpy(imgs))
    out = {'images': 'images.u8', 'count': len(idx), 'labels': y[idx].tolist(), 'modes': []}
    imgs.astype(np.uint8).tofile(os.path.join(fix_dir, 'images.u8'))  # [n][32][32][3] RGB
    for m in range(1, G + 1):
        for b in BITS:
            B = len(idx)
            z, mask = model.bottleneck(xb, torch.full((B,), m))
            deq, sym, _ = model.quantize(z, torch.full((B,), b))
            logits = decs[m - 1].dec(decoder_input(deq, mask))
            codes = sym[:, :min(m, model.refine or G) * model.cfg['cm']].reshape(B, -1).numpy().astype(np.uint8)
            pred = logits.argmax(1).numpy()
            out['modes'].append({'members': m, 'bits': b, 'top1': pred.tolist(),
                                 'acc': float((pred == y[idx]).mean()),
                                 'logits': np.round(logits.numpy(), 5).tolist(),
                                 'codesSha': __import__('hashlib').sha256(codes.tobytes()).hexdigest()})
    with open(os.path.join(fix_dir, 'golden.json'), 'w') as f:
        json.dump(out, f)


@torch.no_grad()
def torch_top1(model, decs, x_u8, y, bs=1000):
    """PyTorch top-1 on the test set for every mode, with each members value's own norm statistics."""
    acc = {}
    x = [to_input(torch.from_numpy(x_u8[i:i + bs])) for i in range(0, len(x_u8), bs)]
    for n in range(1, G + 1):
        # refining members (refine=K) change the values with the members count: one encoder pass per count
        if n == 1 or model.refine:
            z = [model.bottleneck(xb, torch.full((xb.shape[0],), n))[0] for xb in x]
        for b in BITS:
            correct = 0
            for i, zb in zip(range(0, len(x_u8), bs), z):
                B = zb.shape[0]
                deq, _, _ = model.quantize(zb, torch.full((B,), b))
                lg = decs[n - 1].dec(decoder_input(deq, model.sent_mask(torch.full((B,), n), zb.device)))
                correct += (lg.argmax(1).numpy() == y[i:i + bs]).sum()
            acc[f'{n},{b}'] = float(correct) / len(y)
            print(f'pytorch top-1 members={n} bits={b}: {acc[f"{n},{b}"]:.4f}', flush=True)
    return acc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--ckpt', required=True, help="the split model's checkpoint (.npz); '' to export only --baseline")
    ap.add_argument('--baseline', default='', help="the JPEG baseline's checkpoint (.npz), exported and packed beside it")
    ap.add_argument('--out', default=os.path.join(ROOT, 'train/out/export'))
    ap.add_argument('--name', default='see-cifar10', help='model name (in the blob and its packets)')
    ap.add_argument('--blob', default='', help='output blob (default weights/<name>.slim)')
    ap.add_argument('--fixtures', default='', help='golden vectors (default test/fixtures/cifar, or test/fixtures/<name> for other names)')
    ap.add_argument('--golden-images', type=int, default=100)
    ap.add_argument('--calibration', type=int, default=10000, help='training images for the per-members norm statistics')
    ap.add_argument('--train-pixels', choices=['auto', 'pillow', 'jsdec'], default='auto',
                    help='training images for the norm statistics and coder counts as Pillow or jpeg-js decodes '
                         "them (auto: jsdec when the checkpoint was trained with --pixels jsdec or both)")
    ap.add_argument('--norm', choices=['training', 'members'], default='training',
                    help="decoder BatchNorm statistics: training's running averages, or re-estimated for each "
                         'members count (a switchable norm). Training normalizes batches that mix all modes, so '
                         'its weights expect the mixture\'s statistics; per-members statistics cost (1 member, 1 bit) '
                         '0.3-0.5 points once member 2 carried information')
    for b in BITS:
        ap.add_argument(f'--ctx{b}', default='', help=f"K,shift of the {b}-bit contexts, ',diag' for the left, up, up-left and "
                        f"up-right neighbours instead of left, up, previous channel (default "
                        + (f"{CONTEXTS[b][0]},{CONTEXTS[b][1]})" if b in CONTEXTS else "none: one table per channel)"))
    ap.add_argument('--f32', default=','.join(F32_WEIGHTS),
                    help="modules whose large weights stay float32, comma-separated ('' for int8 everywhere)")
    ap.add_argument('--no-pack', action='store_true')
    ap.add_argument('--hist-limit', type=int, default=0, help='symbol statistics from the first N training images (quick checks)')
    ap.add_argument('--test-limit', type=int, default=0, help='PyTorch accuracy on the first N test images (quick checks)')
    ap.add_argument('--top1-pixels', choices=['jpeg-js', 'both'], default='jpeg-js',
                    help="PyTorch's reference top-1 on the test images as jpeg-js decodes them (what the engine's "
                         "eval sees), or also on Pillow's pixels (what training saw; twice the time)")
    a = ap.parse_args()
    F32_WEIGHTS[:] = [m for m in a.f32.split(',') if m]
    for b in BITS:
        if getattr(a, f'ctx{b}'):
            CONTEXTS[b] = parse_ctx(getattr(a, f'ctx{b}'))
    blob = a.blob or os.path.join(ROOT, 'weights', f'{a.name}.slim')
    fixtures = a.fixtures or os.path.join(ROOT, 'test/fixtures', 'cifar' if a.name == 'see-cifar10' else a.name)
    torch.set_num_threads(int(os.environ.get('THREADS', '1')))
    if a.ckpt:
        model, info = load_checkpoint(a.ckpt)
        print(f'{a.ckpt}: config {info["cfg"]}, epochs {info.get("epochs", info.get("epoch"))}', flush=True)
        fake_quantize_weights(model)
        model.eval()
        xtr, _ = load('train')
        xte, yte = load('test')
        xjs = js_pixels('test', len(xte))
        tp = a.train_pixels
        if tp == 'auto':
            tp = 'jsdec' if (info.get('args') or {}).get('pixels', 'pillow') != 'pillow' else 'pillow'
        if tp == 'jsdec':
            xtr = js_pixels('train', len(xtr))
        print(f'training images for norm statistics and coder counts: {tp} pixels', flush=True)
        d = np.abs(xjs.astype(np.int16) - xte.astype(np.int16))
        print(f'jpeg-js vs Pillow test pixels: {100 * (d > 0).mean():.0f}% of values differ, mean |d| {d.mean():.2f}, max {d.max()}', flush=True)
        sel = (np.concatenate([np.where(yte == c)[0][:a.test_limit // 10] for c in range(10)]) if a.test_limit
               else np.arange(len(xte)))
        cal = xtr[np.random.default_rng(0).choice(len(xtr), a.calibration, replace=False)]
        if a.norm == 'members':
            decs = [recalibrated(model, n, cal) for n in range(1, G + 1)]
        else:
            decs = [model] * G
        print(f'decoder norm statistics: {a.norm}', flush=True)
        counts, ctx_counts, per_mode = symbol_histograms(model, xtr[:a.hist_limit] if a.hist_limit else xtr)
        print('PyTorch top-1 on jpeg-js pixels', flush=True)
        acc = torch_top1(model, decs, xjs[sel], yte[sel])
        acc_pil = None
        if a.top1_pixels == 'both':
            print("PyTorch top-1 on Pillow's pixels", flush=True)
            acc_pil = torch_top1(model, decs, xte[sel], yte[sel])
        paths = export_split(model, decs, a.out, counts, ctx_counts, acc, acc_pil, a.name, per_mode)
        golden(model, decs, xte, yte, fixtures, a.golden_images)
        if not a.no_pack:
            run_packer(paths['graph'], paths['tensors'], blob, ROOT)
    if a.baseline:
        base, binfo = load_checkpoint(a.baseline)
        print(f'{a.baseline}: config {binfo["cfg"]}, epochs {binfo.get("epochs", binfo.get("epoch"))}', flush=True)
        fake_quantize_weights(base)
        base.eval()
        bpaths = export_baseline(base, a.out)
        if not a.no_pack:
            run_packer(bpaths['graph'], bpaths['tensors'], os.path.join(ROOT, 'weights/jpeg-baseline.slim'), ROOT)
    for p in ([blob] if a.ckpt else []) + ([os.path.join(ROOT, 'weights', 'jpeg-baseline.slim')] if a.baseline else []):
        if os.path.exists(p):
            print(f'{p}: {os.path.getsize(p)} bytes')


if __name__ == '__main__':
    main()
