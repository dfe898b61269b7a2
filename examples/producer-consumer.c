/* A producer creates a segment, writes a frame into it and seals it; a consumer in another
 * process, started first, waits until the segment is sealed, then opens a read-only view of
 * part of it, slices it and reads the producer's bytes with no copy.
 *
 *   shmviewd --socket /tmp/shmview.sock &
 *   SHMVIEW_SOCKET=/tmp/shmview.sock ./producer-consumer
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shmview.h>

#define CHECK(expr)                                                            \
        do {                                                                   \
                int r_ = (expr);                                               \
                if (r_ < 0) {                                                  \
                        fprintf(stderr, "%s: %s\n", #expr, shmv_strerror(r_)); \
                        exit(1);                                               \
                }                                                              \
        } while (0)

static int consumer(const char *name)
{
        shmv_client *c;
        shmv_view *v, *letters, *backwards;
        char buf[27] = "";

        CHECK(shmv_connect(NULL, &c));
        /* Not before the producer is done: sealed, the bytes can no longer change. */
        CHECK(shmv_segment_wait(c, name, SHMV_WAIT_SEALED, 10000));
        CHECK(shmv_view_open(c, name, 4096, 1 << 20, SHMV_READ, &v));
        CHECK(shmv_view_slice(v, 0, 26, 1, &letters));
        CHECK(shmv_view_slice(letters, SHMV_NONE, SHMV_NONE, -1, &backwards));
        CHECK(shmv_view_tobytes(backwards, buf, 26));
        printf("consumer: %zu bytes mapped, [0:26][::-1] = %s\n", shmv_view_len(v), buf);

        /* The view is read-only: the library refuses, and so would the kernel. */
        int r = shmv_view_set(letters, 0, "K");
        printf("consumer: writing gives \"%s\"\n", shmv_strerror(r));

        shmv_view_release(backwards);
        shmv_view_release(letters);
        shmv_view_release(v);
        shmv_disconnect(c);
        return strcmp(buf, "zyxwvutsrqponmlkjihgfedcba") == 0 && r < 0 ? 0 : 1;
}

int main(void)
{
        shmv_client *c;
        shmv_view *w;
        char name[64];

        snprintf(name, sizeof(name), "example-frames-%d", (int)getpid());
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
                int r = consumer(name);
                fflush(stdout);
                _exit(r);
        }

        CHECK(shmv_connect(NULL, &c));
        CHECK(shmv_segment_create(c, name, 64 << 20, 0644));
        CHECK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &w));
        void *data;
        CHECK(shmv_view_data_mut(w, &data)); /* -EROFS for a view opened without SHMV_WRITE */
        memcpy((char *)data + 4096, "abcdefghijklmnopqrstuvwxyz", 26);
        printf("producer: wrote a frame into %s (%zu bytes)\n", name, shmv_view_nbytes(w));
        fflush(stdout);
        shmv_view_release(w); /* a segment is sealed once no writable view is open */
        CHECK(shmv_segment_seal(c, name));

        int status;
        waitpid(pid, &status, 0);
        CHECK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
