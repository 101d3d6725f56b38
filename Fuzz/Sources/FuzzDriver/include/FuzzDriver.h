// libFuzzer's driver, called from each fuzzer's own entry point: SwiftPM names an executable's
// entry point after its module and links `main` to it, so libFuzzer's `main` cannot be used.
#include <stddef.h>
#include <stdint.h>

typedef int (*fuzz_driver_callback)(const uint8_t *data, size_t size);
int LLVMFuzzerRunDriver(int *argc, char ***argv, fuzz_driver_callback callback);
