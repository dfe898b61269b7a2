/* Errors that say what is wrong (issue 14): what shmv_connect() finds at the socket path
 * (nothing, not a socket, no permission, nobody listening), the library's own messages for
 * what it refuses before asking, and the calls that name things: shmv_err_name(),
 * shmv_view_name(), shmv_segment_create_open(). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

#define RW (SHMV_READ | SHMV_WRITE)

/* shmv_connect(path) fails with want, and the message starts with prefix and names path. */
static void connect_fails(const char *path, int want, const char *prefix)
{
        shmv_client *c = NULL;
        CHECK_RC(shmv_connect(path, &c), want);
        CHECK(c == NULL);
        const char *msg = shmv_last_error_message();
        if (!msg || strncmp(msg, prefix, strlen(prefix)) != 0 || !strstr(msg, path))
                th_fail(__FILE__, __LINE__, "connect %s: message '%s', wanted '%s...'", path,
                        msg ? msg : "(null)", prefix);
}

/* A Unix socket bound at path; listening when listen_too. Returns its descriptor. */
static int bound_socket(const char *path, bool listen_too)
{
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(fd >= 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        unlink(path);
        CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
        if (listen_too)
                CHECK(listen(fd, 4) == 0);
        return fd;
}

static char scratch[96];

static void connect_as_nobody(void *arg)
{
        th_become(65534, 65534);
        connect_fails(arg, -EACCES, "permission denied to connect to ");
}

static void test_connect_errors(void)
{
        snprintf(scratch, sizeof(scratch), "%s.missing", th_socket_path());
        connect_fails(scratch, -ENOENT, "no socket at ");
        connect_fails("/nonexistent/dir/x.sock", -ENOENT, "no socket at ");
        connect_fails("/etc/passwd", -ENOTSOCK, "/etc/passwd is not a socket but a regular file");
        connect_fails("/tmp", -ENOTSOCK, "/tmp is not a socket but a directory");
        connect_fails("/etc/passwd/x.sock", -ENOTSOCK, "no socket at ");
        CHECK_STR(shmv_strerror(-ENOTSOCK), "not a socket");

        /* Bound, never listening: what a daemon that stopped leaves. */
        snprintf(scratch, sizeof(scratch), "%s.stale", th_socket_path());
        int fd = bound_socket(scratch, false);
        connect_fails(scratch, -ECONNREFUSED, "nobody is listening on ");
        close(fd);
        unlink(scratch);

        /* Listening, but mode 0600 of root's: uid 65534 may not connect. */
        if (geteuid() == 0) {
                snprintf(scratch, sizeof(scratch), "%s.private", th_socket_path());
                fd = bound_socket(scratch, true);
                CHECK(chmod(scratch, 0600) == 0);
                CHECK(th_in_child(connect_as_nobody, scratch) == 0);
                close(fd);
                unlink(scratch);
        }
        /* The watch connects the same way. */
        shmv_watch *w = NULL;
        CHECK_RC(shmv_watch_open("/etc/passwd", &w), -ENOTSOCK);
        CHECK(w == NULL && shmv_last_error_message() != NULL);
}

static void bad_timeout(void *arg)
{
        setenv("SHMVIEW_TIMEOUT_MS", "abc", 1);
        shmv_client *c;
        CHECK_RC(shmv_connect(th_socket_path(), &c), -EINVAL);
        CHECK_STR(shmv_last_error_message(),
                  "SHMVIEW_TIMEOUT_MS is 'abc', not a timeout (milliseconds above 0, or -1 for "
                  "none)");
}

static void test_library_messages(void)
{
        shmv_client *c = th_connect();
        CHECK_RC(shmv_segment_create(c, "a/b", 4096, 0), -EINVAL);
        CHECK_STR(shmv_last_error_message(), "not a segment name (1 to 255 bytes, no '/', no "
                                             "control characters, not '.' or '..')");
        CHECK_RC(shmv_segment_stat(c, "..", &(shmv_segment_info){0}), -EINVAL);
        CHECK(strncmp(shmv_last_error_message(), "not a segment name (", 20) == 0);
        shmv_view *v;
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("msg"));
        CHECK_OK(shmv_segment_create(c, name, 4096, 0));
        CHECK(shmv_last_error_message() == NULL);
        CHECK_RC(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_WRITE, &v), -EINVAL);
        CHECK_STR(shmv_last_error_message(),
                  "flags 0x2: SHMV_READ, or SHMV_READ | SHMV_WRITE, optionally with SHMV_PREFAULT");
        CHECK_RC(shmv_segment_create_with_flags(c, th_name("msg"), 4096, 0, 8), -EINVAL);
        CHECK_STR(shmv_last_error_message(), "flags 0x8: 0 or SHMV_SEGMENT_HUGE_PAGES");
        CHECK(th_in_child(bad_timeout, NULL) == 0);

        /* EDQUOT and ENOSPC each come from two limits: the sentence names both. */
        CHECK(strstr(shmv_strerror(-EDQUOT), "max_bytes_per_uid") &&
              strstr(shmv_strerror(-EDQUOT), "max_segments_per_uid"));
        CHECK(strstr(shmv_strerror(-ENOSPC), "max_bytes") &&
              strstr(shmv_strerror(-ENOSPC), "max_segments"));
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

static void test_err_name(void)
{
        CHECK_STR(shmv_err_name(-ENOENT), "ENOENT");
        CHECK_STR(shmv_err_name(EROFS), "EROFS");
        CHECK_STR(shmv_err_name(-EDQUOT), "EDQUOT");
        CHECK_STR(shmv_err_name(0), "EUNKNOWN");
        CHECK_STR(shmv_err_name(-100000), "EUNKNOWN");
}

static void test_create_open(void)
{
        shmv_client *c = th_connect();
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("made"));
        shmv_view *w;
        CHECK_OK(shmv_segment_create_open(c, name, 10000, 0640, 0, &w));
        CHECK(!shmv_view_readonly(w) && shmv_view_nbytes(w) == 10000);
        CHECK_STR(shmv_view_name(w), name);
        shmv_view *s;
        CHECK_OK(shmv_view_slice(w, 2, 6, 1, &s));
        CHECK_STR(shmv_view_name(s), name);
        memcpy((char *)th_data_mut(w) + 9990, "0123456789", 10);
        shmv_view *r;
        CHECK_OK(shmv_view_open(c, name, 9990, 10, SHMV_READ, &r));
        CHECK(memcmp(shmv_view_data(r), "0123456789", 10) == 0);
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, name, &info));
        CHECK(info.mode == 0640 && info.views_rw == 1 && info.views_ro == 1);
        /* Taken: nothing opened, nothing unlinked. */
        shmv_view *again = NULL;
        CHECK_RC(shmv_segment_create_open(c, name, 4096, 0, 0, &again), -EEXIST);
        CHECK(again == NULL && shmv_last_error_message() != NULL);
        CHECK_RC(shmv_segment_create_open(c, th_name("made"), 4096, 0, SHMV_WRITE, &again),
                 -EINVAL);
        shmv_view_release(r);
        shmv_view_release(s);
        shmv_view_release(w);
        CHECK_OK(shmv_segment_unlink(c, name));
        /* With SHMV_PREFAULT. */
        CHECK_OK(shmv_segment_create_open(c, name, 8192, 0, SHMV_PREFAULT, &w));
        CHECK(shmv_view_nbytes(w) == 8192 && !shmv_view_readonly(w));
        shmv_view_release(w);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

int main(int argc, char **argv)
{
        static const th_test tests[] = {
                TH_TEST(test_connect_errors),
                TH_TEST(test_library_messages),
                TH_TEST(test_err_name),
                TH_TEST(test_create_open),
        };
        return th_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]), NULL);
}
