/* A stand-in for libcuda.so.1 that has XENT_FAKE_GPU_COUNT devices (default 1) and can do nothing else: the CLI tests
   point XENT_CUDA_LIBRARY at it to see `xent run --tp W` refuse a machine with fewer GPUs than W, on any machine (CI
   has no driver; a GPU machine has a fixed count). Plain C types: the values are the CUDA ABI's (cuda.h). */
#include <stdlib.h>
#include <string.h>

enum { kSuccess = 0, kNotSupported = 801, kSymbolFound = 0 };

static int fake_init(unsigned flags) {
  (void)flags;
  return kSuccess;
}

static int fake_device_get_count(int* count) {
  const char* text = getenv("XENT_FAKE_GPU_COUNT");
  *count = text ? atoi(text) : 1;
  return kSuccess;
}

/* Every other entry point: fails without touching its arguments. */
static int fake_unsupported(void) { return kNotSupported; }

int cuGetProcAddress_v2(const char* symbol, void** pfn, int cuda_version, unsigned long long flags, int* status) {
  (void)cuda_version, (void)flags;
  if (strcmp(symbol, "cuInit") == 0)
    *pfn = (void*)fake_init;
  else if (strcmp(symbol, "cuDeviceGetCount") == 0)
    *pfn = (void*)fake_device_get_count;
  else
    *pfn = (void*)fake_unsupported;
  if (status) *status = kSymbolFound;
  return kSuccess;
}
