/* WAMR backend of rt.h: the classic interpreter built without SIMD, AOT or WASI (hosts/c/build.sh),
 * as on a microcontroller. WAMR refuses a SIMD module at load when built without SIMD. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rt.h"
#include "wasm_export.h"

struct ss_rt {
  uint8_t *copy; /* wasm_runtime_load may rewrite the buffer it is given */
  wasm_module_t mod;
  wasm_module_inst_t inst;
  wasm_exec_env_t env;
};

static int initialized;

const char *ss_rt_name(void) { return "wamr-classic"; }
int ss_rt_has_simd(void) { return 0; }

ss_rt *ss_rt_load(const uint8_t *wasm, size_t len, char *err, size_t errlen) {
  if (!initialized) {
    RuntimeInitArgs init;
    memset(&init, 0, sizeof init);
    init.mem_alloc_type = Alloc_With_System_Allocator;
    if (!wasm_runtime_full_init(&init)) {
      snprintf(err, errlen, "wamr: runtime init failed");
      return NULL;
    }
    initialized = 1;
  }
  ss_rt *r = calloc(1, sizeof *r);
  char msg[128] = "";
  if (!r || !(r->copy = malloc(len))) {
    snprintf(err, errlen, "wamr: out of memory");
    free(r);
    return NULL;
  }
  memcpy(r->copy, wasm, len);
  r->mod = wasm_runtime_load(r->copy, (uint32_t)len, msg, sizeof msg);
  if (r->mod) r->inst = wasm_runtime_instantiate(r->mod, 64 * 1024, 0, msg, sizeof msg);
  if (r->inst) r->env = wasm_runtime_create_exec_env(r->inst, 64 * 1024);
  if (!r->env) {
    snprintf(err, errlen, "wamr: %s", msg[0] ? msg : "cannot create the execution environment");
    ss_rt_free(r);
    return NULL;
  }
  return r;
}

ss_fn ss_rt_find(ss_rt *r, const char *name) { return (ss_fn)wasm_runtime_lookup_function(r->inst, name); }

int ss_rt_call(ss_rt *r, ss_fn fn, int nargs, const uint32_t *args, int32_t *result, char *err, size_t errlen) {
  uint32_t argv[8] = {0};
  for (int i = 0; i < nargs && i < 8; i++) argv[i] = args[i];
  if (!wasm_runtime_call_wasm(r->env, (wasm_function_inst_t)fn, (uint32_t)nargs, argv)) {
    const char *e = wasm_runtime_get_exception(r->inst);
    snprintf(err, errlen, "wamr: %s", e ? e : "call failed");
    return -1;
  }
  *result = (int32_t)argv[0];
  return 0;
}

uint8_t *ss_rt_memory(ss_rt *r, uint32_t *size) {
  wasm_memory_inst_t m = wasm_runtime_get_default_memory(r->inst);
  *size = (uint32_t)(wasm_memory_get_cur_page_count(m) * wasm_memory_get_bytes_per_page(m));
  return (uint8_t *)wasm_memory_get_base_address(m);
}

void ss_rt_free(ss_rt *r) {
  if (!r) return;
  if (r->env) wasm_runtime_destroy_exec_env(r->env);
  if (r->inst) wasm_runtime_deinstantiate(r->inst);
  if (r->mod) wasm_runtime_unload(r->mod);
  free(r->copy);
  free(r);
}
