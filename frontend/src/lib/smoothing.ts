/**
 * Exponential moving average with the standard bias correction (as TensorBoard and W&B draw it):
 *
 *   s_t = b * s_{t-1} + (1 - b) * x_t,  s_0 = 0,   shown value = s_t / (1 - b^t)
 *
 * where t counts the finite points seen so far. Without the division the curve would start near 0 and
 * creep up; with it the first shown value is exactly x_1. Missing values (null, NaN, ±Infinity) stay
 * missing and do not advance t. b = 0 returns the raw values.
 */
export function ema(values: ArrayLike<number | null | undefined>, beta: number): (number | null)[] {
  const b = Math.min(Math.max(beta, 0), 0.999);
  const out: (number | null)[] = new Array(values.length);
  let s = 0;
  let t = 0;
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (x === null || x === undefined || !Number.isFinite(x)) {
      out[i] = null;
      continue;
    }
    if (b === 0) {
      out[i] = x;
      continue;
    }
    t += 1;
    s = b * s + (1 - b) * x;
    out[i] = s / (1 - Math.pow(b, t));
  }
  return out;
}
