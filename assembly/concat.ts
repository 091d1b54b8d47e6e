import { pi, pp, act_apply } from './common';

// concat(p): y = act(a ++ b): a's na floats, then b's nb floats. In NCHW at batch 1 this is the
// concatenation on the channel axis (TensorFlow's ConcatV2 on NHWC's last axis after the
// importer's transpose). y must not overlap a or b.
// params: [0] a f32*  [1] b f32*  [2] y f32*  [3] na  [4] nb  [5] act code
export function concat(p: usize): void {
  const a = pp(p, 0), b = pp(p, 1), y = pp(p, 2);
  const na = pi(p, 3), nb = pi(p, 4), act = pi(p, 5);
  copyF32(a, y, na);
  copyF32(b, y + (<usize>na << 2), nb);
  // the activation in place over the copy: the same float operations (act4/actf) on both builds
  act_apply(y, na + nb, act);
}

function copyF32(src: usize, dst: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 16 <= n; i += 16) {
      const off = <usize>i << 2;
      const u = v128.load(src + off), v = v128.load(src + off, 16), w = v128.load(src + off, 32), z = v128.load(src + off, 48);
      v128.store(dst + off, u);
      v128.store(dst + off, v, 16);
      v128.store(dst + off, w, 32);
      v128.store(dst + off, z, 48);
    }
    for (; i + 4 <= n; i += 4) {
      const off = <usize>i << 2;
      v128.store(dst + off, v128.load(src + off));
    }
  } else {
    for (; i + 2 <= n; i += 2) {
      const off = <usize>i << 2;
      store<u64>(dst + off, load<u64>(src + off));
    }
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<u32>(dst + off, load<u32>(src + off));
  }
}
