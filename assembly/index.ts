// The kernel module. Built twice from this one source (asconfig.json targets
// "simd" and "scalar"); ASC_FEATURE_SIMD selects the code path at compile time,
// so both builds export exactly the same functions. Zero imports: memory is
// exported and the host (or a bare runtime) plans one arena above heap_base().
export { act } from './act';
export { add } from './add';
export { matmul } from './matmul';
export { dwconv } from './dwconv';
export { rans_init, rans_encode, rans_decode } from './rans';
export { conv2d } from './conv2d';
export { instnorm } from './instnorm';
export { se } from './se';
export { gap, maxpool } from './pool';
export { groupsum } from './groupsum';
export { upsample2x } from './upsample';
export { quantize, dequantize, quantize_pc, dequantize_pc } from './quant';

export function heap_base(): usize {
  return __heap_base;
}

export function has_simd(): i32 {
  return ASC_FEATURE_SIMD ? 1 : 0;
}
