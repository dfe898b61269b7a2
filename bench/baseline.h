/* The baselines of bench/shmview-bench.c: peer processes that do, with nothing but the kernel,
 * what shmviewd does for a client, so that each shmview figure has its floor measured in the
 * same run on the same CPUs.
 *
 * - The socket floor speaks shmview's conversation without protobuf, registry or accounting:
 *   the client sends a frame as long as a packed open request, the peer answers with a frame as
 *   long as a packed open reply carrying one descriptor (SCM_RIGHTS), the client maps it, and
 *   later unmaps it and sends a frame as long as a packed release, which gets no answer.
 * - The copy peer sends the same bytes through a Unix socket, as processes do without shared
 *   memory.
 * - The futex floor is a 32-bit word in a shared mapping that one process increments and
 *   FUTEX_WAKEs and others FUTEX_WAIT on: what a doorbell is with nothing around it. */
#ifndef SHMVIEW_BENCH_BASELINE_H
#define SHMVIEW_BENCH_BASELINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Payload sizes of shmview's frames, length prefix excluded. */
typedef struct shmv__floor_sizes {
        uint32_t open_request;
        uint32_t open_reply;
        uint32_t release;
} shmv__floor_sizes;

/* Starts the socket floor's server, pinned to cpu, listening on path and answering every open
 * with memfd (sent as it is: pass a read-only descriptor). With multi it serves any number of
 * connections from one epoll loop, as shmviewd does; without, one connection with blocking
 * reads, the cheapest way there is. work_ns > 0 makes it busy for that long on each open
 * after taking it off the socket and before answering, as a server that does any work is.
 * Returns the pid or -errno. */
pid_t shmv__floor_start(const char *path, int cpu, int memfd, const shmv__floor_sizes *sizes,
                        bool multi, unsigned work_ns);

/* Starts the copy peer, pinned to cpu, listening on path: it holds size bytes, written once,
 * and sends all of them for every byte a client sends. Returns the pid or -errno. */
pid_t shmv__copy_start(const char *path, int cpu, size_t size);

/* A blocking connection to a peer's path, retried while the peer starts. Returns the socket
 * or -errno. */
int shmv__peer_connect(const char *path);

/* One floor open: request, reply with the descriptor, mmap of map_len bytes read-only, close
 * of the descriptor. Returns the mapping in *ret. */
int shmv__floor_open(int sock, const shmv__floor_sizes *sizes, size_t map_len, void **ret);
/* One floor release: munmap, then the one-way release frame. */
int shmv__floor_release(int sock, const shmv__floor_sizes *sizes, void *map, size_t map_len);

/* Asks the copy peer for its bytes and receives all size of them into dst. */
int shmv__copy_fetch(int sock, void *dst, size_t size);

/* The futex floor's two halves, on a word in a MAP_SHARED mapping (a shared futex, not
 * FUTEX_PRIVATE_FLAG). Wait returns once *word differs from seen (0), or -ETIMEDOUT after
 * timeout_ms (< 0: never). Wake increments the word and wakes every waiter; returns the new
 * value. */
int shmv__futex_wait(_Atomic uint32_t *word, uint32_t seen, int timeout_ms);
uint32_t shmv__futex_wake(_Atomic uint32_t *word);

/* Pins the calling thread (and what it forks) to one CPU. */
int shmv__pin_cpu(int cpu);

/* Stops a peer started above and reaps it. */
void shmv__peer_stop(pid_t pid);

#endif
