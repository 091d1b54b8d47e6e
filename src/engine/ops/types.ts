/**
 * Argument shapes shared by the convolution-family ops (src/engine/ops/conv2d.ts,
 * dwconv.ts, matmul.ts). All pointers are byte offsets into the engine's memory.
 */
export type Padding = 'none' | 'same' | 'tf-same';

/**
 * What the dense kernels (conv2d, dwconv, matmul) share: pointers, full and active channel counts,
 * and the fused epilogue y = act((acc + bias) * scale + shift).
 */
export interface DenseArgs {
  x: number;
  /** weights, full (allocated) sizes */
  w: number;
  y: number;
  /** optional per-output-channel f32 vectors [cout] (0 or undefined = absent) */
  bias?: number;
  scale?: number;
  shift?: number;
  /** full channel counts the weights were allocated with */
  cin: number;
  cout: number;
  /** active channel prefixes (conv2d: groups = 1 only); default to the full counts */
  cinActive?: number;
  coutActive?: number;
  /** activation code (src/engine/ops/act.ts) */
  act?: number;
}

/** x NCHW [cin][H][W], w OIHW [cout][cin/groups][k][k], y NCHW [coutActive][OH][OW]. */
export interface Conv2dArgs extends DenseArgs {
  /** scratch for kernels that need it; size from the op's scratchBytes() */
  scratch?: number;
  /** 1, cin (depthwise), or G equal groups (an ensemble laid side by side) */
  groups?: number;
  /** active groups (the first g run); defaults to groups */
  groupsActive?: number;
  H: number;
  W: number;
  k: number;
  stride: number;
  pad: Padding;
  /** tap (ky, kx) reads input (oy*stride + ky*dilation, ox*stride + kx*dilation) before padding; default 1 (conv2d only: dwconv and matmul refuse > 1) */
  dilation?: number;
}

export interface ConvGeometry {
  OH: number;
  OW: number;
  padT: number;
  padL: number;
  padB: number;
  padR: number;
}

/**
 * Output size and padding. 'same' is symmetric (k/2 each side, PyTorch padding=k//2);
 * 'tf-same' is TensorFlow's SAME: total = max((ceil(H/s)-1)*s + k - H, 0), the odd
 * extra row/column going to the bottom/right. With dilation d every rule uses the extent
 * one output reads, (k-1)*d + 1, in place of k (PyTorch padding=d*(k-1)/2; TF's and ONNX's
 * SAME with dilation).
 */
export function convGeometry(H: number, W: number, kernel: number, stride: number, pad: Padding, dilation = 1): ConvGeometry {
  if (!(kernel >= 1 && stride >= 1 && Number.isInteger(dilation) && dilation >= 1)) throw new Error(`slimsplit: bad conv geometry k=${kernel} stride=${stride} dilation=${dilation}`);
  const k = (kernel - 1) * dilation + 1;
  let padT = 0, padL = 0, padB = 0, padR = 0;
  if (pad === 'same') {
    padT = padB = padL = padR = (k - 1) >> 1;
  } else if (pad === 'tf-same') {
    const th = Math.max((Math.ceil(H / stride) - 1) * stride + k - H, 0);
    const tw = Math.max((Math.ceil(W / stride) - 1) * stride + k - W, 0);
    padT = th >> 1; padB = th - padT; padL = tw >> 1; padR = tw - padL;
  } else if (pad !== 'none') {
    throw new Error(`slimsplit: unknown padding '${pad as string}' (expected none, same or tf-same)`);
  }
  const OH = Math.floor((H + padT + padB - k) / stride) + 1;
  const OW = Math.floor((W + padL + padR - k) / stride) + 1;
  if (OH < 1 || OW < 1) throw new Error(`slimsplit: conv ${kernel}x${kernel}/${stride}${dilation > 1 ? ` dilation ${dilation} (extent ${k}x${k})` : ''} on ${H}x${W} gives an empty output`);
  return { OH, OW, padT, padL, padB, padR };
}
