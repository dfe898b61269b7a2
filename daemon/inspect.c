/* Inspection requests: views of a segment, clients, status. Each answers from what the daemon
 * holds in memory, one bounded page at a time, so an inspecting client costs no more than
 * listing segments does. */
#include "inspect.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "dispatch.h"
#include "log.h"
#include "wait.h"
#include "watch.h"

/* Entries in one ViewsReply or ClientsReply: 256 of the largest stay far under max_frame. */
#define VIEWS_PAGE_SIZE 256u
#define CLIENTS_PAGE_SIZE 256u

void shmv__inspect_comm(pid_t pid, char dst[static 16])
{
        dst[0] = '\0';
        if (pid <= 0)
                return;
        char path[32];
        snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return;
        ssize_t n;
        do
                n = read(fd, dst, 15);
        while (n < 0 && errno == EINTR);
        close(fd);
        if (n <= 0)
                n = 0;
        else if (dst[n - 1] == '\n')
                n--;
        dst[n] = '\0';
}

void shmv__inspect_client_ref(const shmv__conn *c, Shmview__ClientRef *ref)
{
        shmview__client_ref__init(ref);
        ref->client_id = shmv__conn_serial(c);
        ref->pid = shmv__conn_peer(c)->pid > 0 ? (uint32_t)shmv__conn_peer(c)->pid : 0;
        ref->uid = shmv__conn_peer(c)->uid;
        ref->gid = shmv__conn_peer(c)->gid;
        ref->comm.data = (uint8_t *)(uintptr_t)shmv__conn_comm(c);
        ref->comm.len = strlen(shmv__conn_comm(c));
}

void shmv__handle_views(shmv__conn *c, const Shmview__Request *request)
{
        uint64_t id = request->id;
        const Shmview__ViewsRequest *req = request->views;
        char name[SHMV_NAME_MAX + 1];
        shmv__segment *s = shmv__take_segment(c, id, &req->name, name);
        if (!s)
                return;
        shmv__view *views[VIEWS_PAGE_SIZE];
        Shmview__ViewInfo infos[VIEWS_PAGE_SIZE];
        Shmview__ClientRef refs[VIEWS_PAGE_SIZE];
        Shmview__ViewInfo *ptrs[VIEWS_PAGE_SIZE];
        bool more;
        size_t n = shmv__segment_views(s, req->after, views, VIEWS_PAGE_SIZE, &more);
        for (size_t i = 0; i < n; i++) {
                const shmv__view *v = views[i];
                shmv__inspect_client_ref(v->owner, &refs[i]);
                shmview__view_info__init(&infos[i]);
                infos[i].client = &refs[i];
                infos[i].view_id = v->id;
                infos[i].offset = v->offset;
                infos[i].length = v->length;
                infos[i].writable = v->writable;
                ptrs[i] = &infos[i];
        }
        Shmview__ViewsReply reply = SHMVIEW__VIEWS_REPLY__INIT;
        reply.n_views = n;
        reply.views = n ? ptrs : NULL;
        reply.more = more;
        reply.cursor = n ? views[n - 1]->seq : req->after;
        Shmview__Response resp = SHMVIEW__RESPONSE__INIT;
        resp.id = id;
        resp.body_case = SHMVIEW__RESPONSE__BODY_VIEWS;
        resp.views = &reply;
        shmv__conn_send(c, &resp, NULL, -1);
}

static int serial_cmp(const void *a, const void *b)
{
        uint64_t x = shmv__conn_serial(*(shmv__conn *const *)a),
                 y = shmv__conn_serial(*(shmv__conn *const *)b);
        return x < y ? -1 : x > y;
}

void shmv__handle_clients(shmv__conn *c, const Shmview__Request *request)
{
        uint64_t id = request->id;
        const Shmview__ClientsRequest *req = request->clients;
        shmv__server *s = shmv__conn_server(c);
        /* At most max_clients connections: gather those after the cursor and sort them, rather
         * than rely on the order of the connection list. */
        size_t cap = 0;
        for (shmv__conn *x = NULL; (x = shmv__server_next_conn(s, x));)
                cap++;
        shmv__conn **all = cap ? calloc(cap, sizeof(*all)) : NULL;
        if (cap && !all) {
                shmv__reply_error(c, id, ENOMEM, "out of memory");
                return;
        }
        size_t total = 0;
        for (shmv__conn *x = NULL; (x = shmv__server_next_conn(s, x));)
                if (shmv__conn_serial(x) > req->after)
                        all[total++] = x;
        qsort(all, total, sizeof(*all), serial_cmp);

        size_t n = total < CLIENTS_PAGE_SIZE ? total : CLIENTS_PAGE_SIZE;
        Shmview__ClientInfo infos[CLIENTS_PAGE_SIZE];
        Shmview__ClientRef refs[CLIENTS_PAGE_SIZE];
        Shmview__ClientInfo *ptrs[CLIENTS_PAGE_SIZE];
        for (size_t i = 0; i < n; i++) {
                shmv__conn *x = all[i];
                shmv__inspect_client_ref(x, &refs[i]);
                shmview__client_info__init(&infos[i]);
                infos[i].client = &refs[i];
                infos[i].connected_usec = shmv__conn_connected_usec(x);
                infos[i].views = shmv__view_table_count(shmv__conn_views(x));
                infos[i].bytes_mapped = shmv__conn_views(x)->bytes;
                infos[i].watching = shmv__conn_watcher(x) != NULL;
                infos[i].waits = shmv__wait_count(x);
                infos[i].armed = shmv__conn_views(x)->armed;
                ptrs[i] = &infos[i];
        }
        Shmview__ClientsReply reply = SHMVIEW__CLIENTS_REPLY__INIT;
        reply.n_clients = n;
        reply.clients = n ? ptrs : NULL;
        reply.more = total > n;
        reply.self_id = shmv__conn_serial(c);
        Shmview__Response resp = SHMVIEW__RESPONSE__INIT;
        resp.id = id;
        resp.body_case = SHMVIEW__RESPONSE__BODY_CLIENTS;
        resp.clients = &reply;
        shmv__conn_send(c, &resp, NULL, -1);
        free(all);
}

void shmv__handle_daemon_status(shmv__conn *c, const Shmview__Request *req)
{
        uint64_t id = req->id;
        shmv__server *s = shmv__conn_server(c);
        Shmview__Limits limits;
        shmv__dispatch_limits(s, &limits);
        Shmview__StatusReply st = SHMVIEW__STATUS_REPLY__INIT;
        shmv__dispatch_version(&st.server_version);
        st.protocol_version = SHMV__PROTOCOL_VERSION;
        st.started_usec = s->started_usec;
        st.uptime_usec = shmv__mono_usec() - s->started_mono_usec;
        st.socket_path.data = (uint8_t *)s->config.socket_path;
        st.socket_path.len = strlen(s->config.socket_path);
        st.clients = s->nconns;
        st.watchers = s->nwatchers;
        uint32_t linked, live;
        shmv__registry_counts(s->registry, &linked, &live);
        st.segments = linked;
        st.segments_unlinked = live - linked;
        for (shmv__conn *x = NULL; (x = shmv__server_next_conn(s, x));)
                st.views += shmv__view_table_count(shmv__conn_views(x));
        st.bytes_used = shmv__registry_bytes_used(s->registry);
        st.limits = &limits;
        st.watch_queue_bytes = SHMV__WATCH_QUEUE_BYTES;
        st.waits = shmv__wait_total(s);
        st.armed = (uint32_t)shmv__registry_armed(s->registry);
        Shmview__Response resp = SHMVIEW__RESPONSE__INIT;
        resp.id = id;
        resp.body_case = SHMVIEW__RESPONSE__BODY_DAEMON_STATUS;
        resp.daemon_status = &st;
        shmv__conn_send(c, &resp, NULL, -1);
}
