"""The slimsplit CIFAR-10 model: a SEE-style ensemble encoder (device) and a small ResNet decoder (server).

Members are laid side by side as channel groups, so mode (N, b) runs the channel slice [0, N*k) of every
encoder layer and sends N * CM channels of SxS at b bits (S = 16, 8 or 4: where the split is, enc). Each member owns its own bottleneck
channels (concatenated, not averaged): member 0 must carry the image alone, members 1..3 add what it
left out, and the decoder sees the missing members' channels as zeros.

Every op here has an engine twin (conv2d with groups, folded BatchNorm as scale/shift, relu, sigmoid,
quantize, add, gap, matmul), so the exported graph runs unchanged in WASM.
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

G = 4            # ensemble members
C1, C2 = 16, 32  # per-member widths of the two encoder convs
CM = 8           # per-member bottleneck channels at 16x16 (default; a checkpoint's config may differ)
BITS = (1, 2, 4, 8)
D1, D2, D3 = 64, 128, 192  # decoder widths at 16x16, 8x8, 4x4 (default; a checkpoint's config may differ)


def conv_bn(cin, cout, stride=1, groups=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, groups=groups, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


C3 = 64          # per-member width of the deeper encoder's 8x8 convs (split at 8x8, enc='d8')
C4 = 128         # per-member width of its 4x4 convs (split at 4x4, enc='d4'; default of --c4)


class Encoder(nn.Module):
    """enc='s16': split at 16x16 after two convs (1.9 M multiply-adds per member).
    enc='d8': two more convs per member, split at 8x8 (5.5 M per member with cm=8): the device does more
    of the work so that fewer, more semantic values cross the link.
    enc='d4': two more (c4 channels per member), split at 4x4."""

    def __init__(self, cm=CM, enc='s16', c4=C4):
        super().__init__()
        self.stem = conv_bn(3, G * C1)                       # shared input: groups=1 is the same as per-member convs
        self.down = conv_bn(G * C1, G * C2, 2, groups=G)      # 32 -> 16
        c = C2
        if enc in ('d8', 'd4'):
            self.down2 = conv_bn(G * C2, G * C3, 2, groups=G)  # 16 -> 8
            self.mid = conv_bn(G * C3, G * C3, 1, groups=G)
            c = C3
        if enc == 'd4':
            self.down3 = conv_bn(G * C3, G * c4, 2, groups=G)  # 8 -> 4
            self.mid2 = conv_bn(G * c4, G * c4, 1, groups=G)
            c = c4
        self.enc = enc
        self.side = {'s16': 16, 'd8': 8, 'd4': 4}[enc]   # the bottleneck's spatial side
        self.head = nn.Conv2d(G * c, G * cm, 3, 1, 1, groups=G, bias=True)

    def pre(self, x):
        """The head's output before the sigmoid: [B, G*CM, S, S]."""
        h = self.down(self.stem(x))
        if self.enc in ('d8', 'd4'):
            h = self.mid(self.down2(h))
        if self.enc == 'd4':
            h = self.mid2(self.down3(h))
        return self.head(h)

    def forward(self, x):
        """Returns the continuous bottleneck in [0, 1]: [B, G*CM, S, S], S = self.side (16, 8 or 4)."""
        return torch.sigmoid(self.pre(x))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c1 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.b1 = nn.BatchNorm2d(c)
        self.c2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(c)

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)), inplace=True)
        return F.relu(x + self.b2(self.c2(y)), inplace=True)


class Decoder(nn.Module):
    """widths (D1, D2, D3): a 16x16 input, stages at 16x16, 8x8, 4x4. widths (D2, D3): an 8x8 input
    (enc='d8'), two blocks at 8x8 and one at 4x4. widths (D3,): a 4x4 input (enc='d4'), three blocks."""

    def __init__(self, cin=G * CM, widths=(D1, D2, D3)):
        super().__init__()
        # No BatchNorm on the first layer: its input statistics change with the number of members,
        # and a bias-only conv keeps one set of weights valid for every mode.
        if len(widths) == 3:
            D1, D2, D3 = widths
            self.inp = nn.Conv2d(cin, D1, 3, 1, 1, bias=True)
            self.b1 = Block(D1)
            self.d2 = conv_bn(D1, D2, 2)
        elif len(widths) == 2:
            D2, D3 = widths
            self.inp = nn.Conv2d(cin, D2, 3, 1, 1, bias=True)
            self.b1 = Block(D2)
            self.d2 = None
        else:   # (D3,): a 4x4 input (enc='d4'), three blocks at 4x4
            D2 = D3 = widths[0]
            self.inp = nn.Conv2d(cin, D3, 3, 1, 1, bias=True)
            self.b1 = Block(D3)
            self.d2 = None
        self.b2 = Block(D2)
        self.d3 = conv_bn(D2, D3, 2) if len(widths) > 1 else None
        self.b3 = Block(D3)
        self.fc = nn.Linear(D3, 10)

    def forward(self, z):
        x = F.relu(self.inp(z), inplace=True)
        x = self.b1(x)
        if self.d2 is not None:
            x = self.d2(x)
        x = self.b2(x)
        if self.d3 is not None:
            x = self.d3(x)
        x = self.b3(x)
        return self.fc(x.mean((2, 3)))


class RateModel(nn.Module):
    """Learned per-channel discrete distributions of the symbols, one set per bit depth.

    Its bits are both the rate term of the loss and, quantized to 16-bit integer CDFs at export,
    the static tables the rANS coder ships."""

    def __init__(self, cm=CM):
        super().__init__()
        self.logits = nn.ParameterDict({str(b): nn.Parameter(torch.zeros(G * cm, 2 ** b)) for b in BITS})

    def bits_table(self, b):
        return -F.log_softmax(self.logits[str(b)], dim=1) / math.log(2)  # [C, L]


def quantize(z, bits, step=None):
    """Uniform b-bit quantization of [0,1] values per sample (bits: LongTensor [B]), straight-through.
    Returns (dequantized values, integer symbols, continuous level position).

    step: optional [B] float step per sample (a learned step, SlimSplit.steps): symbols round(z / step),
    at most round(1 / step) <= 2^b - 1, dequantized as symbol * step. The division and product are the
    engine's quantize/dequantize with scale = step (f32), so PyTorch and the engine round alike; the step
    gets the LSQ gradient (the rounding error) from the task. Without it the 2^b - 1 steps of [0, 1]."""
    if step is not None:
        s = step.to(z.dtype).view(-1, 1, 1, 1)
        pos = z / s
        sym = torch.round(pos)
        # The returned position (for the rate term) does not move the step: the table's local slope
        # says nothing about how the table would change with the step (see SlimSplit.forward).
        return (pos + (sym - pos).detach()) * s, sym.long(), z / s.detach()
    L = (2 ** bits - 1).to(z.dtype).view(-1, 1, 1, 1)
    pos = z * L
    sym = torch.round(pos)
    deq = pos + (sym - pos).detach()
    return deq / L, sym.long(), pos


def member_mask(members, device, cm=CM):
    """[B, G*cm, 1, 1] mask: 1 for the channels of active members."""
    ch = torch.arange(G * cm, device=device) // cm
    return (ch.view(1, -1) < members.view(-1, 1)).float().view(-1, G * cm, 1, 1)


def refined(h, members, K):
    """Refining members (SlimSplit refine=K): member k >= K adds its pre-sigmoid head output to the
    channels of member k mod K, so modes past K members cost the bytes of K members and spend the extra
    compute on better values instead of more of them. h [B, G*cm, S, S] -> [B, K*cm, S, S]."""
    B, C, S, _ = h.shape
    on = (torch.arange(G, device=h.device).view(1, G) < members.view(-1, 1)).to(h.dtype)
    hv = h.view(B, G, C // G, S, S) * on.view(B, G, 1, 1, 1)
    return hv.view(B, G // K, K * (C // G), S, S).sum(1)


def decoder_input(deq, mask):
    # Centre to [-1, 1] so that a missing member (0) reads as "no information" rather than as a value.
    return (deq * 2 - 1) * mask


class SlimSplit(nn.Module):
    def __init__(self, cm=CM, dec=(D1, D2, D3), enc='s16', c4=C4, learn_steps=(), refine=0):
        super().__init__()
        self.cfg = {'cm': int(cm), 'dec': [int(d) for d in dec]}
        # refine=K: the first K members own the bottleneck's channels, later ones refine them (refined)
        self.refine = int(refine)
        if self.refine:
            if G % self.refine:
                raise ValueError(f'refine={refine}: {G} members do not split into groups of {refine}')
            self.cfg['refine'] = self.refine
        if enc != 's16':
            self.cfg['enc'] = enc   # older checkpoints have no 'enc': the 16x16 split
        if enc == 'd4':
            self.cfg['c4'] = int(c4)
        self.learn_steps = tuple(int(b) for b in learn_steps)
        if self.learn_steps:
            self.cfg['learnSteps'] = list(self.learn_steps)
            # log(1/step) per learned bit depth, from the full 2^b - 1 levels; the rate term pulls it
            # down (fewer levels are cheaper), the task loss up. Clamped by clamp_steps after each step.
            self.qlog = nn.Parameter(torch.tensor([math.log(2 ** b - 1) for b in self.learn_steps]))
        self.enc = Encoder(cm, enc, c4)
        self.hw = self.enc.side ** 2   # bottleneck values per channel
        self.dec = Decoder((self.refine or G) * cm, tuple(dec))
        self.rate = RateModel(cm)

    def step_of(self, b):
        """The quantizer step of bit depth b as a 0-d tensor (f32), or None for the fixed 1 / (2^b - 1)."""
        if b not in self.learn_steps:
            return None
        return torch.exp(-self.qlog[self.learn_steps.index(b)])

    def steps(self, bits):
        """[B] step per sample (fixed ones as 1 / (2^b - 1)), or None when no bit depth learns its step."""
        if not self.learn_steps:
            return None
        st = torch.zeros(bits.shape[0], device=bits.device)
        for b in BITS:
            s = self.step_of(b)
            st = torch.where(bits == b, s if s is not None else torch.tensor(1.0 / (2 ** b - 1), device=bits.device), st)
        return st

    def quantize(self, z, bits):
        return quantize(z, bits, self.steps(bits))

    @torch.no_grad()
    def clamp_steps(self):
        """Keep each learned step between one level (step 1) and the bit depth's 2^b - 1 levels."""
        if self.learn_steps:
            hi = torch.tensor([math.log(2 ** b - 1) for b in self.learn_steps], device=self.qlog.device)
            self.qlog.copy_(torch.minimum(self.qlog.clamp(min=0.0), hi))

    def levels(self):
        """{bits: 1 / step (the top code)} of every bit depth, for the training log."""
        return {b: (float(1 / self.step_of(b)) if b in self.learn_steps else 2 ** b - 1) for b in BITS}

    def bottleneck(self, x, members):
        """(z [B, C, S, S] in [0, 1], mask [B, C, 1, 1] of the channels sent) for members [B]: C is G*cm
        with a mask over the active members' channels, or K*cm for refining members (refine=K)."""
        if self.refine:
            z = torch.sigmoid(refined(self.enc.pre(x), members, self.refine))
        else:
            z = self.enc(x)
        return z, self.sent_mask(members, x.device)

    def sent_mask(self, members, device):
        """[B, C, 1, 1]: 1 for the bottleneck channels that members [B] send (bottleneck's C)."""
        if self.refine:
            return member_mask(members.clamp(max=self.refine), device, self.cfg['cm'])[:, :self.refine * self.cfg['cm']]
        return member_mask(members, device, self.cfg['cm'])

    def forward(self, x, members, bits, rate_w=None):
        """members, bits: LongTensor [B] (a mode per sample). rate_w: optional [G*cm] weight of each
        channel in soft_bits (the encoder's rate gradient); ce_bits always counts every bit.

        Returns (logits, ce_bits [B], soft_bits [B]). ce_bits is the true cost of the symbols under
        the learned tables (gradient to the tables only); soft_bits has the same value with the
        gradient going to the encoder only, through a linear interpolation of the detached table at
        the continuous level position (pulling values towards cheap levels)."""
        z, mask = self.bottleneck(x, members)
        if rate_w is not None:
            rate_w = rate_w[:z.shape[1]]
        deq, sym, pos = self.quantize(z, bits)
        logits = self.dec(decoder_input(deq, mask))
        ce_bits = torch.zeros(x.shape[0], device=x.device)
        soft_bits = torch.zeros(x.shape[0], device=x.device)
        for b in BITS:
            sel = bits == b
            if not sel.any():
                continue
            tab = self.rate.bits_table(b)[:z.shape[1]]           # [C, L] (refine: the carriers' rows)
            L = 2 ** b
            C = tab.shape[0]
            m = mask[sel]
            s = sym[sel].clamp(0, L - 1)                         # [n, C, H, W]
            p = pos[sel].clamp(0, L - 1)
            lo = p.detach().floor().clamp(max=L - 2).long()
            fr = p - lo
            ce = lookup(tab, s)
            td = tab.detach()
            soft = lookup(td, lo) * (1 - fr) + lookup(td, lo + 1) * fr
            ce_bits[sel] = (ce * m).sum((1, 2, 3))
            sw = m if rate_w is None else m * rate_w.view(1, -1, 1, 1)
            soft_bits[sel] = (soft * sw).sum((1, 2, 3))
            if b in self.learn_steps:
                # The interpolated table cost cannot see that fewer levels make the table itself
                # cheaper; at fine steps a value costs about h(z) + log2(1/step) bits, so the step gets
                # that derivative (the added term is 0 in value).
                ql = self.qlog[self.learn_steps.index(b)] / math.log(2)
                soft_bits[sel] = soft_bits[sel] + sw.sum((1, 2, 3)) * self.hw * (ql - ql.detach())
        return logits, ce_bits, soft_bits


def lookup(tab, idx):
    """tab [C, L], idx [n, C, H, W] -> tab[c, idx[n, c, h, w]]."""
    n, C, H, W = idx.shape
    flat = idx.permute(1, 0, 2, 3).reshape(C, -1)
    return tab.gather(1, flat).view(C, n, H, W).permute(1, 0, 2, 3)


def save_checkpoint(path, model, **info):
    """state_dict as float32 arrays in an .npz with the config as JSON: readable by any torch version
    (the GPU machine's torch 2.x writes what Debian's torch 1.13 reads)."""
    arrays = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    arrays['__meta__'] = np.frombuffer(json.dumps({'cfg': model.cfg, **info}).encode(), dtype=np.uint8)
    tmp = path + '.tmp.npz'
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def load_checkpoint(path):
    """(model, meta) from save_checkpoint's .npz, or from an older torch .pt (default config)."""
    if path.endswith('.npz'):
        d = np.load(path)
        meta = json.loads(bytes(d['__meta__']).decode())
        cfg = meta['cfg']
        model = SlimSplit(cfg['cm'], cfg['dec'], cfg.get('enc', 's16'), cfg.get('c4', C4), cfg.get('learnSteps', ()),
                          cfg.get('refine', 0))
        model.load_state_dict({k: torch.from_numpy(d[k]) for k in d.files if k != '__meta__'})
        return model, meta
    ck = torch.load(path, map_location='cpu')
    model = SlimSplit()
    model.load_state_dict(ck['model'])
    return model, {'cfg': model.cfg, 'epoch': ck.get('epoch'), 'args': ck.get('args')}


def multiply_adds(module, x):
    """Multiply-adds of one forward pass of module on x (convolutions and linear layers)."""
    total = [0]

    def hook(m, inp, out):
        if isinstance(m, nn.Conv2d):
            total[0] += out.numel() // out.shape[0] * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.Linear):
            total[0] += m.in_features * m.out_features
    hs = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        module(x)
    for h in hs:
        h.remove()
    return total[0]


if __name__ == '__main__':
    # The architecture figures docs/MODELS.md quotes: /usr/bin/python3 train/model.py
    for name, (cm, dec, enc, c4) in {'16x16 (shipped)': (4, (96, 160, 192), 's16', C4),
                                     '8x8 (shipped)': (8, (144, 160), 'd8', C4),
                                     '4x4 (shipped)': (16, (128,), 'd4', 64),
                                     '4x4, wide (not shipped)': (16, (192,), 'd4', 128)}.items():
        m = SlimSplit(cm, dec, enc, c4).eval()
        z = m.enc(torch.zeros(1, 3, 32, 32))
        n = lambda mod: sum(p.numel() for p in mod.parameters())
        print(f'{name}: bottleneck {list(z.shape[1:])}, device {multiply_adds(m.enc, torch.zeros(1, 3, 32, 32)) / G / 1e6:.2f} M '
              f'multiply-adds per member, server {multiply_adds(m.dec, z) / 1e6:.1f} M, weights {(n(m.enc) + n(m.dec)) / 1e6:.2f} M')
