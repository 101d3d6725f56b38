// rte_mempool get/put through a per-thread cache, as a DPDK application uses it: the baseline
// that PageFragCache is compared with. The get/put wrappers are static inline, like DPDK's own,
// so that they inline into the Swift benchmark loop and the comparison is call-for-call.
#ifndef MEMPOOL_BASELINE_H
#define MEMPOOL_BASELINE_H

#include <rte_mempool.h>

/// Initialises EAL without hugepages or devices and creates a pool of `count` objects of
/// `size` bytes, plus a user-owned cache of `cache_size` objects. Returns 0 or a negative errno.
int mempool_baseline_init(unsigned count, unsigned size, unsigned cache_size);

extern struct rte_mempool *mempool_baseline_pool;
extern struct rte_mempool_cache *mempool_baseline_cache;

static inline void *mempool_baseline_get(void) {
    void *object = NULL;
    if (rte_mempool_generic_get(mempool_baseline_pool, &object, 1, mempool_baseline_cache) != 0) return NULL;
    return object;
}

static inline void mempool_baseline_put(void *object) {
    rte_mempool_generic_put(mempool_baseline_pool, &object, 1, mempool_baseline_cache);
}

static inline int mempool_baseline_get_bulk(void **objects, unsigned count) {
    return rte_mempool_generic_get(mempool_baseline_pool, objects, count, mempool_baseline_cache);
}

static inline void mempool_baseline_put_bulk(void **objects, unsigned count) {
    rte_mempool_generic_put(mempool_baseline_pool, objects, count, mempool_baseline_cache);
}

#endif
