// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
//
// xskd's XDP programs, compiled with `clang -target bpf` by the build (Plugins/BPFObjectPlugin)
// and embedded in the Swift binary, never committed as an object file.
//
// xskd_redirect (and xskd_redirect_frags, its multi-buffer form): the program xskd attaches to
// an interface. A frame that matches the filter goes to the AF_XDP socket bound to its receive
// queue, if that queue has one; everything else is passed to the kernel stack, so the host
// keeps its own traffic (SSH survives xskd on a real NIC). The filter is data in a map, changed at run time without reloading.
//
// xskd_drop, xskd_tx: the in-kernel references (XDP_DROP, XDP_TX with MACs swapped) that bound
// what any user-space program can reach on the same interface.
//
// xskd_generate: the traffic generator. Run through BPF_PROG_TEST_RUN in live-frames mode, it
// stamps a sequence number into each copy of a template frame and transmits it (XDP_TX) out of
// the interface named in the run's context.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "xskd_maps.h"

struct {
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __uint(max_entries, XSKD_MAX_QUEUES);
    __type(key, __u32);
    __type(value, __u32);
} xskd_sockets SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct xskd_filter);
} xskd_filter SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, XSKD_MAX_QUEUES);
    __type(key, __u32);
    __type(value, struct xskd_queue_counters);
} xskd_counters SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct xskd_generator);
} xskd_generator SEC(".maps");

// Per queue: the longest frame the queue's fill buffers can hold (0: no limit). Longer frames
// go to the kernel stack instead of overrunning a buffer packed next to another one.
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, XSKD_MAX_QUEUES);
    __type(key, __u32);
    __type(value, __u32);
} xskd_frame_limits SEC(".maps");

// Per queue: non-zero to stamp each redirected frame's arrival time into its metadata (see
// struct xskd_arrival), for the residency user space samples.
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, XSKD_MAX_QUEUES);
    __type(key, __u32);
    __type(value, __u32);
} xskd_arrival_stamps SEC(".maps");

struct vlan_header {
    __be16 tci;
    __be16 encapsulated_proto;
};

// Whether the frame is one the filter sends to xskd. Unparseable frames never match: they are
// the kernel's to judge.
static __always_inline int xskd_matches(struct xdp_md *ctx, const struct xskd_filter *filter)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    __u32 fields = filter->fields;

    if ((void *)(eth + 1) > data_end)
        return 0;
    // No filter: every frame with an Ethernet header is ours, and the program reads none of
    // its bytes (the kernel's copy into the UMEM is then the first to touch them).
    if (!fields)
        return 1;
    __u16 proto = eth->h_proto;
    void *next = eth + 1;
    if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
        struct vlan_header *vlan = next;
        if ((void *)(vlan + 1) > data_end)
            return 0;
        proto = vlan->encapsulated_proto;
        next = vlan + 1;
    }
    if ((fields & XSKD_FILTER_ETHERTYPE) && proto != bpf_htons(filter->ethertype))
        return 0;
    if (!(fields & (XSKD_FILTER_IP_PROTOCOL | XSKD_FILTER_DESTINATION_PORT)))
        return 1;

    __u8 ip_protocol;
    void *transport;
    if (proto == bpf_htons(ETH_P_IP)) {
        struct iphdr *ip = next;
        if ((void *)(ip + 1) > data_end || ip->ihl < 5)
            return 0;
        // Fragments and a port filter: only a datagram's first fragment carries its ports (a
        // later one's payload would be read as some), and its pieces must all reach the one
        // reader that can reassemble them. So every fragment (more-fragments set, or an
        // offset) goes to the kernel. A protocol filter alone decides every fragment alike:
        // each carries the protocol.
        if ((fields & XSKD_FILTER_DESTINATION_PORT) && (ip->frag_off & bpf_htons(0x3FFF)))
            return 0;
        ip_protocol = ip->protocol;
        transport = (void *)ip + ip->ihl * 4;
    } else if (proto == bpf_htons(ETH_P_IPV6)) {
        struct ipv6hdr *ip6 = next;
        if ((void *)(ip6 + 1) > data_end)
            return 0;
        // Every IPv6 fragment starts with a fragment header (next header 44): neither a
        // protocol nor a port filter matches it, so a fragmented datagram goes to the kernel
        // whole, as do other extension headers this does not walk.
        ip_protocol = ip6->nexthdr;
        transport = ip6 + 1;
    } else {
        return 0;
    }
    if ((fields & XSKD_FILTER_IP_PROTOCOL) && ip_protocol != filter->ip_protocol)
        return 0;
    if (!(fields & XSKD_FILTER_DESTINATION_PORT))
        return 1;

    __u16 port;
    if (ip_protocol == IPPROTO_UDP) {
        struct udphdr *udp = transport;
        if ((void *)(udp + 1) > data_end)
            return 0;
        port = bpf_ntohs(udp->dest);
    } else if (ip_protocol == IPPROTO_TCP) {
        struct tcphdr *tcp = transport;
        if ((void *)(tcp + 1) > data_end)
            return 0;
        port = bpf_ntohs(tcp->dest);
    } else {
        return 0;
    }
    return port >= filter->port_min && port <= filter->port_max;
}

// Writes the arrival time in front of the frame. A driver without metadata room refuses the
// adjustment: the frame then carries no stamp, and user space finds no magic.
static __always_inline void xskd_stamp_arrival(struct xdp_md *ctx)
{
    if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(struct xskd_arrival)) != 0)
        return;
    void *data = (void *)(long)ctx->data;
    struct xskd_arrival *arrival = (void *)(long)ctx->data_meta;
    if ((void *)(arrival + 1) > data)
        return;
    arrival->nanoseconds = bpf_ktime_get_ns();
    arrival->magic = XSKD_ARRIVAL_MAGIC;
    arrival->reserved = 0;
}

// The longest frame XDP can see: no link's MTU passes 65535 (IP_MAX_MTU) and XDP runs before
// GRO merges frames, so a frame is at most that plus its link headers. A frame limit at least
// this large cannot be exceeded, and the whole length need not be asked for.
#define XSKD_FRAME_SPAN_MAX (65536 + 64)

// The redirect decision. The filter reads the first buffer (headers are always there); the frame
// limit applies to the whole frame, whose length a multi-buffer program (`frags`) asks the
// kernel for only when the limit could be exceeded: a helper call per frame costs the receive
// rate a visible share when frames are small.
static __always_inline int xskd_redirect_frame(struct xdp_md *ctx, int frags)
{
    __u32 queue = ctx->rx_queue_index;
    __u32 zero = 0;
    struct xskd_queue_counters *counters = bpf_map_lookup_elem(&xskd_counters, &queue);
    struct xskd_filter *filter = bpf_map_lookup_elem(&xskd_filter, &zero);

    if (!filter || !xskd_matches(ctx, filter)) {
        if (counters)
            counters->passed++;
        return XDP_PASS;
    }
    __u32 *limit = bpf_map_lookup_elem(&xskd_frame_limits, &queue);
    if (limit && *limit) {
        __u64 length = (__u64)(ctx->data_end - ctx->data);
        if (frags && *limit < XSKD_FRAME_SPAN_MAX)
            length = bpf_xdp_get_buff_len(ctx);
        if (length > *limit) {
            if (counters) {
                counters->too_long++;
                counters->passed++;
            }
            return XDP_PASS;
        }
    }
    __u32 *stamp = bpf_map_lookup_elem(&xskd_arrival_stamps, &queue);
    if (stamp && *stamp)
        xskd_stamp_arrival(ctx);
    // With XDP_PASS in the flags, an empty slot passes the frame instead of dropping it.
    long action = bpf_redirect_map(&xskd_sockets, queue, XDP_PASS);
    if (counters) {
        if (action == XDP_REDIRECT)
            counters->redirected++;
        else
            counters->passed++;
    }
    return action;
}

SEC("xdp")
int xskd_redirect(struct xdp_md *ctx)
{
    return xskd_redirect_frame(ctx, 0);
}

// The multi-buffer form: the driver may hand it a frame in several buffers (a jumbo frame; veth
// accepts an MTU past ~3.5 KB with XDP only for such a program). The frame limit applies to
// the whole length: a single-buffer socket, or fill buffers too small for the kernel's
// per-buffer copy, must still see longer frames go to the kernel rather than be dropped by a
// redirect that cannot take them.
SEC("xdp.frags")
int xskd_redirect_frags(struct xdp_md *ctx)
{
    return xskd_redirect_frame(ctx, 1);
}

SEC("xdp")
int xskd_drop(struct xdp_md *ctx)
{
    __u32 queue = ctx->rx_queue_index;
    struct xskd_queue_counters *counters = bpf_map_lookup_elem(&xskd_counters, &queue);
    if (counters)
        counters->dropped++;
    return XDP_DROP;
}

SEC("xdp")
int xskd_tx(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    unsigned char mac[ETH_ALEN];

    if ((void *)(eth + 1) > data_end)
        return XDP_DROP;
    __builtin_memcpy(mac, eth->h_source, ETH_ALEN);
    __builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
    __builtin_memcpy(eth->h_dest, mac, ETH_ALEN);
    __u32 queue = ctx->rx_queue_index;
    struct xskd_queue_counters *counters = bpf_map_lookup_elem(&xskd_counters, &queue);
    if (counters)
        counters->transmitted++;
    return XDP_TX;
}

SEC("xdp")
int xskd_generate(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    __u32 zero = 0;
    struct xskd_generator *generator = bpf_map_lookup_elem(&xskd_generator, &zero);

    if (!generator)
        return XDP_ABORTED;
    __u32 offset = generator->sequence_offset & XSKD_GENERATOR_MAX_OFFSET;
    __u64 *sequence = data + offset;
    if ((void *)(sequence + 1) > data_end)
        return XDP_ABORTED;
    __u64 next = __sync_fetch_and_add(&generator->next_sequence, 1);
    __builtin_memcpy(sequence, &next, sizeof(next));
    return XDP_TX;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
