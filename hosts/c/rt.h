/* The few things slimsplit_device.c needs from a WebAssembly runtime: load a module, find an
 * export, call it with i32 arguments and one i32 result, and see linear memory. One file per
 * runtime implements it (rt_wasm3.c, rt_wamr.c); port it to another runtime by writing a third. */
#ifndef SS_RT_H
#define SS_RT_H
#include <stddef.h>
#include <stdint.h>

typedef struct ss_rt ss_rt;
typedef void *ss_fn;

/* The runtime's name ("wasm3", "wamr-classic") and whether it runs WebAssembly SIMD. */
const char *ss_rt_name(void);
int ss_rt_has_simd(void);
/* Loads and instantiates a module (the bytes must outlive the instance); NULL and a message on failure. */
ss_rt *ss_rt_load(const uint8_t *wasm, size_t len, char *err, size_t errlen);
ss_fn ss_rt_find(ss_rt *rt, const char *name);
/* Calls fn with nargs u32 arguments; 0 and *result on success, -1 and a message on a trap. */
int ss_rt_call(ss_rt *rt, ss_fn fn, int nargs, const uint32_t *args, int32_t *result, char *err, size_t errlen);
/* Base of linear memory and its size; call again after any call (memory may have grown and moved). */
uint8_t *ss_rt_memory(ss_rt *rt, uint32_t *size);
void ss_rt_free(ss_rt *rt);
#endif
