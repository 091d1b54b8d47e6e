/**
 * Depthwise convolution (3x3 or 5x5, stride 1 or 2) with the fused conv epilogue.
 *
 *   import { loadEngine, Arena } from '../wasm.js';
 *   import { dwconv } from './dwconv.js';
 *   import { Act } from './act.js';
 *   import { convGeometry } from './types.js';
 *   const eng = loadEngine(), a = new Arena(eng);
 *   const C = 32, H = 112, W = 112;
 *   const { OH, OW } = convGeometry(H, W, 3, 1, 'same');
 *   const x = a.allocF32(C * H * W), w = a.allocF32(C * 9), y = a.allocF32(C * OH * OW);
 *   dwconv(eng, { x, w, y, cin: C, cout: C, groups: C, H, W, k: 3, stride: 1, pad: 'same', act: Act.relu6 });
 *   // a slimmed layer: only the first 16 channels run, with the same weights
 *   dwconv(eng, { x, w, y, cin: C, cout: C, groups: C, groupsActive: 16, H, W, k: 3, stride: 1, pad: 'same' });
 *
 * Layout: x [C][H][W], weights [C][1][k][k], y [cActive][OH][OW]; bias/scale/shift are [C].
 */
import type { Engine } from '../wasm.js';
import { convGeometry, type Conv2dArgs, type Padding } from './types.js';
import { actRef } from './act.js';

/** The active channel count: groupsActive, coutActive or cinActive (they must agree), else C. */
export function dwconvActive(a: Conv2dArgs): number {
  const given = [a.groupsActive, a.coutActive, a.cinActive].filter((v): v is number => v !== undefined);
  for (const v of given) {
    if (v !== given[0]) {
      throw new Error(`slimsplit: dwconv active channel counts disagree (groupsActive ${a.groupsActive}, coutActive ${a.coutActive}, cinActive ${a.cinActive})`);
    }
  }
  const c = given.length ? given[0] : a.cout;
  if (!Number.isInteger(c) || c < 1 || c > a.cout) throw new Error(`slimsplit: dwconv active channels ${c} must be in 1..${a.cout}`);
  return c;
}

/** The params struct for the `dwconv` kernel (layout documented in assembly/dwconv.ts). */
export function dwconvWords(a: Conv2dArgs): Int32Array {
  const groups = a.groups ?? 1;
  if (!(a.cin === a.cout && groups === a.cin)) {
    throw new Error(`slimsplit: dwconv needs groups == cin == cout, got groups ${groups}, cin ${a.cin}, cout ${a.cout}`);
  }
  if (a.k !== 3 && a.k !== 5) throw new Error(`slimsplit: dwconv supports k = 3 or 5, got k = ${a.k}`);
  if (a.stride !== 1 && a.stride !== 2) throw new Error(`slimsplit: dwconv supports stride 1 or 2, got ${a.stride}`);
  if ((a.dilation ?? 1) !== 1) throw new Error(`slimsplit: dwconv has dilation 1, got ${a.dilation}; a dilated depthwise conv runs through conv2d with groups = channels (convAuto)`);
  for (const [name, v] of [['cin', a.cin], ['H', a.H], ['W', a.W]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`slimsplit: dwconv ${name} must be a positive integer, got ${v}`);
  }
  for (const [name, p] of [['x', a.x], ['w', a.w], ['y', a.y]] as const) {
    if (!(Number.isInteger(p) && p > 0 && p % 4 === 0)) throw new Error(`slimsplit: dwconv pointer ${name}=${p} must be a non-zero multiple of 4`);
  }
  const act = a.act ?? 0;
  if (!(Number.isInteger(act) && act >= 0 && act <= 6)) throw new Error(`slimsplit: dwconv activation code ${act} is not one of 0..6`);
  const c = dwconvActive(a);
  const g = convGeometry(a.H, a.W, a.k, a.stride, a.pad);
  return Int32Array.of(
    a.x, a.w, a.y, a.bias ?? 0, a.scale ?? 0, a.shift ?? 0,
    c, a.H, a.W, g.OH, g.OW, a.k, a.stride, g.padT, g.padL, g.padB, g.padR, act,
  );
}

export function dwconv(eng: Engine, a: Conv2dArgs): void {
  eng.call('dwconv', dwconvWords(a));
}

/**
 * f64 reference: y [c][OH][OW] from x [>= c][H][W] and weights [>= c][k][k];
 * bias/scale/shift are per-channel arrays or undefined.
 */
export function dwconvRef(
  x: ArrayLike<number>, w: ArrayLike<number>,
  o: { c: number; H: number; W: number; k: number; stride: number; pad: Padding; act?: number;
    bias?: ArrayLike<number>; scale?: ArrayLike<number>; shift?: ArrayLike<number> },
): Float64Array {
  const { c: C, H, W, k, stride: s } = o;
  const g = convGeometry(H, W, k, s, o.pad);
  const y = new Float64Array(C * g.OH * g.OW);
  for (let c = 0; c < C; c++) {
    const b = o.bias ? o.bias[c] : 0, sc = o.scale ? o.scale[c] : 1, h = o.shift ? o.shift[c] : 0;
    for (let oy = 0; oy < g.OH; oy++) {
      for (let ox = 0; ox < g.OW; ox++) {
        let acc = 0;
        for (let ky = 0; ky < k; ky++) {
          const iy = oy * s - g.padT + ky;
          if (iy < 0 || iy >= H) continue;
          for (let kx = 0; kx < k; kx++) {
            const ix = ox * s - g.padL + kx;
            if (ix < 0 || ix >= W) continue;
            acc += w[(c * k + ky) * k + kx] * x[(c * H + iy) * W + ix];
          }
        }
        y[(c * g.OH + oy) * g.OW + ox] = actRef((acc + b) * sc + h, o.act ?? 0);
      }
    }
  }
  return y;
}
