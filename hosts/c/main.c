/* slimsplit-device-<runtime>: device blob + raw frames -> packets, through wasm3 or WAMR.
 *
 *   slimsplit-device-wasm3 --wasm-dir build --blob m.sdev --frames f.rgb --width 32 --height 32 \
 *       [--format rgb|rgba|gray] [--modes all|kept|M,M,...] [--kind full|compact] --out p.bin [--time]
 *
 * --wasm-dir picks simd.wasm where the runtime runs SIMD and scalar.wasm otherwise (wasm3 and the
 * MCU-style WAMR build have none); --wasm takes one module file. The frames file holds whole frames
 * back to back. The output holds, for each selected mode in index order and each frame, a u32 LE
 * length and the packet. --time prints the mean encode time per frame on stderr. */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "rt.h"
#include "slimsplit_device.h"

static uint8_t *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
  if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
    free(b);
    b = NULL;
  }
  fclose(f);
  *len = (size_t)n;
  return b;
}

static int usage(const char *msg) {
  fprintf(stderr, "slimsplit-device-%s: %s\nusage: --wasm-dir DIR | --wasm FILE, --blob FILE.sdev, --frames FILE, --width W, --height H, "
                  "[--format rgb|rgba|gray] [--modes all|kept|M,M,...] [--kind full|compact] --out FILE [--time]\n", ss_rt_name(), msg);
  return 2;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  const char *wasmDir = NULL, *wasmFile = NULL, *blobFile = NULL, *framesFile = NULL, *outFile = NULL, *modes = "kept";
  int width = 0, height = 0, format = SS_RGB, kind = SS_FULL, timeIt = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--time")) { timeIt = 1; continue; }
    if (!v) return usage("missing value");
    i++;
    if (!strcmp(a, "--wasm-dir")) wasmDir = v;
    else if (!strcmp(a, "--wasm")) wasmFile = v;
    else if (!strcmp(a, "--blob")) blobFile = v;
    else if (!strcmp(a, "--frames")) framesFile = v;
    else if (!strcmp(a, "--out")) outFile = v;
    else if (!strcmp(a, "--modes")) modes = v;
    else if (!strcmp(a, "--width")) width = atoi(v);
    else if (!strcmp(a, "--height")) height = atoi(v);
    else if (!strcmp(a, "--format")) format = !strcmp(v, "rgb") ? SS_RGB : !strcmp(v, "rgba") ? SS_RGBA : !strcmp(v, "gray") ? SS_GRAY : -1;
    else if (!strcmp(a, "--kind")) kind = !strcmp(v, "full") ? SS_FULL : !strcmp(v, "compact") ? SS_COMPACT : -1;
    else return usage("unknown option");
  }
  if ((!wasmDir && !wasmFile) || !blobFile || !framesFile || !outFile || width < 1 || height < 1 || format < 0 || kind < 0) return usage("missing or bad arguments");

  char path[4096], err[512];
  size_t wasmLen = 0, blobLen = 0, framesLen = 0;
  const char *build = "given";
  uint8_t *wasm = NULL;
  if (wasmFile) wasm = slurp(wasmFile, &wasmLen);
  else {
    build = ss_rt_has_simd() ? "simd" : "scalar";
    snprintf(path, sizeof path, "%s/%s.wasm", wasmDir, build);
    wasm = slurp(path, &wasmLen);
  }
  uint8_t *blob = slurp(blobFile, &blobLen), *frames = slurp(framesFile, &framesLen);
  if (!wasm || !blob || !frames) return fprintf(stderr, "cannot read the module, the blob or the frames\n"), 1;
  size_t frameBytes = (size_t)width * (size_t)height * (format == SS_RGB ? 3 : format == SS_RGBA ? 4 : 1);
  if (framesLen == 0 || framesLen % frameBytes) return fprintf(stderr, "frames file: %zu bytes is not a whole number of %zu-byte frames\n", framesLen, frameBytes), 1;
  size_t count = framesLen / frameBytes;

  ss_device *d;
  int rc = ss_device_open(&d, wasm, wasmLen, blob, blobLen, err, sizeof err);
  if (rc != 0) return fprintf(stderr, "%s: %s\n", ss_rt_name(), err), 1;
  FILE *out = fopen(outFile, "wb");
  if (!out) return fprintf(stderr, "cannot write %s\n", outFile), 1;
  int n = ss_device_modes(d);
  double t = 0;
  long encodes = 0;
  for (int m = 0; m < n; m++) {
    int want;
    if (!strcmp(modes, "all")) want = 1;
    else if (!strcmp(modes, "kept")) want = ss_device_mode_info(d, m, 5) == 1;
    else {
      want = 0;
      for (const char *p = modes; *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : p + strlen(p))
        if (atoi(p) == m) want = 1;
    }
    if (!want) continue;
    if ((rc = ss_device_set_mode(d, m)) < 0) return fprintf(stderr, "%s: %s\n", ss_rt_name(), ss_device_error(d)), 1;
    for (size_t i = 0; i < count; i++) {
      const uint8_t *pkt;
      double t0 = now();
      int len = ss_device_encode(d, frames + i * frameBytes, width, height, format, kind, &pkt);
      t += now() - t0;
      encodes++;
      if (len < 0) return fprintf(stderr, "%s: %s\n", ss_rt_name(), ss_device_error(d)), 1;
      uint8_t head[4] = {(uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16), (uint8_t)(len >> 24)};
      fwrite(head, 1, 4, out);
      fwrite(pkt, 1, (size_t)len, out);
    }
  }
  fclose(out);
  uint32_t used, size;
  ss_device_memory(d, &used, &size);
  fprintf(stderr, "%s (%s build): %ld packets, linear memory %u bytes used, %u grown", ss_rt_name(), build, encodes, used, size);
  if (timeIt && encodes) fprintf(stderr, ", %.3f ms per encode", 1e3 * t / (double)encodes);
  fprintf(stderr, "\n");
  ss_device_close(d);
  free(wasm);
  free(blob);
  free(frames);
  return 0;
}
