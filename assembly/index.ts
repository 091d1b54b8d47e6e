// The kernel module. Built twice from this one source (asconfig.json targets
// "simd" and "scalar"); ASC_FEATURE_SIMD selects the code path at compile time,
// so both builds export exactly the same functions. Zero imports: memory is
// exported and the host (or a bare runtime) plans one arena above heap_base().
export { act, exp_f32 } from './act';
export { add } from './add';
export { affine } from './affine';
export { matmul } from './matmul';
export { dwconv } from './dwconv';
export { instnorm } from './instnorm';
export { se } from './se';
export { gap, maxpool } from './pool';
export { groupsum } from './groupsum';
export { upsample2x } from './upsample';
export { chshuffle } from './chshuffle';
export { conv2d } from './conv2d';
export { quantize, dequantize, quantize_pc, dequantize_pc } from './quant';
export { mul } from './mul';
export { concat } from './concat';
export { resize_bilinear } from './resize';
export { avgpool } from './avgpool';
export { softmax } from './softmax';
export { self_test } from './selftest';
export { rans_init, rans_encode, rans_decode, rans_encode_ctx, rans_decode_ctx } from './rans';
export { plan_bind, plan_run, plan_set_mode, plan_check, plan_supports, plan_arena_bytes, plan_modes, plan_mode, plan_input, plan_output, plan_input_dtype, plan_output_dtype, plan_input_elems, plan_output_elems } from './plan';

export { device_blob_alloc, device_init, device_set_mode, device_mode, device_modes, device_mode_info, device_model_id, device_error_detail, device_pixels, device_run, device_codes, device_encode, device_packet, device_memory_used, device_memory_size } from './device';

export function heap_base(): usize {
  return __heap_base;
}

export function has_simd(): i32 {
  return ASC_FEATURE_SIMD ? 1 : 0;
}
