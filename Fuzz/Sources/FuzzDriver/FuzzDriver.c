// The entry points of the fuzzers. SwiftPM links an executable's `main` to a function named
// after its module (fuzz_config_main for fuzz-config, ...), so libFuzzer's own `main` cannot be
// used; each entry point hands libFuzzer's driver the executable's LLVMFuzzerTestOneInput.
// One file serves all three: each executable defines LLVMFuzzerTestOneInput and uses only its
// own entry point.
#include "FuzzDriver.h"

int fuzz_config_main(int argc, char **argv) { return LLVMFuzzerRunDriver(&argc, &argv, LLVMFuzzerTestOneInput); }
int fuzz_options_main(int argc, char **argv) { return LLVMFuzzerRunDriver(&argc, &argv, LLVMFuzzerTestOneInput); }
int fuzz_control_main(int argc, char **argv) { return LLVMFuzzerRunDriver(&argc, &argv, LLVMFuzzerTestOneInput); }
