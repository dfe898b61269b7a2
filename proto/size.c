/* The size grammar (size.h). Digits only: strtoull() would take "-1" and leading spaces. */
#include "size.h"

#include <errno.h>
#include <string.h>

static int digit(char c, unsigned base)
{
        int d = -1;
        if (c >= '0' && c <= '9')
                d = c - '0';
        else if (c >= 'a' && c <= 'f')
                d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
                d = c - 'A' + 10;
        return d >= 0 && (unsigned)d < base ? d : -1;
}

int shmv__parse_size(const char *s, uint64_t *ret)
{
        unsigned base = 10;
        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
                base = 16;
                s += 2;
        }
        if (digit(*s, base) < 0)
                return -EINVAL;
        uint64_t v = 0;
        for (int d; (d = digit(*s, base)) >= 0; s++) {
                if (v > (UINT64_MAX - (unsigned)d) / base)
                        return -ERANGE;
                v = v * base + (unsigned)d;
        }
        static const char units[] = "KMGTPE";
        unsigned shift = 0;
        if (base == 16 && *s) {
                return -EINVAL; /* 0x1E is a number, not 1 EiB: no unit after hex */
        } else if (*s == 'B' && !s[1]) {
                s++;
        } else if (*s) {
                const char *u = strchr(units, *s >= 'a' && *s <= 'z' ? *s - 'a' + 'A' : *s);
                if (!u || !*u)
                        return -EINVAL;
                shift = 10 * (unsigned)(u - units + 1);
                s++;
                if (strcmp(s, "iB") == 0)
                        s += 2;
        }
        if (*s)
                return -EINVAL;
        if (shift && v > UINT64_MAX >> shift)
                return -ERANGE;
        *ret = v << shift;
        return 0;
}
