/* The daemon: clients, status, watch. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

int cli_cmd_clients(cli_ctx *ctx)
{
        shmv_client *c;
        if (cli_connect(ctx, &c) != CLI_OK)
                return CLI_FAIL;
        shmv_client_info *list;
        size_t n;
        int r = shmv_client_list(c, &list, &n);
        cli_pids_learn(shmv_client_pids_shared(c));
        shmv_disconnect(c);
        if (r < 0)
                return cli_fail(ctx, "clients", "%s", cli_why(r, NULL));
        if (ctx->json) {
                json_object *arr = json_object_new_array();
                for (size_t i = 0; i < n; i++) {
                        const shmv_client_info *ci = &list[i];
                        json_object *o = cli_json_client(&ci->client);
                        json_object_object_add(o, "views", cli_json_u64(ci->views));
                        json_object_object_add(o, "bytes_mapped", cli_json_u64(ci->bytes_mapped));
                        json_object_object_add(o, "connected_usec",
                                               cli_json_u64(ci->connected_usec));
                        json_object_object_add(o, "watching",
                                               json_object_new_boolean(ci->watching));
                        json_object_object_add(o, "self", json_object_new_boolean(ci->self));
                        json_object_object_add(o, "waits", cli_json_u64(ci->waits));
                        json_object_object_add(o, "armed", cli_json_u64(ci->armed));
                        json_object_array_add(arr, o);
                }
                cli_json_print(arr, false);
        } else {
                static const char *const headers[] = {"ID",    "PID",    "USER", "COMMAND",
                                                      "VIEWS", "MAPPED", "AGE",  "NOTE"};
                cli_table *t = cli_table_new(8, headers, "rr--rrr-");
                for (size_t i = 0; i < n; i++) {
                        const shmv_client_info *ci = &list[i];
                        char id[24], pid[16], user[64], views[16], mapped[32], age[32];
                        char waiting[32];
                        snprintf(waiting, sizeof(waiting), "waiting (%" PRIu32 ")", ci->waits);
                        snprintf(id, sizeof(id), "%" PRIu64, ci->client.client_id);
                        cli_format_pid(pid, ci->client.pid);
                        snprintf(views, sizeof(views), "%" PRIu32, ci->views);
                        char *comm = cli_escape(ci->client.comm);
                        const char *row[] = {id,
                                             pid,
                                             cli_user_name(user, ci->client.uid),
                                             comm,
                                             views,
                                             cli_format_size(mapped, ci->bytes_mapped, ctx->bytes),
                                             cli_format_age(age, ci->connected_usec),
                                             ci->self       ? "this command"
                                             : ci->watching ? "watching"
                                             : ci->waits    ? waiting
                                                            : ""};
                        cli_table_add(t, row);
                        free(comm);
                }
                int status = cli_table_print(t, ctx, stdout);
                cli_table_free(t);
                if (status != CLI_OK) {
                        shmv_client_list_free(list);
                        return status;
                }
        }
        shmv_client_list_free(list);
        return cli_finish_output(ctx);
}

static json_object *limits_json(const shmv_limits *l)
{
        json_object *o = json_object_new_object();
        size_t n;
        const shmv_limits_field *f = shmv_limits_fields(&n);
        for (size_t i = 0; i < n; i++)
                json_object_object_add(o, f[i].name, cli_json_u64(shmv_limits_get(l, &f[i])));
        return o;
}

/* "  name   value" lines of status; values of 0 are limits the daemon does not announce. */
static void limit_line(const char *name, uint64_t v, bool size, bool exact)
{
        char buf[32];
        if (v == 0)
                printf("  %-22s none\n", name);
        else if (size)
                printf("  %-22s %s\n", name, cli_format_size(buf, v, exact));
        else
                printf("  %-22s %" PRIu64 "\n", name, v);
}

int cli_cmd_status(cli_ctx *ctx)
{
        shmv_client *c;
        if (cli_connect(ctx, &c) != CLI_OK)
                return CLI_FAIL;
        shmv_daemon_info st;
        int r = shmv_daemon_status(c, &st);
        shmv_disconnect(c);
        if (r < 0)
                return cli_fail(ctx, "status", "%s", cli_why(r, NULL));
        const shmv_limits *l = &st.limits;
        if (ctx->json) {
                char when[64];
                json_object *o = json_object_new_object();
                json_object_object_add(o, "version", cli_json_string(st.version));
                json_object_object_add(o, "protocol_version", cli_json_u64(st.protocol_version));
                json_object_object_add(o, "socket", cli_json_string(st.socket_path));
                json_object_object_add(o, "started_usec", cli_json_u64(st.started_usec));
                json_object_object_add(
                        o, "started",
                        json_object_new_string(cli_format_time_iso(when, st.started_usec)));
                json_object_object_add(o, "uptime_usec", cli_json_u64(st.uptime_usec));
                json_object_object_add(o, "clients", cli_json_u64(st.clients));
                json_object_object_add(o, "watchers", cli_json_u64(st.watchers));
                json_object_object_add(o, "segments", cli_json_u64(st.segments));
                json_object_object_add(o, "segments_unlinked", cli_json_u64(st.segments_unlinked));
                json_object_object_add(o, "views", cli_json_u64(st.views));
                json_object_object_add(o, "bytes_used", cli_json_u64(st.bytes_used));
                json_object_object_add(o, "watch_queue_bytes", cli_json_u64(st.watch_queue_bytes));
                json_object_object_add(o, "waits", cli_json_u64(st.waits));
                json_object_object_add(o, "armed", cli_json_u64(st.armed));
                json_object_object_add(o, "limits", limits_json(l));
                cli_json_print(o, false);
                return cli_finish_output(ctx);
        }
        char up[32], when[64], used[32], max[32];
        char *version = cli_escape(st.version), *socket = cli_escape(st.socket_path);
        printf("daemon:    shmviewd %s, protocol %" PRIu32 "\n", version, st.protocol_version);
        printf("socket:    %s\n", socket);
        printf("uptime:    %s (since %s)\n", cli_format_duration(up, st.uptime_usec),
               cli_format_time(when, st.started_usec));
        printf("clients:   %" PRIu32 " (%" PRIu32 " watching)\n", st.clients, st.watchers);
        printf("segments:  %" PRIu32 " (and %" PRIu32 " unlinked, still held by views)\n",
               st.segments, st.segments_unlinked);
        printf("views:     %" PRIu64 "\n", st.views);
        printf("waits:     %" PRIu32 "\n", st.waits);
        printf("armed:     %" PRIu32 " views (for doorbell waits)\n", st.armed);
        printf("memory:    %s in use (whole pages) of %s (max_bytes)\n",
               cli_format_size(used, st.bytes_used, ctx->bytes),
               cli_format_size(max, l->max_bytes, ctx->bytes));
        printf("limits:\n");
        size_t n;
        const shmv_limits_field *f = shmv_limits_fields(&n);
        for (size_t i = 0; i < n; i++)
                limit_line(f[i].name, shmv_limits_get(l, &f[i]), f[i].unit == SHMV_LIMIT_BYTES,
                           ctx->bytes);
        limit_line("watch_queue_bytes", st.watch_queue_bytes, true, ctx->bytes);
        free(version);
        free(socket);
        return cli_finish_output(ctx);
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
        (void)sig;
        interrupted = 1;
}

/* A value for key=value output: quoted when it holds a space, a quote or nothing. */
static void print_value(const char *key, const char *raw)
{
        char *s = cli_escape(raw);
        if (!*s || strpbrk(s, " \"=")) {
                printf(" %s=\"", key);
                for (const char *p = s; *p; p++) {
                        if (*p == '"')
                                putchar('\\');
                        putchar(*p);
                }
                putchar('"');
        } else {
                printf(" %s=%s", key, s);
        }
        free(s);
}

static void print_event(const cli_ctx *ctx, const shmv_event *ev)
{
        const char *kind = shmv_event_kind_name(ev->kind);
        char buf[64], size[32];
        bool segment = ev->kind >= SHMV_EVENT_CREATED && ev->kind <= SHMV_EVENT_VIEW_RELEASED;
        bool view = ev->kind == SHMV_EVENT_VIEW_OPENED || ev->kind == SHMV_EVENT_VIEW_RELEASED;
        if (ctx->json) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "event", json_object_new_string(kind));
                json_object_object_add(o, "time_usec", cli_json_u64(ev->time_usec));
                json_object_object_add(
                        o, "time", json_object_new_string(cli_format_time_iso(buf, ev->time_usec)));
                json_object_object_add(o, "client", cli_json_client(&ev->client));
                if (segment)
                        json_object_object_add(o, "name", cli_json_string(ev->name));
                if (ev->kind == SHMV_EVENT_CREATED) {
                        json_object_object_add(o, "size", cli_json_u64(ev->size));
                        json_object_object_add(
                                o, "mode",
                                json_object_new_string(cli_format_mode((char[8]){0}, ev->mode)));
                }
                if (view) {
                        json_object_object_add(o, "view_id", cli_json_u64(ev->view_id));
                        json_object_object_add(o, "offset", cli_json_u64(ev->offset));
                        json_object_object_add(o, "length", cli_json_u64(ev->length));
                        json_object_object_add(o, "writable",
                                               json_object_new_boolean(ev->writable));
                }
                if (ev->kind == SHMV_EVENT_CLIENT_GONE)
                        json_object_object_add(o, "views", cli_json_u64(ev->views));
                cli_json_print(o, true);
        } else {
                printf("%s %s", cli_format_time_iso(buf, ev->time_usec), kind);
                if (segment)
                        print_value("name", ev->name);
                if (ev->kind == SHMV_EVENT_CREATED) {
                        printf(" size=%s mode=%s", cli_format_size(size, ev->size, false),
                               cli_format_mode((char[8]){0}, ev->mode));
                }
                if (view) {
                        char off[32];
                        printf(" view=%" PRIu64 " offset=%s length=%s %s", ev->view_id,
                               cli_format_size(off, ev->offset, true),
                               cli_format_size(size, ev->length, true), ev->writable ? "rw" : "ro");
                }
                if (ev->kind == SHMV_EVENT_CLIENT_GONE)
                        printf(" views=%" PRIu32, ev->views);
                char pid[16];
                printf(" client=%" PRIu64 " pid=%s", ev->client.client_id,
                       cli_format_pid(pid, ev->client.pid));
                print_value("user", cli_user_name(buf, ev->client.uid));
                print_value("command", ev->client.comm);
                putchar('\n');
        }
        /* Each line as it happens, even into a pipe. */
        fflush(stdout);
}

int cli_cmd_watch(cli_ctx *ctx)
{
        shmv_watch *w;
        int r = shmv_watch_open(ctx->socket, &w);
        if (r < 0)
                return cli_connect_failed(ctx, r,
                                          r == -EUSERS ? "the daemon has too many watchers (or "
                                                         "clients) already"
                                                       : NULL);
        /* Whose pids the events carry: the daemon said in the watch connection's hello. */
        cli_pids_learn(shmv_watch_pids_shared(w));
        /* Interrupted, the wait returns -EINTR: the watch ends cleanly with status 0. */
        struct sigaction sa = {.sa_handler = on_signal};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
        int status = CLI_OK;
        while (!interrupted) {
                shmv_event ev;
                r = shmv_watch_next(w, -1, &ev);
                if (r == -EINTR || r == -EAGAIN)
                        continue;
                if (r < 0) {
                        status = cli_fail(ctx, cli_socket_path(ctx), "%s", cli_why(r, NULL));
                        break;
                }
                print_event(ctx, &ev);
                if (ferror(stdout)) {
                        status = cli_fail(ctx, "standard output", "%s", strerror(errno));
                        break;
                }
                if (ev.kind == SHMV_EVENT_OVERFLOW) {
                        status = cli_fail(ctx, "events",
                                          "the daemon dropped this watch: it read events too "
                                          "slowly, and some were lost");
                        break;
                }
        }
        shmv_watch_close(w);
        return status;
}

/* The process that listens on the socket: the supervisor, which bound it (SO_PEERCRED on a
 * connection gives the credentials of the listen() of its socket); 0 when it is in a PID
 * namespace we cannot see, -errno when nothing answers. */
static int listener_pid(const char *path, pid_t *ret)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        struct ucred cred;
        socklen_t len = sizeof(cred);
        int r = 0;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                r = -errno;
        close(fd);
        if (r == 0)
                *ret = cred.pid;
        return r;
}

/* Whether pid runs shmviewd with --supervise: never signal another process. */
static bool is_supervisor(pid_t pid)
{
        char path[64], args[4096];
        snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
        FILE *f = fopen(path, "re");
        if (!f)
                return false;
        size_t n = fread(args, 1, sizeof(args) - 1, f);
        fclose(f);
        args[n] = '\0';
        const char *base = strrchr(args, '/');
        if (strcmp(base ? base + 1 : args, "shmviewd") != 0)
                return false;
        for (size_t i = strlen(args) + 1; i < n; i += strlen(args + i) + 1)
                if (strcmp(args + i, "--supervise") == 0)
                        return true;
        return false;
}

int cli_cmd_restart(cli_ctx *ctx)
{
        const char *path = cli_socket_path(ctx);
        shmv_client *c;
        if (cli_connect(ctx, &c) != CLI_OK)
                return CLI_FAIL;
        shmv_daemon_info before, now;
        int r = shmv_daemon_status(c, &before);
        pid_t pid = 0;
        if (r == 0)
                r = listener_pid(path, &pid);
        if (r < 0) {
                shmv_disconnect(c);
                return cli_fail(ctx, path, "%s", cli_why(r, NULL));
        }
        if (pid == 0 || !is_supervisor(pid)) {
                shmv_disconnect(c);
                if (pid == 0)
                        return cli_fail(ctx, path,
                                        "the process listening on it is in another PID "
                                        "namespace: send SIGHUP to shmviewd --supervise there");
                return cli_fail(ctx, path,
                                "the process listening on it (pid %d) is not shmviewd "
                                "--supervise; under systemd: systemctl restart shmviewd.service",
                                (int)pid);
        }
        if (kill(pid, SIGHUP) < 0) {
                r = -errno;
                shmv_disconnect(c);
                return cli_fail(ctx, path, "cannot signal the supervisor (pid %d): %s", (int)pid,
                                strerror(-r));
        }
        /* Done when a daemon started since answers; calls wait in the socket's backlog
         * meanwhile. */
        for (int i = 0; i < 600; i++) {
                r = shmv_daemon_status(c, &now);
                if (r == 0 && now.started_usec != before.started_usec) {
                        shmv_disconnect(c);
                        return CLI_OK;
                }
                nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
        }
        shmv_disconnect(c);
        return cli_fail(ctx, path, "no new daemon answered within 30 seconds");
}
