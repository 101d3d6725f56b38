// The C side of xskd: libxdp's AF_XDP helpers (xsk.h), libbpf, and the kernel's uapi for
// AF_XDP and BPF, plus small inline helpers for what Swift cannot reach itself (function-like
// and expression macros). Every helper is prefixed `cshims_`.
#ifndef CSHIMS_H
#define CSHIMS_H

#include <linux/if_xdp.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>
#include <stdint.h>

/// Unaligned-chunk mode: a descriptor address carries the offset of the data inside its chunk
/// in the bits above `XSK_UNALIGNED_BUF_OFFSET_SHIFT` (48); the mask keeps the chunk's base.
static inline uint64_t cshims_unaligned_address_mask(void) { return XSK_UNALIGNED_BUF_ADDR_MASK; }
static inline unsigned cshims_unaligned_offset_shift(void) { return XSK_UNALIGNED_BUF_OFFSET_SHIFT; }

/// The version of libbpf linked in ("1.1"), for logs and bug reports. libxdp 1.3 exposes none.
const char *cshims_libbpf_version(void);

#endif
