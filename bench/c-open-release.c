/* The C half of bench/python-open.py: the cost of opening a read-only view of a segment,
 * looking at it as a buffer consumer would (address, size, format, stride) and releasing it,
 * through libshmview directly.
 *
 *   c-open-release NAME ITERATIONS [REPEATS]
 *
 * Connects by the socket-path rule ($SHMVIEW_SOCKET), uses the existing segment NAME and prints,
 * for each repeat, the mean nanoseconds per open + release, one number a line. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <shmview.h>

static double now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
        shmv_client *c;
        shmv_view *v;
        volatile size_t sink = 0;
        long iterations, repeats;
        int r;

        if (argc < 3 || argc > 4) {
                fprintf(stderr, "usage: %s NAME ITERATIONS [REPEATS]\n", argv[0]);
                return 2;
        }
        iterations = strtol(argv[2], NULL, 10);
        repeats = argc > 3 ? strtol(argv[3], NULL, 10) : 1;
        if (iterations <= 0 || repeats <= 0) {
                fprintf(stderr, "%s: ITERATIONS and REPEATS must be positive\n", argv[0]);
                return 2;
        }
        r = shmv_connect(NULL, &c);
        if (r < 0) {
                fprintf(stderr, "shmv_connect: %s\n", shmv_strerror(r));
                return 1;
        }
        for (long k = 0; k < repeats; k++) {
                double start = now_ns();
                for (long i = 0; i < iterations; i++) {
                        r = shmv_view_open(c, argv[1], 0, SHMV_TO_END, SHMV_READ, &v);
                        if (r < 0) {
                                fprintf(stderr, "shmv_view_open: %s\n", shmv_strerror(r));
                                return 1;
                        }
                        /* What a buffer export reads. */
                        sink += (size_t)shmv_view_data(v) + shmv_view_nbytes(v) +
                                shmv_view_itemsize(v) + (size_t)shmv_view_stride(v) +
                                (size_t)shmv_view_format(v)[0];
                        shmv_view_release(v);
                }
                printf("%.1f\n", (now_ns() - start) / (double)iterations);
                fflush(stdout);
        }
        shmv_disconnect(c);
        return 0;
}
