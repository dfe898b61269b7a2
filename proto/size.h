/* The size grammar of shmviewd's options and the CLI's arguments, in one place: a decimal
 * number with an optional binary unit (K, M, G, T, P or E, either case, optionally followed
 * by "iB"; or "B"), or a hexadecimal number with "0x" and no unit. "1GiB", "1g", "64K",
 * "4096B" and "0x1000" all parse. Internal: never installed. */
#ifndef SHMVIEW_SIZE_H
#define SHMVIEW_SIZE_H

#include <stdint.h>

/* Returns 0, -EINVAL when s is not a size, -ERANGE when it passes UINT64_MAX. */
/* What a size looks like, for messages. */
#define SHMV__SIZE_HINT "bytes, or with K, M, G, T, P, E: 4096, 64K, 1G, 1GiB, 0x1000"

int shmv__parse_size(const char *s, uint64_t *ret);

#endif
