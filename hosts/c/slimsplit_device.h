/* slimsplit's device half from C: a device blob and raw pixels in, packets out, through the kernel
 * module's device_* exports (docs/DEVICE.md). Copy slimsplit_device.[ch], rt.h and one rt_*.c into a
 * firmware; nothing here parses the blob or knows the model: the module does all of it.
 *
 *   ss_device *d;
 *   if (ss_device_open(&d, wasm, wasm_len, blob, blob_len, err, sizeof err) != 0) ...;
 *   ss_device_set_mode(d, ss_device_mode_index(d, 1, 2));           // members 1, 2 bits
 *   const uint8_t *pkt; int n = ss_device_encode(d, rgb, 32, 32, SS_RGB, SS_FULL, &pkt);
 */
#ifndef SLIMSPLIT_DEVICE_H
#define SLIMSPLIT_DEVICE_H
#include <stddef.h>
#include <stdint.h>

enum { SS_RGB = 0, SS_RGBA = 1, SS_GRAY = 2 };
enum { SS_FULL = 0, SS_COMPACT = 1 };
/* Host-side failures (the module's own statuses are -1 .. -99, docs/DEVICE.md). */
enum { SS_E_LOAD = -100, SS_E_EXPORT = -101, SS_E_TRAP = -102 };

typedef struct ss_device ss_device;

/* Instantiates the module, copies the device blob in and runs device_init. 0, or a status and a message. */
int ss_device_open(ss_device **out, const uint8_t *wasm, size_t wasm_len, const uint8_t *blob, size_t blob_len, char *err, size_t errlen);
int ss_device_modes(ss_device *d);
/* Field of mode m: 0 members, 1 bits, 2 compact mode byte, 3 codes, 4 channels, 5 kept. */
int ss_device_mode_info(ss_device *d, int m, int field);
/* Mode index with these members and bits, or -20 (no such mode). */
int ss_device_mode_index(ss_device *d, int members, int bits);
int ss_device_set_mode(ss_device *d, int m);
/* One frame to one packet: its length, *packet pointing into WASM memory until the next call; or a status. */
int ss_device_encode(ss_device *d, const uint8_t *pixels, int width, int height, int format, int kind, const uint8_t **packet);
/* Linear memory in use (the module's high-water mark) and as grown. */
int ss_device_memory(ss_device *d, uint32_t *used, uint32_t *size);
const char *ss_device_error(ss_device *d);
void ss_device_close(ss_device *d);
#endif
