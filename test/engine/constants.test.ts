// Constants mirrored between TypeScript and AssemblyScript: read from the assembly sources and
// compared with the TS tables, so that a new opcode, header word or activation added on one side
// only fails here instead of running the wrong kernel.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { OPCODES, PH, PLAN_MAGIC, PLAN_VERSION, RELOC, INDEX_MASK } from '../../src/engine/plan/words.js';
import { Act } from '../../src/engine/ops/act.js';
import { TAB_WORDS, PRECISION } from '../../src/codec/coder.js';

const asm = (f: string): string => readFileSync(new URL(`../../assembly/${f}`, import.meta.url), 'utf8');
/** `const NAME: type = value;` declarations of an assembly file, values evaluated as integers. */
function consts(src: string, prefix: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of src.matchAll(/^(?:export )?const (\w+): [iu]32 = ([^;]+);/gm)) {
    if (!m[1].startsWith(prefix)) continue;
    const v = m[2].trim();
    out.set(m[1].slice(prefix.length), /^-?(0x[0-9a-f]+|\d+)$/i.test(v) ? Number(v) : /^1 << (\d+)$/.exec(v) ? 2 ** Number(/^1 << (\d+)$/.exec(v)![1]) : NaN);
  }
  return out;
}
const camel = (s: string): string => s.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

describe('TS and AssemblyScript agree', () => {
  const plan = asm('plan.ts');

  it('kernel opcodes: every OPCODES entry is the assembly OP_<NAME>, and no opcode is missing', () => {
    const a = consts(plan, 'OP_');
    expect(a.size).toBeGreaterThan(10);
    expect(Object.fromEntries([...a].map(([k, v]) => [k.toLowerCase(), v]))).toEqual({ ...OPCODES });
  });

  it('plan header: magic, version, the word index of every header field the interpreter reads', () => {
    const header = asm('plan_header.ts');
    const c = consts(header, '');
    expect(c.get('PLAN_MAGIC')).toBe(PLAN_MAGIC);
    expect(c.get('PLAN_VERSION')).toBe(PLAN_VERSION);
    const p = consts(plan, '');
    expect(p.get('INDEX_MASK')).toBe(INDEX_MASK);
    expect(p.get('RELOC_BLOB')).toBe(RELOC.blob);
    expect(p.get('RELOC_ARENA')).toBe(RELOC.arena);
    const h = consts(header, 'PH_');
    expect(h.size).toBeGreaterThan(10);
    for (const [k, v] of h) expect([camel(k), v]).toEqual([camel(k), PH[camel(k) as keyof typeof PH]]);
  });

  it('activation codes', () => {
    const a = consts(asm('common.ts'), 'ACT_');
    expect(Object.fromEntries([...a].map(([k, v]) => [k.toLowerCase(), v]))).toEqual({ ...Act });
  });

  it('rANS table directory words and precision', () => {
    const r = asm('rans.ts');
    expect(consts(r, '').get('TAB_WORDS')).toBe(TAB_WORDS);
    expect(/^const M: u32 = 1 << (\d+);/m.exec(r)?.[1]).toBe(String(PRECISION));
  });
});
