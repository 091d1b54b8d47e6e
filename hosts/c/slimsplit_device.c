/* slimsplit_device.h over rt.h: the host's whole job is moving bytes in and out of linear memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rt.h"
#include "slimsplit_device.h"

enum { F_ALLOC, F_INIT, F_SET_MODE, F_MODES, F_MODE_INFO, F_PIXELS, F_ENCODE, F_PACKET, F_USED, F_SIZE, F_DETAIL, F_COUNT };
static const char *const NAMES[F_COUNT] = {
  "device_blob_alloc", "device_init", "device_set_mode", "device_modes", "device_mode_info", "device_pixels",
  "device_encode", "device_packet", "device_memory_used", "device_memory_size", "device_error_detail",
};

struct ss_device {
  ss_rt *rt;
  ss_fn fn[F_COUNT];
  char err[256];
};

/* Calls export f; returns its i32 result, or SS_E_TRAP with d->err set. */
static int32_t call(ss_device *d, int f, int nargs, uint32_t a0, uint32_t a1, uint32_t a2) {
  uint32_t args[3] = {a0, a1, a2};
  int32_t r = 0;
  if (ss_rt_call(d->rt, d->fn[f], nargs, args, &r, d->err, sizeof d->err) != 0) return SS_E_TRAP;
  return r;
}

static int status(ss_device *d, const char *what, int32_t rc) {
  if (rc < 0 && rc != SS_E_TRAP) {
    int32_t detail = call(d, F_DETAIL, 0, 0, 0, 0);
    snprintf(d->err, sizeof d->err, "%s: status %d (detail %d; docs/DEVICE.md)", what, rc, detail);
  }
  return rc;
}

int ss_device_open(ss_device **out, const uint8_t *wasm, size_t wasm_len, const uint8_t *blob, size_t blob_len, char *err, size_t errlen) {
  *out = NULL;
  ss_device *d = calloc(1, sizeof *d);
  if (!d) return SS_E_LOAD;
  d->rt = ss_rt_load(wasm, wasm_len, err, errlen);
  if (!d->rt) {
    free(d);
    return SS_E_LOAD;
  }
  for (int f = 0; f < F_COUNT; f++) {
    if (!(d->fn[f] = ss_rt_find(d->rt, NAMES[f]))) {
      snprintf(err, errlen, "module has no export %s (an old build?)", NAMES[f]);
      ss_device_close(d);
      return SS_E_EXPORT;
    }
  }
  int32_t p = status(d, "device_blob_alloc", call(d, F_ALLOC, 1, (uint32_t)blob_len, 0, 0));
  if (p >= 0) {
    uint32_t size;
    uint8_t *mem = ss_rt_memory(d->rt, &size);
    memcpy(mem + p, blob, blob_len);
    p = status(d, "device_init", call(d, F_INIT, 2, (uint32_t)p, (uint32_t)blob_len, 0));
  }
  if (p < 0) {
    snprintf(err, errlen, "%s", d->err);
    ss_device_close(d);
    return p;
  }
  *out = d;
  return 0;
}

int ss_device_modes(ss_device *d) { return call(d, F_MODES, 0, 0, 0, 0); }
int ss_device_mode_info(ss_device *d, int m, int field) { return call(d, F_MODE_INFO, 2, (uint32_t)m, (uint32_t)field, 0); }

int ss_device_mode_index(ss_device *d, int members, int bits) {
  int n = ss_device_modes(d);
  for (int m = 0; m < n; m++)
    if (ss_device_mode_info(d, m, 0) == members && ss_device_mode_info(d, m, 1) == bits) return m;
  return -20;
}

int ss_device_set_mode(ss_device *d, int m) { return status(d, "device_set_mode", call(d, F_SET_MODE, 1, (uint32_t)m, 0, 0)); }

int ss_device_encode(ss_device *d, const uint8_t *pixels, int width, int height, int format, int kind, const uint8_t **packet) {
  static const int bpp[3] = {3, 4, 1};
  int32_t p = status(d, "device_pixels", call(d, F_PIXELS, 3, (uint32_t)width, (uint32_t)height, (uint32_t)format));
  if (p < 0) return p;
  uint32_t size;
  uint8_t *mem = ss_rt_memory(d->rt, &size);
  memcpy(mem + p, pixels, (size_t)width * (size_t)height * (size_t)bpp[format]);
  int32_t n = status(d, "device_encode", call(d, F_ENCODE, 1, (uint32_t)kind, 0, 0));
  if (n < 0) return n;
  int32_t at = call(d, F_PACKET, 0, 0, 0, 0);
  mem = ss_rt_memory(d->rt, &size);
  *packet = mem + at;
  return n;
}

int ss_device_memory(ss_device *d, uint32_t *used, uint32_t *size) {
  *used = (uint32_t)call(d, F_USED, 0, 0, 0, 0);
  *size = (uint32_t)call(d, F_SIZE, 0, 0, 0, 0);
  return 0;
}

const char *ss_device_error(ss_device *d) { return d->err; }

void ss_device_close(ss_device *d) {
  if (!d) return;
  ss_rt_free(d->rt);
  free(d);
}
