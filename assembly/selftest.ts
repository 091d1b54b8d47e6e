import { add } from './add';
import { act } from './act';
import { instnorm } from './instnorm';
import { se } from './se';
import { gap, maxpool } from './pool';
import { upsample2x } from './upsample';
import { groupsum } from './groupsum';
import { quantize, dequantize } from './quant';
import { matmul } from './matmul';
import { dwconv } from './dwconv';
import { conv2d } from './conv2d';

// self_test(): a conformance checksum for WASM runtimes (wasm3, WAMR, wabt's wasm-interp, ...).
//
// Runs add, act, instnorm, se, gap, maxpool, upsample2x, groupsum, quantize, dequantize,
// matmul, dwconv and conv2d on small inputs drawn from an LCG, and returns the FNV-1a hash
// (32-bit, as i32) of every output's bytes in that order. WASM float arithmetic is fully
// specified apart from NaN bit patterns, and no output here is NaN, so every conforming
// engine must return the same value for a given build. test/engine/selftest.test.ts recomputes it
// in TypeScript through the normal host calls and checks it under wasm-interp.
//
// It takes no arguments so that runtimes that call only argument-less exports can run it.
// Each call grows memory by SELFTEST_PAGES and works only in the new pages, so it never
// touches a host's arena; it returns 0 if memory cannot grow.

const SELFTEST_PAGES: i32 = 4;
const FNV_OFFSET: u32 = 2166136261;
const FNV_PRIME: u32 = 16777619;

let top: usize = 0;
let seed: u32 = 0;
let hash: u32 = 0;

function alloc(bytes: i32): usize {
  const p = top;
  top = (top + <usize>bytes + 15) & ~(<usize>15);
  return p;
}

// Numerical Recipes LCG; the top 24 bits give an exact float in [-1, 1).
function next(): f32 {
  seed = seed * 1664525 + 1013904223;
  return <f32>(seed >>> 8) * (<f32>1.0 / 16777216) * 2 - 1;
}

function rand(n: i32, scale: f32, offset: f32): usize {
  const p = alloc(n << 2);
  for (let i = 0; i < n; i++) store<f32>(p + (<usize>i << 2), next() * scale + offset);
  return p;
}

function words(n: i32): usize {
  return alloc(n << 2);
}

@inline function w(p: usize, i: i32, v: i32): void {
  store<i32>(p + (<usize>i << 2), v);
}
@inline function wp(p: usize, i: i32, v: usize): void {
  store<u32>(p + (<usize>i << 2), <u32>v);
}
@inline function wf(p: usize, i: i32, v: f32): void {
  store<f32>(p + (<usize>i << 2), v);
}

function fnv(p: usize, bytes: i32): void {
  let h = hash;
  for (let i = 0; i < bytes; i++) h = (h ^ <u32>load<u8>(p + <usize>i)) * FNV_PRIME;
  hash = h;
}

export function self_test(): i32 {
  const old = memory.grow(SELFTEST_PAGES);
  if (old < 0) return 0;
  top = <usize>old << 16;
  seed = 12345;
  hash = FNV_OFFSET;

  // add + relu6, n = 37
  {
    const a = rand(37, 4, 0), b = rand(37, 4, 0), y = alloc(37 * 4), p = words(5);
    wp(p, 0, a); wp(p, 1, b); wp(p, 2, y); w(p, 3, 37); w(p, 4, 2);
    add(p);
    fnv(y, 37 * 4);
  }
  // act: swish in place, n = 23 (expf/exp4 from common.ts: no import)
  {
    const x = rand(23, 5, 0), p = words(3);
    wp(p, 0, x); w(p, 1, 23); w(p, 2, 3);
    act(p);
    fnv(x, 23 * 4);
  }
  // instnorm C = 3, HW = 29, affine, hard-swish
  {
    const x = rand(87, 3, 10), g = rand(3, 1, 1), b = rand(3, 1, 0), y = alloc(87 * 4), p = words(9);
    wp(p, 0, x); wp(p, 1, y); w(p, 2, 3); w(p, 3, 29); wf(p, 4, 1e-5);
    wp(p, 5, g); wp(p, 6, b); w(p, 7, 4); w(p, 8, 3);
    instnorm(p);
    fnv(y, 87 * 4);
  }
  // se: 4 groups of 6 channels, 1 hidden unit each, 3 groups active, 3 x 3, relu
  {
    const x = rand(24 * 9, 2, 0), w1 = rand(4 * 6, 1, 0), b1 = rand(4, 1, 0), w2 = rand(24, 1, 0), b2 = rand(24, 1, 0);
    const y = alloc(24 * 9 * 4), s = alloc(7 * 4), p = words(16);
    wp(p, 0, x); wp(p, 1, y); w(p, 2, 24); w(p, 3, 4); w(p, 4, 4);
    wp(p, 5, w1); wp(p, 6, b1); wp(p, 7, w2); wp(p, 8, b2); w(p, 9, 1); w(p, 10, 3); w(p, 11, 3);
    w(p, 12, 6); w(p, 13, 1); w(p, 14, 3); wp(p, 15, s);
    se(p);
    fnv(y, 18 * 9 * 4);
  }
  // gap C = 5, 5 x 5
  {
    const x = rand(125, 3, 1), y = alloc(5 * 4), p = words(6);
    wp(p, 0, x); wp(p, 1, y); w(p, 2, 5); w(p, 3, 5); w(p, 4, 5); w(p, 5, 5);
    gap(p);
    fnv(y, 5 * 4);
  }
  // maxpool 3x3 / 2, pad 1: C = 2, 9 x 11 -> 5 x 6
  {
    const x = rand(2 * 99, 3, 0), y = alloc(60 * 4), p = words(12);
    wp(p, 0, x); wp(p, 1, y); w(p, 2, 2); w(p, 3, 9); w(p, 4, 11); w(p, 5, 3);
    w(p, 6, 2); w(p, 7, 1); w(p, 8, 1); w(p, 9, 5); w(p, 10, 6); w(p, 11, 2);
    maxpool(p);
    fnv(y, 60 * 4);
  }
  // upsample2x C = 2, 3 x 5
  {
    const x = rand(30, 1, 0), y = alloc(120 * 4), p = words(6);
    wp(p, 0, x); wp(p, 1, y); w(p, 2, 2); w(p, 3, 3); w(p, 4, 5); w(p, 5, 2);
    upsample2x(p);
    fnv(y, 120 * 4);
  }
  // groupsum G = 3, C = 4, 3 x 3, 2 groups active
  {
    const x = rand(3 * 36, 2, 0), wt = rand(3, 1, 0), y = alloc(36 * 4), p = words(8);
    wp(p, 0, x); wp(p, 1, y); w(p, 2, 3); w(p, 3, 4); w(p, 4, 3); w(p, 5, 3); wp(p, 6, wt); w(p, 7, 2);
    groupsum(p);
    fnv(y, 36 * 4);
  }
  // quantize 45 values (one 16-wide block pair plus a tail) to 4 bits, with NaN and +-inf; dequantize
  {
    const x = rand(45, 1.2, 0), q = alloc(45), y = alloc(45 * 4), p = words(7);
    store<u32>(x + 3 * 4, 0x7fc00000);
    store<u32>(x + 20 * 4, 0x7f800000);
    store<u32>(x + 33 * 4, 0xff800000);
    wp(p, 0, x); wp(p, 1, q); w(p, 2, 45); w(p, 3, 4); wf(p, 4, 0.1); w(p, 5, 8); w(p, 6, 45);
    quantize(p);
    fnv(q, 45);
    wp(p, 0, q); wp(p, 1, y);
    dequantize(p);
    fnv(y, 45 * 4);
  }
  // matmul (1x1 conv): 6 -> 5 channels, n = 11, bias, relu
  {
    const x = rand(66, 1, 0), wt = rand(30, 0.5, 0), b = rand(5, 0.2, 0), y = alloc(55 * 4), p = words(11);
    wp(p, 0, x); wp(p, 1, wt); wp(p, 2, y); wp(p, 3, b); w(p, 4, 0); w(p, 5, 0);
    w(p, 6, 6); w(p, 7, 6); w(p, 8, 5); w(p, 9, 11); w(p, 10, 1);
    matmul(p);
    fnv(y, 55 * 4);
  }
  // dwconv 3x3 / 1, pad 1: C = 4, 9 x 10, bias, relu6
  {
    const x = rand(360, 1, 0), wt = rand(36, 0.5, 0), b = rand(4, 0.2, 0), y = alloc(360 * 4), p = words(18);
    wp(p, 0, x); wp(p, 1, wt); wp(p, 2, y); wp(p, 3, b); w(p, 4, 0); w(p, 5, 0);
    w(p, 6, 4); w(p, 7, 9); w(p, 8, 10); w(p, 9, 9); w(p, 10, 10); w(p, 11, 3); w(p, 12, 1);
    w(p, 13, 1); w(p, 14, 1); w(p, 15, 1); w(p, 16, 1); w(p, 17, 2);
    dwconv(p);
    fnv(y, 360 * 4);
  }
  // conv2d 3x3 / 2, pad 1: 3 -> 8 channels, 9 x 10 -> 5 x 5, bias + scale + shift, swish
  {
    const x = rand(270, 1, 0), wt = rand(8 * 27, 0.3, 0), b = rand(8, 0.2, 0), sc = rand(8, 0.5, 1), sh = rand(8, 0.2, 0);
    const y = alloc(200 * 4), scratch = alloc(65536), p = words(25);
    wp(p, 0, x); wp(p, 1, wt); wp(p, 2, y); wp(p, 3, b); wp(p, 4, sc); wp(p, 5, sh); wp(p, 6, scratch);
    w(p, 7, 3); w(p, 8, 8); w(p, 9, 3); w(p, 10, 8); w(p, 11, 1); w(p, 12, 1);
    w(p, 13, 9); w(p, 14, 10); w(p, 15, 5); w(p, 16, 5);
    w(p, 17, 3); w(p, 18, 2); w(p, 19, 1); w(p, 20, 1); w(p, 21, 3); w(p, 22, 1); w(p, 23, 1); w(p, 24, 1);
    conv2d(p);
    fnv(y, 200 * 4);
  }
  return <i32>hash;
}
