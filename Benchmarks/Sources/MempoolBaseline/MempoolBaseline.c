#include "MempoolBaseline.h"

#include <errno.h>
#include <rte_eal.h>
#include <rte_errno.h>

struct rte_mempool *mempool_baseline_pool;
struct rte_mempool_cache *mempool_baseline_cache;

int mempool_baseline_init(unsigned count, unsigned size, unsigned cache_size) {
    if (mempool_baseline_pool != NULL) return 0;
    // No hugepages, no PCI, no telemetry socket, memory private to this process: the
    // benchmark needs only the allocator.
    char *args[] = {
        "xskd-bench", "--no-huge", "-m", "256", "--no-pci", "--no-telemetry", "--no-shconf",
        "-l", "0", "--log-level=error",
    };
    int argc = (int)(sizeof(args) / sizeof(args[0]));
    if (rte_eal_init(argc, args) < 0) return -rte_errno;
    mempool_baseline_pool = rte_mempool_create(
        "baseline", count, size, cache_size, 0, NULL, NULL, NULL, NULL, SOCKET_ID_ANY, 0);
    if (mempool_baseline_pool == NULL) return -rte_errno;
    mempool_baseline_cache = rte_mempool_cache_create(cache_size, SOCKET_ID_ANY);
    if (mempool_baseline_cache == NULL) return -ENOMEM;
    return 0;
}
