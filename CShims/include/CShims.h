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
#include <sys/socket.h>

#include "xskd_maps.h"

// Socket options newer than some libcs' headers.
#ifndef SO_PREFER_BUSY_POLL
#define SO_PREFER_BUSY_POLL 69
#endif
#ifndef SO_BUSY_POLL_BUDGET
#define SO_BUSY_POLL_BUDGET 70
#endif
static inline int cshims_so_prefer_busy_poll(void) { return SO_PREFER_BUSY_POLL; }
static inline int cshims_so_busy_poll_budget(void) { return SO_BUSY_POLL_BUDGET; }
// The copy-mode TX budget per sendto (Linux 6.17+); the uapi headers of older distributions
// do not name it.
#ifndef XDP_MAX_TX_SKB_BUDGET
#define XDP_MAX_TX_SKB_BUDGET 9
#endif
static inline int cshims_xdp_max_tx_skb_budget(void) { return XDP_MAX_TX_SKB_BUDGET; }
// Multi-buffer AF_XDP (Linux 6.6+): a socket bound with XDP_USE_SG receives and sends a frame
// longer than one buffer as several descriptors, each but the last flagged XDP_PKT_CONTD.
// Older uapi headers name neither.
#ifndef XDP_USE_SG
#define XDP_USE_SG (1 << 4)
#endif
#ifndef XDP_PKT_CONTD
#define XDP_PKT_CONTD (1 << 0)
#endif
static inline uint16_t cshims_xdp_use_sg(void) { return XDP_USE_SG; }
static inline uint32_t cshims_xdp_pkt_contd(void) { return XDP_PKT_CONTD; }

/// Moves the calling thread into the network namespace open at `descriptor` (setns with
/// CLONE_NEWNET, which needs _GNU_SOURCE, hence not callable from Swift directly). Returns 0 or
/// -1 with errno set.
int cshims_enter_network_namespace(int descriptor);

/// A ring's mmap'd region, kept to unmap it.
struct cshims_ring_mapping {
    void *base;
    size_t length;
};

/// XDP_UMEM_REG on an AF_XDP socket. Returns 0 or a negative errno (so do the calls below).
int cshims_xsk_register_umem(int fd, void *area, uint64_t size, uint32_t chunk_size, uint32_t headroom, uint32_t flags);
/// Creates and maps a fill and a completion ring on `fd` (a UMEM's socket, or a socket that
/// shares a UMEM on another queue), and sets up libxdp's ring structs over them.
int cshims_xsk_create_fill_completion(int fd, uint32_t fill_size, uint32_t completion_size,
                                      struct xsk_ring_prod *fill, struct xsk_ring_cons *completion,
                                      struct cshims_ring_mapping *fill_mapping,
                                      struct cshims_ring_mapping *completion_mapping);
/// Creates and maps the RX and TX rings of `fd`.
int cshims_xsk_create_rx_tx(int fd, uint32_t rx_size, uint32_t tx_size,
                            struct xsk_ring_cons *rx, struct xsk_ring_prod *tx,
                            struct cshims_ring_mapping *rx_mapping, struct cshims_ring_mapping *tx_mapping);
/// Binds `fd` to a queue; with `shared_umem_fd` >= 0, sharing that socket's UMEM. May be
/// retried after EBUSY with everything else unchanged.
int cshims_xsk_bind(int fd, uint32_t ifindex, uint32_t queue, uint16_t flags, int shared_umem_fd);
/// XDP_OPTIONS (XDP_OPTIONS_ZEROCOPY when the bind is zero-copy).
int cshims_xsk_options(int fd, uint32_t *options);

/// Raises RLIMIT_MEMLOCK to unlimited. Returns 0 or a negative errno (EPERM without
/// CAP_SYS_RESOURCE, even as root in some containers).
int cshims_raise_memlock_limit(void);

/// ppoll(2) on `count` descriptors (1 or 2) for POLLIN, waiting at most `timeout_ns`
/// nanoseconds: poll() with a timeout finer than its milliseconds. Returns what ppoll returns
/// (-1 with errno set on failure).
int cshims_ppoll_readable(int first, int second, int count, int64_t timeout_ns);

/// The user id of the process at the other end of a Unix socket (SO_PEERCRED, which needs
/// _GNU_SOURCE). Returns 0 or a negative errno.
int cshims_peer_uid(int fd, uint32_t *uid);

/// Pins the calling thread to one CPU. Returns 0 or an errno value (pthread convention).
int cshims_pin_current_thread(int cpu);
/// Takes `cpus` out of the calling thread's CPU set (what it may run on now). Returns how many
/// CPUs remain (the set changed), 0 when none would (the set left as it was), or a negative
/// errno value.
int cshims_exclude_cpus_current_thread(const int *cpus, int count);
/// Takes `cpus` out of the CPU set of every thread the process has now (/proc/self/task);
/// threads they create later inherit the narrower set. A thread whose set would be left empty
/// keeps its own. Returns the fewest CPUs any changed thread was left with, 0 when no thread
/// could be moved, or a negative errno value.
int cshims_exclude_cpus_all_threads(const int *cpus, int count);
/// prctl(PR_SET_TIMERSLACK) for the calling thread: how late the kernel may end its timed
/// sleeps to merge wakeups (50 us by default). Returns 0 or an errno value.
int cshims_set_timer_slack(unsigned long nanoseconds);

/// How long a thread asleep in poll() takes to run again once another CPU signals it: the path
/// a frame takes to a sleeping poll thread (the receiving CPU's softirq wakes its socket's
/// waiters). A helper thread, kept off the caller's CPU where there is another, writes an
/// eventfd `count` times, each after a pause of 0.2-2 ms (the caller's CPU goes idle); the
/// caller sleeps in poll() on it and stores each delay, write to wake, in `delays` (ns).
/// Returns 0, or an errno (ETIMEDOUT if a wake took over 100 ms).
int cshims_measure_signalled_wakeups(uint64_t *delays, int count);

/// Routes libbpf's and libxdp's diagnostics (verifier logs among them) to `sink` instead of
/// stderr: libraries never print. `sink` receives the level (0 warn, 1 info, 2 debug) and
/// one formatted message. NULL silences them.
void cshims_set_bpf_log_sink(void (*sink)(int level, const char *message));

/// Unaligned-chunk mode: a descriptor address carries the offset of the data inside its chunk
/// in the bits above `XSK_UNALIGNED_BUF_OFFSET_SHIFT` (48); the mask keeps the chunk's base.
static inline uint64_t cshims_unaligned_address_mask(void) { return XSK_UNALIGNED_BUF_ADDR_MASK; }
static inline unsigned cshims_unaligned_offset_shift(void) { return XSK_UNALIGNED_BUF_OFFSET_SHIFT; }

/// An acquire load of a ring index the kernel writes (pairs with the kernel's release store).
static inline uint32_t cshims_load_acquire_u32(const uint32_t *pointer) {
    return __atomic_load_n(pointer, __ATOMIC_ACQUIRE);
}

/// An acquire load and a release store of an index two threads share (a capture's staging
/// area: the poll thread produces, the writer consumes).
static inline uint64_t cshims_load_acquire_u64(const uint64_t *pointer) {
    return __atomic_load_n(pointer, __ATOMIC_ACQUIRE);
}
static inline void cshims_store_release_u64(uint64_t *pointer, uint64_t value) {
    __atomic_store_n(pointer, value, __ATOMIC_RELEASE);
}
static inline uint32_t cshims_load_relaxed_u32(const uint32_t *pointer) {
    return __atomic_load_n(pointer, __ATOMIC_RELAXED);
}
static inline void cshims_store_relaxed_u32(uint32_t *pointer, uint32_t value) {
    __atomic_store_n(pointer, value, __ATOMIC_RELAXED);
}

/// memfd_create(2) with MFD_CLOEXEC: -1 and errno on failure.
int cshims_memfd_create(const char *name);

/// The version of libbpf linked in ("1.1"), for logs and bug reports. libxdp 1.3 exposes none.
const char *cshims_libbpf_version(void);

#endif
