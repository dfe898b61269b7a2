/* systemd's interfaces, through libsystemd (libsystemd-dev in Debian) rather than a copy of
 * the protocols. They are small and documented, but libsystemd is their reference
 * implementation, and it gets right what a copy would have to get right and keep right:
 * LISTEN_PID checks and FD_CLOEXEC on passed descriptors, abstract-namespace and vsock notify
 * sockets, credentials on each notification, descriptors attached with SCM_RIGHTS. The daemon
 * only links against it; when no service manager is there every call below is a no-op. */
#include "systemd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "segment.h"
#include "server.h"

/* How often the STATUS= line is brought up to date, at most. */
#define STATUS_INTERVAL_MS 1000

int shmv__sd_listen_fds(shmv__passed_fd **ret, size_t *ret_n)
{
        char **names = NULL;
        int n = sd_listen_fds_with_names(1, &names);
        if (n < 0)
                return log_error_errno(n, "descriptors passed by the service manager: %m");
        shmv__passed_fd *p = NULL;
        if (n > 0) {
                p = calloc((size_t)n, sizeof(*p));
                if (!p) {
                        for (int i = 0; i < n; i++)
                                close(SD_LISTEN_FDS_START + i);
                        if (names)
                                for (int i = 0; i < n; i++)
                                        free(names[i]);
                        free(names);
                        return -ENOMEM;
                }
                for (int i = 0; i < n; i++) {
                        p[i].fd = SD_LISTEN_FDS_START + i;
                        /* Without LISTEN_FDNAMES, libsystemd names them all "unknown". */
                        p[i].name = names ? names[i] : NULL;
                }
        }
        free(names); /* the strings now belong to p */
        *ret = p;
        *ret_n = (size_t)n;
        return 0;
}

void shmv__sd_passed_free(shmv__passed_fd *p, size_t n)
{
        if (!p)
                return;
        for (size_t i = 0; i < n; i++) {
                if (p[i].fd >= 0)
                        close(p[i].fd);
                free(p[i].name);
        }
        free(p);
}

bool shmv__sd_is_listener(int fd)
{
        return sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) > 0;
}

int shmv__sd_take_listener(shmv__passed_fd *p, size_t n)
{
        int listener = -1;
        for (size_t i = 0; i < n; i++) {
                if (p[i].fd < 0 || !shmv__sd_is_listener(p[i].fd))
                        continue;
                if (listener < 0) {
                        listener = p[i].fd;
                } else {
                        log_warning("the service manager passed more than one listening socket; "
                                    "\"%s\" is closed",
                                    p[i].name ? p[i].name : "");
                        close(p[i].fd);
                }
                p[i].fd = -1;
        }
        return listener;
}

bool shmv__sd_booted(void)
{
        const char *e = getenv("NOTIFY_SOCKET");
        return e && *e;
}

uint64_t shmv__sd_fdstore_max(void)
{
        const char *e = getenv("FDSTORE");
        if (!e || *e < '0' || *e > '9')
                return 0;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(e, &end, 10);
        if (errno || *end)
                return 0;
        return v;
}

bool shmv__sd_fdstore_enabled(void)
{
        if (!shmv__sd_booted())
                return false;
        const char *e = getenv("FDSTORE");
        /* systemd 254 and later say FDSTORE=0 when the unit keeps no descriptors. */
        return !e || shmv__sd_fdstore_max() > 0;
}

int shmv__sd_notify(const char *fmt, ...)
{
        if (!shmv__sd_booted())
                return 0;
        char buf[512];
        va_list ap;
        va_start(ap, fmt);
        int len = vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        if (len < 0 || (size_t)len >= sizeof(buf))
                return -EINVAL;
        int r = sd_notify(0, buf);
        if (r < 0)
                return log_warning_errno(r, "notifying the service manager: %m");
        return 0;
}

int shmv__sd_fdstore(int fd, const char *name)
{
        char buf[300];
        int len = snprintf(buf, sizeof(buf), "FDSTORE=1\nFDNAME=%s", name);
        if (len < 0 || (size_t)len >= sizeof(buf))
                return -EINVAL;
        int r = sd_pid_notify_with_fds(0, 0, buf, &fd, 1);
        if (r < 0)
                return log_warning_errno(r, "storing descriptor %s with the service manager: %m",
                                         name);
        return r > 0 ? 0 : -ENOTCONN;
}

int shmv__sd_fdstore_remove(const char *name)
{
        return shmv__sd_notify("FDSTOREREMOVE=1\nFDNAME=%s", name);
}

void shmv__sd_status_text(const shmv__server *server, char *buf, size_t size)
{
        uint32_t linked = 0, live = 0;
        shmv__registry_counts(server->registry, &linked, &live);
        snprintf(buf, size, "%u clients, %" PRIu32 " segments, %" PRIu64 " bytes", server->nconns,
                 linked, shmv__registry_bytes_used(server->registry));
}

static void on_watchdog(uv_timer_t *t)
{
        (void)shmv__sd_notify("WATCHDOG=1");
}

static void on_status(uv_timer_t *t)
{
        shmv__sd_monitor *m = t->data;
        char text[sizeof(m->last_status)];
        shmv__sd_status_text(m->server, text, sizeof(text));
        if (strcmp(text, m->last_status) == 0)
                return;
        if (shmv__sd_notify("STATUS=%s", text) == 0)
                memcpy(m->last_status, text, sizeof(text));
}

int shmv__sd_monitor_start(shmv__sd_monitor *m, uv_loop_t *loop, shmv__server *server)
{
        memset(m, 0, sizeof(*m));
        m->server = server;
        if (!shmv__sd_booted())
                return 0;
        shmv__sd_status_text(server, m->last_status, sizeof(m->last_status));

        int r = uv_timer_init(loop, &m->status);
        if (r < 0)
                return r;
        m->status_init = true;
        m->status.data = m;
        uv_unref((uv_handle_t *)&m->status);
        r = uv_timer_start(&m->status, on_status, STATUS_INTERVAL_MS, STATUS_INTERVAL_MS);
        if (r < 0)
                return r;

        uint64_t usec = 0;
        r = sd_watchdog_enabled(0, &usec);
        if (r < 0)
                (void)log_warning_errno(r, "watchdog settings: %m");
        if (r <= 0 || usec == 0)
                return 0;
        uint64_t ms = usec / 2000;
        if (ms == 0)
                ms = 1;
        r = uv_timer_init(loop, &m->watchdog);
        if (r < 0)
                return r;
        m->watchdog_init = true;
        m->watchdog.data = m;
        uv_unref((uv_handle_t *)&m->watchdog);
        r = uv_timer_start(&m->watchdog, on_watchdog, ms, ms);
        if (r < 0)
                return r;
        log_debug("watchdog: keep-alive every %" PRIu64 " ms", ms);
        return 0;
}

void shmv__sd_monitor_stop(shmv__sd_monitor *m)
{
        if (m->status_init) {
                uv_close((uv_handle_t *)&m->status, NULL);
                m->status_init = false;
        }
        if (m->watchdog_init) {
                uv_close((uv_handle_t *)&m->watchdog, NULL);
                m->watchdog_init = false;
        }
}
