#define _GNU_SOURCE
#include "CShims.h"

#include <sched.h>
#include <stdarg.h>
#include <stdio.h>

static void (*bpf_log_sink)(int level, const char *message);

static int cshims_libbpf_print(enum libbpf_print_level level, const char *format, va_list args) {
    char message[1024];
    if (bpf_log_sink == NULL) return 0;
    vsnprintf(message, sizeof(message), format, args);
    bpf_log_sink((int)level, message);
    return 0;
}

static int cshims_libxdp_print(enum libxdp_print_level level, const char *format, va_list args) {
    char message[1024];
    if (bpf_log_sink == NULL) return 0;
    vsnprintf(message, sizeof(message), format, args);
    bpf_log_sink((int)level, message);
    return 0;
}

void cshims_set_bpf_log_sink(void (*sink)(int level, const char *message)) {
    bpf_log_sink = sink;
    libbpf_set_print(cshims_libbpf_print);
    libxdp_set_print(cshims_libxdp_print);
}

const char *cshims_libbpf_version(void) {
    static char text[32];
    if (text[0] == '\0') snprintf(text, sizeof(text), "%u.%u", libbpf_major_version(), libbpf_minor_version());
    return text;
}

int cshims_enter_network_namespace(int descriptor) { return setns(descriptor, CLONE_NEWNET); }
