#include "CShims.h"

#include <stdio.h>

const char *cshims_libbpf_version(void) {
    static char text[32];
    if (text[0] == '\0') snprintf(text, sizeof(text), "%u.%u", libbpf_major_version(), libbpf_minor_version());
    return text;
}
