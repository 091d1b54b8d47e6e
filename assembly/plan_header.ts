// A compiled plan's header: its magic, version and the indices of its header words (PH in
// src/engine/plan/words.ts, same names). The plan interpreter (plan.ts) and the device path
// (device.ts, which checks the plan inside its blob before binding it) both read them from here.
export const PLAN_MAGIC: u32 = 0x4e4c5053; // "SPLN"
export const PLAN_VERSION: u32 = 1;

export const PH_MAGIC: i32 = 0;
export const PH_VERSION: i32 = 1;
export const PH_WORDS: i32 = 2;
export const PH_BOUND: i32 = 3;
export const PH_NREC: i32 = 4;
export const PH_REC: i32 = 5;
export const PH_NMODES: i32 = 6;
export const PH_MODES: i32 = 7;
export const PH_CUR: i32 = 8;
export const PH_ARENA_BYTES: i32 = 10;
export const PH_IN_OFF: i32 = 11;
export const PH_IN_BYTES: i32 = 12;
export const PH_IN_DTYPE: i32 = 13;
export const PH_OUT_OFF: i32 = 14;
export const PH_OUT_BYTES: i32 = 15;
export const PH_OUT_DTYPE: i32 = 16;
export const PH_BLOB_BASE: i32 = 17;
export const PH_ARENA_BASE: i32 = 18;
export const PH_PATCHES: i32 = 19;
export const PH_NPATCH: i32 = 20;
