/* Segments: ls, stat, create, rm, seal. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The JSON object of one segment, shared by ls and stat. */
static json_object *segment_json(const shmv_segment_info *s)
{
        char buf[64];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "name", cli_json_string(s->name));
        json_object_object_add(o, "size", cli_json_u64(s->size));
        json_object_object_add(o, "mode", json_object_new_string(cli_format_mode(buf, s->mode)));
        json_object_object_add(o, "uid", cli_json_u64(s->uid));
        json_object_object_add(
                o, "user",
                cli_user_known(s->uid) ? json_object_new_string(cli_user_name(buf, s->uid)) : NULL);
        json_object_object_add(o, "gid", cli_json_u64(s->gid));
        json_object_object_add(o, "group",
                               cli_group_known(s->gid)
                                       ? json_object_new_string(cli_group_name(buf, s->gid))
                                       : NULL);
        json_object_object_add(o, "sealed", json_object_new_boolean(s->sealed));
        json_object_object_add(o, "views_ro", cli_json_u64(s->views_ro));
        json_object_object_add(o, "views_rw", cli_json_u64(s->views_rw));
        json_object_object_add(o, "created_usec", cli_json_u64(s->created_usec));
        json_object_object_add(o, "created",
                               json_object_new_string(cli_format_time_iso(buf, s->created_usec)));
        json_object_object_add(o, "generation", cli_json_u64(s->generation));
        return o;
}

int cli_cmd_ls(cli_ctx *ctx)
{
        if (ctx->names && (ctx->json || ctx->bytes))
                return cli_usage(ctx, "--names", "goes with neither --json nor --bytes");
        shmv_client *c;
        if (cli_connect(ctx, &c) != CLI_OK)
                return CLI_FAIL;
        shmv_segment_info *list;
        size_t n;
        int r = shmv_segment_list(c, &list, &n);
        shmv_disconnect(c);
        if (r < 0)
                return cli_fail(ctx, "segments", "%s", cli_why(r, NULL));

        if (ctx->json) {
                json_object *arr = json_object_new_array();
                for (size_t i = 0; i < n; i++)
                        json_object_array_add(arr, segment_json(&list[i]));
                cli_json_print(arr, false);
        } else if (ctx->names) {
                /* Names hold no newline, so one per line is unambiguous. */
                for (size_t i = 0; i < n; i++)
                        printf("%s\n", list[i].name);
        } else {
                static const char *const headers[] = {"NAME", "SIZE", "MODE",   "OWNER", "GROUP",
                                                      "RO",   "RW",   "SEALED", "AGE"};
                cli_table *t = cli_table_new(9, headers, "tr---rr-r");
                for (size_t i = 0; i < n; i++) {
                        const shmv_segment_info *s = &list[i];
                        char size[32], perms[10], user[64], group[64], ro[16], rw[16], age[32];
                        char *name = cli_escape(s->name);
                        snprintf(ro, sizeof(ro), "%" PRIu32, s->views_ro);
                        snprintf(rw, sizeof(rw), "%" PRIu32, s->views_rw);
                        const char *row[] = {name,
                                             cli_format_size(size, s->size, ctx->bytes),
                                             cli_format_perms(perms, s->mode),
                                             cli_user_name(user, s->uid),
                                             cli_group_name(group, s->gid),
                                             ro,
                                             rw,
                                             s->sealed ? "yes" : "no",
                                             cli_format_age(age, s->created_usec)};
                        cli_table_add(t, row);
                        free(name);
                }
                int status = cli_table_print(t, ctx, stdout);
                cli_table_free(t);
                if (status != CLI_OK) {
                        shmv_segment_list_free(list);
                        return status;
                }
        }
        shmv_segment_list_free(list);
        return cli_finish_output(ctx);
}

/* One entry of stat's "views". */
static json_object *view_json(const shmv_view_info *v)
{
        json_object *o = json_object_new_object();
        json_object_object_add(o, "client", cli_json_client(&v->client));
        json_object_object_add(o, "view_id", cli_json_u64(v->view_id));
        json_object_object_add(o, "offset", cli_json_u64(v->offset));
        json_object_object_add(o, "length", cli_json_u64(v->length));
        json_object_object_add(o, "writable", json_object_new_boolean(v->writable));
        return o;
}

int cli_cmd_stat(cli_ctx *ctx)
{
        const char *name = ctx->argv[0];
        shmv_client *c;
        int r = cli_connect_name(ctx, name, &c);
        if (r != CLI_OK)
                return r;
        shmv_segment_info s;
        shmv_view_info *views = NULL;
        size_t n = 0;
        r = shmv_segment_stat(c, name, &s);
        /* The views come in a second request: a segment unlinked in between is gone. */
        if (r == 0)
                r = shmv_segment_views(c, name, &views, &n);
        cli_pids_learn(shmv_client_pids_shared(c));
        shmv_disconnect(c);
        if (r < 0)
                return cli_fail_name(ctx, name, "%s", cli_why(r, NULL));

        if (ctx->json) {
                json_object *o = segment_json(&s);
                json_object *arr = json_object_new_array();
                for (size_t i = 0; i < n; i++)
                        json_object_array_add(arr, view_json(&views[i]));
                json_object_object_add(o, "views", arr);
                cli_json_print(o, false);
        } else {
                char size[32], exact[32], mode[8], perms[10], user[64], group[64], when[64],
                        age[32];
                char *shown = cli_escape(s.name);
                printf("name:     %s\n", shown);
                free(shown);
                printf("size:     %s (%s bytes)\n", cli_format_size(size, s.size, ctx->bytes),
                       cli_format_size(exact, s.size, true));
                printf("mode:     %s (%s)\n", cli_format_mode(mode, s.mode),
                       cli_format_perms(perms, s.mode));
                printf("owner:    %s (uid %" PRIu32 ")\n", cli_user_name(user, s.uid), s.uid);
                printf("group:    %s (gid %" PRIu32 ")\n", cli_group_name(group, s.gid), s.gid);
                printf("sealed:   %s\n", s.sealed ? "yes" : "no");
                printf("doorbell: generation %" PRIu64 "\n", s.generation);
                printf("created:  %s (%s ago)\n", cli_format_time(when, s.created_usec),
                       cli_format_age(age, s.created_usec));
                printf("views:    %" PRIu32 " read-only, %" PRIu32 " writable\n", s.views_ro,
                       s.views_rw);
                if (n > 0) {
                        static const char *const headers[] = {
                                "CLIENT", "PID", "USER", "COMMAND", "MODE", "OFFSET", "LENGTH"};
                        cli_table *t = cli_table_new(7, headers, "rr---rr");
                        for (size_t i = 0; i < n; i++) {
                                const shmv_view_info *v = &views[i];
                                char id[24], pid[16], off[32], len[32];
                                snprintf(id, sizeof(id), "%" PRIu64, v->client.client_id);
                                cli_format_pid(pid, v->client.pid);
                                char *comm = cli_escape(v->client.comm);
                                const char *row[] = {id,
                                                     pid,
                                                     cli_user_name(user, v->client.uid),
                                                     comm,
                                                     v->writable ? "rw" : "ro",
                                                     cli_format_size(off, v->offset, ctx->bytes),
                                                     cli_format_size(len, v->length, ctx->bytes)};
                                cli_table_add(t, row);
                                free(comm);
                        }
                        putchar('\n');
                        int status = cli_table_print(t, ctx, stdout);
                        cli_table_free(t);
                        if (status != CLI_OK) {
                                shmv_segment_views_free(views);
                                return status;
                        }
                }
        }
        shmv_segment_views_free(views);
        return cli_finish_output(ctx);
}

int cli_cmd_create(cli_ctx *ctx)
{
        const char *name = ctx->argv[0], *size_arg = ctx->argv[1];
        int r = cli_check_name(ctx, name);
        if (r != CLI_OK)
                return r;
        uint64_t size;
        r = shmv__parse_size(size_arg, &size);
        if (r == -ERANGE)
                return cli_usage(ctx, "size", "'%s' is too large", size_arg);
        if (r < 0)
                return cli_usage(ctx, "size", "'%s' is not a size (" SHMV__SIZE_HINT ")", size_arg);
        if (size == 0)
                return cli_usage(ctx, "size", "'%s': a segment holds at least 1 byte", size_arg);
        uint32_t mode = 0;
        if (ctx->mode) {
                if (cli_parse_mode(ctx->mode, &mode) < 0)
                        return cli_usage(ctx, "--mode",
                                         "'%s' is not a mode (octal permission bits up to 7777, "
                                         "e.g. 0640)",
                                         ctx->mode);
                /* The protocol reads 0 as "the default", 0600. */
                if (mode == 0)
                        return cli_usage(ctx, "--mode",
                                         "'%s' grants nothing; a segment needs some permission",
                                         ctx->mode);
        }
        shmv_client *c;
        if (cli_connect(ctx, &c) != CLI_OK)
                return CLI_FAIL;
        r = shmv_segment_create(c, name, size, mode);
        shmv_disconnect(c);
        if (r < 0)
                return cli_fail_name(ctx, name, "%s", cli_why(r, NULL));
        return CLI_OK;
}

static const char *unlink_or_seal_error(int r)
{
        return cli_why(r,
                       r == -EPERM ? "operation not permitted (only its owner or root may)" : NULL);
}

int cli_cmd_rm(cli_ctx *ctx)
{
        /* Every name is checked before any is unlinked. */
        for (int i = 0; i < ctx->argc; i++) {
                int r = cli_check_name(ctx, ctx->argv[i]);
                if (r != CLI_OK)
                        return r;
        }
        shmv_client *c;
        if (cli_connect(ctx, &c) != CLI_OK)
                return CLI_FAIL;
        int status = CLI_OK;
        for (int i = 0; i < ctx->argc; i++) {
                int r = shmv_segment_unlink(c, ctx->argv[i]);
                if (r < 0)
                        status = cli_fail_name(ctx, ctx->argv[i], "%s", unlink_or_seal_error(r));
        }
        shmv_disconnect(c);
        return status;
}

int cli_cmd_seal(cli_ctx *ctx)
{
        const char *name = ctx->argv[0];
        shmv_client *c;
        int r = cli_connect_name(ctx, name, &c);
        if (r != CLI_OK)
                return r;
        r = shmv_segment_seal(c, name);
        shmv_disconnect(c);
        if (r < 0)
                return cli_fail_name(ctx, name, "%s", unlink_or_seal_error(r));
        return CLI_OK;
}

int cli_cmd_wait(cli_ctx *ctx)
{
        const char *name = ctx->argv[0];
        int r = cli_check_name(ctx, name);
        if (r != CLI_OK)
                return r;
        int timeout_ms = -1;
        if (ctx->timeout && cli_parse_duration(ctx->timeout, &timeout_ms) < 0)
                return cli_usage(ctx, "--timeout",
                                 "wants a duration (250ms, 1.5s, 2m, 1h), not '%s'", ctx->timeout);
        shmv_client *c;
        if (cli_connect(ctx, &c) != CLI_OK)
                return CLI_FAIL;
        r = shmv_segment_wait(c, name, ctx->sealed ? SHMV_WAIT_SEALED : SHMV_WAIT_EXISTS,
                              timeout_ms);
        const char *why = r < 0 ? cli_why(r, NULL) : NULL;
        shmv_disconnect(c);
        if (r == -ETIMEDOUT)
                return cli_fail_name(ctx, name, "%s after %s",
                                     ctx->sealed ? "not sealed" : "no such segment", ctx->timeout);
        if (r < 0)
                return cli_fail_name(ctx, name, "%s", why);
        return CLI_OK;
}
