// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
//
// The layout of xskd's BPF map values, shared by the programs (bpf/xskd.bpf.c) and the Swift
// side (through CShims), so that both always agree on every field.
#ifndef XSKD_MAPS_H
#define XSKD_MAPS_H

#include <linux/types.h>

// Queues one program instance can serve: the size of the XSK map and the counters.
#define XSKD_MAX_QUEUES 256

// Which fields of `struct xskd_filter` must match; none set matches every frame.
#define XSKD_FILTER_ETHERTYPE (1U << 0)
#define XSKD_FILTER_IP_PROTOCOL (1U << 1)
#define XSKD_FILTER_DESTINATION_PORT (1U << 2)

struct xskd_filter {
    __u32 fields;        // XSKD_FILTER_* bits
    __u16 ethertype;     // host byte order, after at most one VLAN tag
    __u8 ip_protocol;    // IPPROTO_UDP, IPPROTO_TCP, ...
    __u8 reserved;
    __u16 port_min;      // UDP/TCP destination port range, inclusive, host byte order
    __u16 port_max;
};

// Per queue and per CPU: plain increments, summed by user space when read.
struct xskd_queue_counters {
    __u64 redirected;    // sent to the queue's AF_XDP socket
    __u64 passed;        // given to the kernel stack (no match, or no socket on the queue)
    __u64 dropped;       // xskd_drop
    __u64 transmitted;   // xskd_tx
    __u64 too_long;      // matched, but longer than the queue's buffers: passed instead
};

// Arrival stamps: where a queue's entry in xskd_arrival_stamps is non-zero, the redirect
// program writes the time a frame reached it (bpf_ktime_get_ns: CLOCK_MONOTONIC) into the
// frame's metadata, the 16 bytes in front of its first byte, which copy and zero-copy mode both
// hand to the socket. The magic tells a stamp from whatever the buffer held before.
#define XSKD_ARRIVAL_MAGIC 0x41504b58U  // "XKPA" read as little-endian bytes
struct xskd_arrival {
    __u64 nanoseconds;
    __u32 magic;
    __u32 reserved;
};

// The generator's state: where in the frame the sequence number goes, and the next one.
#define XSKD_GENERATOR_MAX_OFFSET 0x7ff
struct xskd_generator {
    __u64 next_sequence;
    __u32 sequence_offset;
    __u32 reserved;
};

#endif
