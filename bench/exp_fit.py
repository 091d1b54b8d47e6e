"""The polynomial of assembly/common.ts's exp: e^r ~ 1 + r + r^2 (Q0 + Q1 r + Q2 r^2 + Q3 r^3) on
|r| <= ln2/2 (plus a margin for the reduction's rounding), fitted for minimax relative error by
Lawson's iteratively reweighted least squares, then checked as the kernel evaluates it in f32.

    /usr/bin/python3 bench/exp_fit.py
"""
import numpy as np

h = np.log(2) / 2 * 1.0005
r = np.cos(np.linspace(0, np.pi, 4001)) * h
f = np.exp(r)
t = f - 1 - r
A = np.stack([r ** 2, r ** 3, r ** 4, r ** 5], 1)
w = np.ones_like(r)
for _ in range(200):
    W = w / f  # relative error of e^r
    c, *_ = np.linalg.lstsq(A * W[:, None], t * W, rcond=None)
    e = np.abs((A @ c - t) / f)
    w = np.maximum(w * e / (w * e).sum(), 1e-12)
print('Q0..Q3 =', c.astype(np.float32).tolist(), f'(max relative error {e.max():.2e} in exact arithmetic)')

# The kernel's evaluation, step by step in float32 (Cody-Waite reduction, Horner, scale by 2^n).
q = c.astype(np.float32)
f32 = np.float32
L2E, C1, C2 = f32(1.44269504088896341), f32(0.693359375), f32(-2.12194440e-4)
x = np.linspace(-87, 88.7, 2000001).astype(np.float32)
fx = np.round(x * L2E).astype(np.float32)
rr = (x - fx * C1) - fx * C2
z = rr * rr
p = q[3] * rr + q[2]
p = p * rr + q[1]
p = p * rr + q[0]
y = (p * z + rr) + f32(1)
exact = np.exp(x.astype(np.float64))
rel = np.abs(y.astype(np.float64) * 2.0 ** fx.astype(np.float64) - exact) / exact
print(f'evaluated in float32 over [-87, 88.7]: max relative error {rel.max():.2e}')
