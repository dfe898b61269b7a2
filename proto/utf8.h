/* UTF-8 for text that comes from a peer and ends up on a terminal: the library's copy of the
 * daemon's error message and the CLI's escaping of names. Internal: never installed. */
#ifndef SHMVIEW_UTF8_H
#define SHMVIEW_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Length of the well-formed UTF-8 sequence at s (len bytes available, at least 1), with its
 * code point in *ret_cp; 0 when there is none (overlong forms, surrogates, values past
 * U+10FFFF and cut sequences are not). */
size_t shmv__utf8_seq(const uint8_t *s, size_t len, uint32_t *ret_cp);

#endif
