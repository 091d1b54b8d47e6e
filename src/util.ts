/** Small numeric helpers shared by every layer (defined once here). */

/** x rounded up to a multiple of a. */
export function align(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

/** Number of elements of a shape (1 for a scalar's []). */
export function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The median (the mean of the middle two for an even count); NaN for none. */
export function median(v: readonly number[]): number {
  if (v.length === 0) return NaN;
  const s = [...v].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

export function mean(v: readonly number[]): number {
  return v.reduce((a, b) => a + b, 0) / v.length;
}

/** A shape as error messages print it: [3, 32, 32]. */
export function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
