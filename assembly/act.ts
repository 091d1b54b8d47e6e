import { pi, pp, act_apply } from './common';

// act(p): in-place activation.
// params: [0] ptr f32*  [1] n  [2] act code (common.ts)
export function act(p: usize): void {
  act_apply(pp(p, 0), pi(p, 1), pi(p, 2));
}
