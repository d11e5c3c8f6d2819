// Compiles the installed C++ header (which must include nothing of xent's source tree) and links the library.
#include <cstdio>
#include <xent/xent.h>
#include <xent/xent.hpp>

int main() {
  size_t c_bytes = 0;
  if (xent_workspace_bytes(4096, 2, &c_bytes) != XENT_OK) return 1;
  if (xent::CrossEntropy::workspace_bytes(4096, 2) != c_bytes) return 1;
  xent::CrossEntropyOptions options;
  options.vocab = 50257;
  options.z_loss = -1.0;
  try {
    xent::CrossEntropy op(options);
    return 1;
  } catch (const xent::Error& e) {
    if (e.status() != xent::Status::InvalidArgument) return 1;
    std::printf("C++ API: %s\n", e.what());
  }
  return 0;
}
