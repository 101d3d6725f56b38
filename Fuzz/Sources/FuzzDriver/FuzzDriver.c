// Declarations only: the driver is libFuzzer's (clang_rt.fuzzer).
