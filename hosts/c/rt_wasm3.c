/* wasm3 backend of rt.h. wasm3 cannot grow memory from the host, and need not: the module grows
 * its own (memory.grow inside WASM). No SIMD: wasm3 fails at the first SIMD instruction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rt.h"
#include "wasm3.h"

struct ss_rt {
  IM3Environment env;
  IM3Runtime rt;
};

const char *ss_rt_name(void) { return "wasm3"; }
int ss_rt_has_simd(void) { return 0; }

ss_rt *ss_rt_load(const uint8_t *wasm, size_t len, char *err, size_t errlen) {
  ss_rt *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->env = m3_NewEnvironment();
  r->rt = r->env ? m3_NewRuntime(r->env, 64 * 1024, NULL) : NULL;
  IM3Module mod = NULL;
  M3Result res = !r->rt ? "out of memory" : m3_ParseModule(r->env, &mod, wasm, (uint32_t)len);
  if (!res) res = m3_LoadModule(r->rt, mod);
  if (res) {
    snprintf(err, errlen, "wasm3: %s", res);
    ss_rt_free(r);
    return NULL;
  }
  return r;
}

ss_fn ss_rt_find(ss_rt *r, const char *name) {
  IM3Function f = NULL;
  return m3_FindFunction(&f, r->rt, name) ? NULL : (ss_fn)f;
}

int ss_rt_call(ss_rt *r, ss_fn fn, int nargs, const uint32_t *args, int32_t *result, char *err, size_t errlen) {
  const void *ptrs[8];
  for (int i = 0; i < nargs && i < 8; i++) ptrs[i] = &args[i];
  M3Result res = m3_Call((IM3Function)fn, (uint32_t)nargs, ptrs);
  if (!res) {
    const void *out[1] = {result};
    res = m3_GetResults((IM3Function)fn, 1, out);
  }
  if (res) {
    M3ErrorInfo info;
    m3_GetErrorInfo(r->rt, &info);
    snprintf(err, errlen, "wasm3: %s%s%s", res, info.message ? ": " : "", info.message ? info.message : "");
    return -1;
  }
  return 0;
}

uint8_t *ss_rt_memory(ss_rt *r, uint32_t *size) { return m3_GetMemory(r->rt, size, 0); }

void ss_rt_free(ss_rt *r) {
  if (!r) return;
  if (r->rt) m3_FreeRuntime(r->rt);
  if (r->env) m3_FreeEnvironment(r->env);
  free(r);
}
