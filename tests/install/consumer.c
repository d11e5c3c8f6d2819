/* Links the installed libxent.so through its C header only; needs no GPU. */
#include <stdio.h>
#include <string.h>
#include <xent/xent.h>

int main(void) {
  size_t one = 0, two = 0;
  if (strcmp(xent_version(), XENT_PACKAGE_VERSION) != 0) {
    fprintf(stderr, "xent_version() %s, package %s\n", xent_version(), XENT_PACKAGE_VERSION);
    return 1;
  }
  if (xent_workspace_bytes(4096, 1, &one) != XENT_OK || xent_workspace_bytes(4096, 2, &two) != XENT_OK || two <= one) {
    fprintf(stderr, "xent_workspace_bytes: %s\n", xent_last_error());
    return 1;
  }
  if (xent_workspace_bytes(-1, 1, &one) != XENT_ERROR_INVALID_ARGUMENT || strlen(xent_last_error()) == 0) return 1;
  printf("xent %s: workspace for 4096 rows %zu bytes (1 rank), %zu bytes (2 ranks)\n", xent_version(), one, two);
  return 0;
}
