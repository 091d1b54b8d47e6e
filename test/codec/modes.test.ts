// Modes (src/codec/modes.ts): the one spelling (parse and format), index arithmetic over the mode
// axes, and pickMode's choice under a budget.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  parseMode as parseModeTerm, parseModeList, formatMode, refKey, modeCount, modeDigits, modeIndex, modeAt, modeText, pickMode, referenceScores,
  ModeError, type AxisDef, type ModeInfo,
} from '../../src/codec/modes.js';

describe('parse and format', () => {
  it('parses modes and refuses malformed ones', () => {
    expect(parseModeTerm('members=2,bits=4')).toEqual({ members: 2, bits: 4 });
    expect(parseModeList('members=1,bits=2 members=4;bits=8')).toEqual([{ members: 1, bits: 2 }, { members: 4 }, { bits: 8 }]);
    expect(() => parseModeTerm('members=2,members=3')).toThrow(/members is given twice/);
    expect(() => parseModeTerm('depth=2')).toThrow(/'depth=2' is not axis=value/);
    expect(() => parseModeTerm('')).toThrow(/names no axis/);
  });

  it('formats every mode the way it parses, in axis order, with ModeError for bad text', () => {
    fc.assert(
      fc.property(fc.record({ members: fc.integer({ min: 1, max: 99 }), width: fc.integer({ min: 1, max: 99 }), bits: fc.integer({ min: 1, max: 16 }) }, { requiredKeys: [] }), (m) => {
        // (not `return expect(...)`: fast-check reads the returned chai Assertion as a false result)
        if (Object.keys(m).length === 0) expect(formatMode(m)).toBe('default');
        else expect(parseModeTerm(formatMode(m))).toEqual(m);
      }),
    );
    expect(formatMode({ bits: 4, members: 2 })).toBe('members=2,bits=4');
    expect(refKey({ members: 3, bits: 2 })).toBe('3,2');
    expect(refKey({})).toBe('1,8');
    expect(() => parseModeList('  ')).toThrow(ModeError);
  });
});

describe('mode index arithmetic', () => {
  const axes: AxisDef[] = [{ name: 'members', values: [1, 2, 3, 4] }, { name: 'bits', values: [1, 2, 4, 8] }];

  it('index <-> digits <-> values round trip, the last axis fastest', () => {
    expect(modeCount(axes)).toBe(16);
    expect(modeCount([])).toBe(1);
    for (let m = 0; m < 16; m++) expect(modeIndex(axes, modeDigits(axes, m))).toBe(m);
    expect(modeDigits(axes, 6)).toEqual([1, 2]);
    expect(modeAt(axes, 6)).toEqual({ members: 2, bits: 4 });
    expect(modeAt(axes, 15)).toEqual({ members: 4, bits: 8 });
    expect(modeText(axes, 6)).toBe('mode members=2,bits=4');
    expect(modeText([], 0)).toBe('the only mode');
  });
});

describe('pickMode', () => {
  const row = fc.record({
    members: fc.integer({ min: 1, max: 4 }), bits: fc.constantFrom(1, 2, 4, 8),
    expectedBytes: fc.integer({ min: 20, max: 2000 }), top1: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
  }).map(({ members, bits, expectedBytes, top1 }): ModeInfo => ({ mode: { members, bits }, expectedBytes, top1 }));
  const budget = fc.record({
    maxBytes: fc.option(fc.integer({ min: 1, max: 2500 }), { nil: undefined }),
    maxMembers: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
    maxBits: fc.option(fc.constantFrom(1, 2, 4, 8), { nil: undefined }),
  }, { requiredKeys: [] });
  const mem = (r: ModeInfo) => r.mode.members ?? 1, bits = (r: ModeInfo) => r.mode.bits ?? 8;

  it('picks a mode within the limits, and no fitting mode is more accurate', () => {
    fc.assert(
      fc.property(fc.array(row, { minLength: 1, maxLength: 16 }), budget, (table, b) => {
        const computeOk = table.filter((r) => mem(r) <= (b.maxMembers ?? 9) && bits(r) <= (b.maxBits ?? 9));
        if (computeOk.length === 0) {
          expect(() => pickMode(table, b)).toThrow(/no mode has members/);
          return;
        }
        const { info, fits } = pickMode(table, b);
        expect(computeOk).toContain(info);
        const fitting = computeOk.filter((r) => r.expectedBytes <= (b.maxBytes ?? Infinity));
        expect(fits).toBe(fitting.length > 0);
        if (!fits) {
          expect(info.expectedBytes).toBe(Math.min(...computeOk.map((r) => r.expectedBytes)));
          return;
        }
        expect(fitting).toContain(info);
        if (fitting.every((r) => r.top1 !== undefined)) {
          for (const r of fitting) expect(r.top1!).toBeLessThanOrEqual(info.top1!);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('without reference top-1 it picks the largest mode that fits (then the fewest members), as the device ranks them', () => {
    fc.assert(
      fc.property(fc.array(row, { minLength: 1, maxLength: 16 }), fc.integer({ min: 1, max: 2500 }), (rows, maxBytes) => {
        const table = rows.map((r) => ({ ...r, top1: undefined }));
        const fitting = table.filter((r) => r.expectedBytes <= maxBytes);
        if (fitting.length === 0) return;
        const { info } = pickMode(table, { maxBytes });
        const most = Math.max(...fitting.map((r) => r.expectedBytes));
        expect(info.expectedBytes).toBe(most);
        expect(mem(info)).toBe(Math.min(...fitting.filter((r) => r.expectedBytes === most).map(mem)));
      }),
      { numRuns: 300 },
    );
  });

  it('a tolerance picks the fewest members, then the fewest bytes, within it of the best that fits', () => {
    fc.assert(
      fc.property(fc.array(row, { minLength: 1, maxLength: 16 }), fc.integer({ min: 1, max: 2500 }), fc.double({ min: 0, max: 0.2, noNaN: true }), (table, maxBytes, tolerance) => {
        const full = table.map((r) => ({ ...r, top1: r.top1 ?? 0.5 }));
        const fitting = full.filter((r) => r.expectedBytes <= maxBytes);
        const { info, fits } = pickMode(full, { maxBytes, tolerance });
        if (!fits) return;
        const top = Math.max(...fitting.map((r) => r.top1));
        expect(info.top1!).toBeGreaterThanOrEqual(top - tolerance);
        for (const r of fitting.filter((q) => q.top1 >= top - tolerance)) {
          expect(mem(r) > mem(info) || (mem(r) === mem(info) && r.expectedBytes >= info.expectedBytes)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('tolerance 0 still breaks accuracy ties by members first (the counterexample CI found)', () => {
    const t: ModeInfo[] = [
      { mode: { members: 2, bits: 1 }, expectedBytes: 20, top1: 0.5 },
      { mode: { members: 1, bits: 1 }, expectedBytes: 21, top1: 0.5 },
      { mode: { members: 1, bits: 1 }, expectedBytes: 20, top1: 0 },
    ];
    expect(pickMode(t, { maxBytes: 21, tolerance: 0 }).info).toBe(t[1]);
    expect(pickMode(t, { maxBytes: 21 }).info).toBe(t[0]);
  });

  it('names a bad budget', () => {
    const t: ModeInfo[] = [{ mode: { members: 1, bits: 1 }, expectedBytes: 100 }];
    expect(() => pickMode(t, { maxBytes: -1 })).toThrow(/budget.maxBytes must be a positive number, got -1/);
    expect(() => pickMode(t, { maxMembers: Number.NaN })).toThrow(/budget.maxMembers/);
    expect(() => pickMode(t, { tolerance: 2 })).toThrow(/budget.tolerance must be in 0..1, got 2/);
  });
});

describe('referenceScores', () => {
  const t = (expectedBytes: number, top1?: number) => ({ expectedBytes, top1 });
  it('is the reference top-1 where the table has any, 0 for a row without one', () => {
    expect(referenceScores([t(100, 0.5), t(50), t(200, 0.9)])).toEqual([0.5, 0, 0.9]);
  });
  it('without any: the share of modes with fewer bytes, equal bytes tied', () => {
    expect(referenceScores([t(300), t(100), t(300), t(200)])).toEqual([0.5, 0, 0.5, 0.25]);
  });
});
