/* libshmview: creating a segment and opening a writable view of it in one call, as Python's
 * SharedMemory(create=True) gives its buffer. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "private.h"

int shmv_segment_create_open(shmv_client *c, const char *name, uint64_t size, uint32_t mode,
                             unsigned flags, shmv_view **ret)
{
        shmv__error_clear();
        if (!c || !ret)
                return -EINVAL;
        if (flags & ~(SHMV_SEGMENT_HUGE_PAGES | SHMV_PREFAULT))
                return shmv__error_setf(
                        -EINVAL, "flags 0x%x: 0, SHMV_SEGMENT_HUGE_PAGES, SHMV_PREFAULT", flags);
        int r = shmv_segment_create_with_flags(c, name, size, mode,
                                               flags & SHMV_SEGMENT_HUGE_PAGES);
        if (r < 0)
                return r;
        shmv_view *v;
        r = shmv_view_open(c, name, 0, SHMV_TO_END,
                           SHMV_READ | SHMV_WRITE | (flags & SHMV_PREFAULT ? SHMV_PREFAULT : 0),
                           &v);
        if (r < 0) {
                /* Nobody has the new segment yet but its name: take it back, keeping the
                 * open's message for the caller. */
                char why[SHMV__MESSAGE_MAX] = "";
                const char *msg = shmv_last_error_message();
                if (msg)
                        snprintf(why, sizeof(why), "%s", msg);
                (void)shmv_segment_unlink(c, name);
                shmv__error_clear();
                if (why[0])
                        shmv__error_set((const uint8_t *)why, strlen(why));
                return r;
        }
        *ret = v;
        return 0;
}
