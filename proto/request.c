/* The request table (request.h). */
#include "request.h"

#define ROW(body_, member_, reply_, flags_)                \
        [SHMVIEW__REQUEST__BODY_##body_] = {               \
                .name = #member_,                          \
                .reply = SHMVIEW__RESPONSE__BODY_##reply_, \
                .flags = (flags_),                         \
        },
static const shmv__request_spec requests[SHMV__REQUEST_CASES] = {SHMV__REQUESTS(ROW)};
#undef ROW

#define CHECK(body_, member_, reply_, flags_)                                        \
        _Static_assert(SHMVIEW__REQUEST__BODY_##body_ > 0 &&                         \
                               SHMVIEW__REQUEST__BODY_##body_ < SHMV__REQUEST_CASES, \
                       "SHMV__REQUEST_CASES is too small for " #member_);
SHMV__REQUESTS(CHECK)
#undef CHECK

const shmv__request_spec *shmv__request_find(Shmview__Request__BodyCase body)
{
        if ((unsigned)body >= SHMV__REQUEST_CASES || !requests[body].name)
                return NULL;
        return &requests[body];
}
