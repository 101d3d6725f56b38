#define _GNU_SOURCE
#include "CShims.h"

#include <dirent.h>
#include <pthread.h>
#include <stdlib.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <stdarg.h>
#include <stdio.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <poll.h>
#include <time.h>
#include <stdatomic.h>
#include <sys/eventfd.h>

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

int cshims_pin_current_thread(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

int cshims_exclude_cpus_current_thread(const int *cpus, int count) {
    cpu_set_t set;
    CPU_ZERO(&set);
    int result = pthread_getaffinity_np(pthread_self(), sizeof(set), &set);
    if (result != 0) return -result;
    for (int i = 0; i < count; i++) {
        if (cpus[i] >= 0 && cpus[i] < CPU_SETSIZE) CPU_CLR(cpus[i], &set);
    }
    int left = CPU_COUNT(&set);
    if (left == 0) return 0;
    result = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    return result != 0 ? -result : left;
}

int cshims_exclude_cpus_all_threads(const int *cpus, int count) {
    DIR *tasks = opendir("/proc/self/task");
    if (tasks == NULL) return -errno;
    int fewest = 0;
    int failure = 0;
    struct dirent *entry;
    while ((entry = readdir(tasks)) != NULL) {
        if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
        pid_t tid = (pid_t)atoi(entry->d_name);
        cpu_set_t set;
        CPU_ZERO(&set);
        // A thread may end between readdir and here: skip it.
        if (sched_getaffinity(tid, sizeof(set), &set) != 0) continue;
        for (int i = 0; i < count; i++) {
            if (cpus[i] >= 0 && cpus[i] < CPU_SETSIZE) CPU_CLR(cpus[i], &set);
        }
        int left = CPU_COUNT(&set);
        if (left == 0) continue;
        if (sched_setaffinity(tid, sizeof(set), &set) != 0) {
            if (errno != ESRCH) failure = errno;
            continue;
        }
        if (fewest == 0 || left < fewest) fewest = left;
    }
    closedir(tasks);
    return fewest == 0 && failure != 0 ? -failure : fewest;
}

int cshims_memfd_create(const char *name) { return memfd_create(name, MFD_CLOEXEC); }

int cshims_set_timer_slack(unsigned long nanoseconds) {
    return prctl(PR_SET_TIMERSLACK, nanoseconds, 0, 0, 0) == 0 ? 0 : errno;
}

// AF_XDP socket set-up, done here rather than through libxdp's xsk_socket__create: libxdp
// tears its per-queue state down when a bind fails and cannot retry on a UMEM's own socket
// (its ring structs are left pointing at unmapped memory), while the kernel itself lets a
// failed bind (EBUSY while a previous socket's queue release is still pending) be retried on
// the same socket with the same rings.

static void cshims_fill_producer(struct xsk_ring_prod *ring, void *map, const struct xdp_ring_offset *offset, uint32_t size) {
    ring->mask = size - 1;
    ring->size = size;
    ring->producer = (uint32_t *)((char *)map + offset->producer);
    ring->consumer = (uint32_t *)((char *)map + offset->consumer);
    ring->flags = (uint32_t *)((char *)map + offset->flags);
    ring->ring = (char *)map + offset->desc;
    ring->cached_prod = *ring->producer;
    // As libxdp keeps it: the consumer index plus the size, so that cached_cons - cached_prod
    // is the number of free slots.
    ring->cached_cons = *ring->consumer + size;
}

static void cshims_fill_consumer(struct xsk_ring_cons *ring, void *map, const struct xdp_ring_offset *offset, uint32_t size) {
    ring->mask = size - 1;
    ring->size = size;
    ring->producer = (uint32_t *)((char *)map + offset->producer);
    ring->consumer = (uint32_t *)((char *)map + offset->consumer);
    ring->flags = (uint32_t *)((char *)map + offset->flags);
    ring->ring = (char *)map + offset->desc;
    ring->cached_prod = *ring->producer;
    ring->cached_cons = *ring->consumer;
}

static int cshims_offsets(int fd, struct xdp_mmap_offsets *offsets) {
    socklen_t length = sizeof(*offsets);
    return getsockopt(fd, SOL_XDP, XDP_MMAP_OFFSETS, offsets, &length) ? -errno : 0;
}

int cshims_xsk_register_umem(int fd, void *area, uint64_t size, uint32_t chunk_size, uint32_t headroom, uint32_t flags) {
    struct xdp_umem_reg registration;
    memset(&registration, 0, sizeof(registration));
    registration.addr = (uint64_t)(uintptr_t)area;
    registration.len = size;
    registration.chunk_size = chunk_size;
    registration.headroom = headroom;
    registration.flags = flags;
    return setsockopt(fd, SOL_XDP, XDP_UMEM_REG, &registration, sizeof(registration)) ? -errno : 0;
}

// Maps one ring of `size` entries of `entry` bytes at page offset `pgoff` of the socket.
static int cshims_map_ring(int fd, const struct xdp_ring_offset *offset, uint32_t size, size_t entry, off_t pgoff,
                           struct cshims_ring_mapping *mapping) {
    size_t length = offset->desc + size * entry;
    void *map = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, pgoff);
    if (map == MAP_FAILED) return -errno;
    mapping->base = map;
    mapping->length = length;
    return 0;
}

// Sets two rings' sizes and reads where they are to be mapped.
static int cshims_create_ring_pair(int fd, int first_option, uint32_t first_size, int second_option, uint32_t second_size,
                                   struct xdp_mmap_offsets *offsets) {
    if (setsockopt(fd, SOL_XDP, first_option, &first_size, sizeof(first_size))) return -errno;
    if (setsockopt(fd, SOL_XDP, second_option, &second_size, sizeof(second_size))) return -errno;
    return cshims_offsets(fd, offsets);
}

int cshims_xsk_create_fill_completion(int fd, uint32_t fill_size, uint32_t completion_size,
                                      struct xsk_ring_prod *fill, struct xsk_ring_cons *completion,
                                      struct cshims_ring_mapping *fill_mapping,
                                      struct cshims_ring_mapping *completion_mapping) {
    struct xdp_mmap_offsets offsets;
    int error = cshims_create_ring_pair(fd, XDP_UMEM_FILL_RING, fill_size, XDP_UMEM_COMPLETION_RING, completion_size, &offsets);
    if (error) return error;
    if ((error = cshims_map_ring(fd, &offsets.fr, fill_size, sizeof(uint64_t), XDP_UMEM_PGOFF_FILL_RING, fill_mapping))) return error;
    if ((error = cshims_map_ring(fd, &offsets.cr, completion_size, sizeof(uint64_t), XDP_UMEM_PGOFF_COMPLETION_RING,
                                 completion_mapping))) {
        munmap(fill_mapping->base, fill_mapping->length);
        return error;
    }
    cshims_fill_producer(fill, fill_mapping->base, &offsets.fr, fill_size);
    cshims_fill_consumer(completion, completion_mapping->base, &offsets.cr, completion_size);
    return 0;
}

int cshims_xsk_create_rx_tx(int fd, uint32_t rx_size, uint32_t tx_size,
                            struct xsk_ring_cons *rx, struct xsk_ring_prod *tx,
                            struct cshims_ring_mapping *rx_mapping, struct cshims_ring_mapping *tx_mapping) {
    struct xdp_mmap_offsets offsets;
    int error = cshims_create_ring_pair(fd, XDP_RX_RING, rx_size, XDP_TX_RING, tx_size, &offsets);
    if (error) return error;
    if ((error = cshims_map_ring(fd, &offsets.rx, rx_size, sizeof(struct xdp_desc), XDP_PGOFF_RX_RING, rx_mapping))) return error;
    if ((error = cshims_map_ring(fd, &offsets.tx, tx_size, sizeof(struct xdp_desc), XDP_PGOFF_TX_RING, tx_mapping))) {
        munmap(rx_mapping->base, rx_mapping->length);
        return error;
    }
    cshims_fill_consumer(rx, rx_mapping->base, &offsets.rx, rx_size);
    cshims_fill_producer(tx, tx_mapping->base, &offsets.tx, tx_size);
    return 0;
}

int cshims_xsk_bind(int fd, uint32_t ifindex, uint32_t queue, uint16_t flags, int shared_umem_fd) {
    struct sockaddr_xdp address;
    memset(&address, 0, sizeof(address));
    address.sxdp_family = AF_XDP;
    address.sxdp_ifindex = ifindex;
    address.sxdp_queue_id = queue;
    address.sxdp_flags = flags;
    if (shared_umem_fd >= 0) {
        address.sxdp_flags |= XDP_SHARED_UMEM;
        address.sxdp_shared_umem_fd = (uint32_t)shared_umem_fd;
    }
    return bind(fd, (struct sockaddr *)&address, sizeof(address)) ? -errno : 0;
}

int cshims_xsk_options(int fd, uint32_t *options) {
    struct xdp_options value;
    socklen_t length = sizeof(value);
    if (getsockopt(fd, SOL_XDP, XDP_OPTIONS, &value, &length)) return -errno;
    *options = value.flags;
    return 0;
}

int cshims_raise_memlock_limit(void) {
    struct rlimit limit = {RLIM_INFINITY, RLIM_INFINITY};
    return setrlimit(RLIMIT_MEMLOCK, &limit) ? -errno : 0;
}

int cshims_peer_uid(int fd, uint32_t *uid) {
    struct ucred credentials;
    socklen_t length = sizeof(credentials);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length)) return -errno;
    *uid = credentials.uid;
    return 0;
}

int cshims_ppoll_readable(int first, int second, int count, int64_t timeout_ns) {
    struct pollfd requests[2] = {{.fd = first, .events = POLLIN}, {.fd = second, .events = POLLIN}};
    struct timespec timeout = {.tv_sec = timeout_ns / 1000000000, .tv_nsec = timeout_ns % 1000000000};
    return ppoll(requests, count == 2 ? 2 : 1, &timeout, NULL);
}

// The signalled-wakeup probe (see CShims.h). The helper waits for each wake to be taken before
// it pauses and signals again, so no two writes merge in the eventfd's counter.

struct cshims_wakeup_probe {
    int fd;
    int count;
    int caller_cpu;
    _Atomic uint64_t sent;
    _Atomic int taken;
    _Atomic int stop;
};

static uint64_t cshims_monotonic_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
}

static void *cshims_wakeup_signaller(void *argument) {
    struct cshims_wakeup_probe *probe = argument;
    // The process's CPUs (the caller's own set is its one poll CPU), less the caller's.
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(getpid(), sizeof(set), &set) == 0) {
        if (probe->caller_cpu >= 0 && CPU_ISSET(probe->caller_cpu, &set) && CPU_COUNT(&set) > 1) CPU_CLR(probe->caller_cpu, &set);
        pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    }
    for (int i = 0; i < probe->count; i++) {
        while (atomic_load(&probe->taken) < i) {
            if (atomic_load(&probe->stop)) return NULL;
            struct timespec wait = {0, 20000};
            nanosleep(&wait, NULL);
        }
        // Pauses of 0.2-2 ms, as between frames at light load: long enough for the caller's CPU
        // to go idle (a virtual CPU to halt); a longer idle wakes later.
        struct timespec pause = {0, 200000 + (i % 10) * 200000};
        nanosleep(&pause, NULL);
        atomic_store(&probe->sent, cshims_monotonic_ns());
        uint64_t one = 1;
        if (write(probe->fd, &one, sizeof(one)) != sizeof(one)) return NULL;
    }
    return NULL;
}

int cshims_measure_signalled_wakeups(uint64_t *delays, int count) {
    struct cshims_wakeup_probe probe = {.count = count, .caller_cpu = sched_getcpu()};
    probe.fd = eventfd(0, EFD_CLOEXEC);
    if (probe.fd < 0) return errno;
    pthread_t signaller;
    int result = pthread_create(&signaller, NULL, cshims_wakeup_signaller, &probe);
    if (result != 0) {
        close(probe.fd);
        return result;
    }
    for (int i = 0; i < count && result == 0; i++) {
        struct pollfd wanted = {.fd = probe.fd, .events = POLLIN};
        int ready = poll(&wanted, 1, 100);
        if (ready < 0 && errno == EINTR) {
            i--;
            continue;
        }
        if (ready <= 0) {
            result = ready == 0 ? ETIMEDOUT : errno;
            break;
        }
        uint64_t woke = cshims_monotonic_ns();
        delays[i] = woke - atomic_load(&probe.sent);
        uint64_t value;
        if (read(probe.fd, &value, sizeof(value)) != sizeof(value)) result = errno;
        atomic_store(&probe.taken, i + 1);
    }
    atomic_store(&probe.stop, 1);
    pthread_join(signaller, NULL);
    close(probe.fd);
    return result;
}
