// The device path's memory: one bump allocator above __heap_base that grows the module's own
// memory (memory.grow inside WASM, so hosts such as wasm3, whose C API cannot grow memory, need
// nothing). Nothing is freed: init lays out everything the device keeps, and the frame area (pixels
// and resize scratch) is one region reused by every frame and grown only for a larger frame.

const PAGE: usize = 65536;

let g_top: usize = 0;

/** First free byte (0 before the first allocation). */
export function memTop(): usize {
  return g_top == 0 ? (<usize>__heap_base + 63) & ~(<usize>63) : g_top;
}

/** Grows memory so that [0, end) is inside it; false when the runtime refuses. */
export function ensure(end: usize): bool {
  const have = <usize>memory.size() * PAGE;
  if (end <= have) return true;
  const pages = <i32>((end - have + PAGE - 1) / PAGE);
  return memory.grow(pages) >= 0;
}

/** `bytes` at `alignment` (a power of two), or 0 when memory cannot grow that far. */
export function alloc(bytes: usize, alignment: usize): usize {
  const p = (memTop() + alignment - 1) & ~(alignment - 1);
  if (!ensure(p + bytes)) return 0;
  g_top = p + bytes;
  return p;
}

/** Back to an earlier memTop() (everything allocated after it is given up). */
export function release(top: usize): void {
  g_top = top;
}
