/* JSON output through json-c. Keys are documented in docs/cli.md and stay stable. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

json_object *cli_json_string(const char *s)
{
        size_t len = strlen(s);
        /* Each invalid byte becomes U+FFFD, three bytes. */
        char *buf = cli_xmalloc(3 * len + 1);
        char *o = buf;
        const unsigned char *p = (const unsigned char *)s;
        while (*p) {
                uint32_t cp;
                size_t n = cli_utf8_seq(p, &cp);
                if (n == 0) {
                        memcpy(o, "\xef\xbf\xbd", 3);
                        o += 3;
                        p++;
                } else {
                        memcpy(o, p, n);
                        o += n;
                        p += n;
                }
        }
        json_object *v = json_object_new_string_len(buf, (int)(o - buf));
        free(buf);
        return v;
}

json_object *cli_json_u64(uint64_t v)
{
        return json_object_new_uint64(v);
}

json_object *cli_json_client(const shmv_client_ref *ref)
{
        char name[64];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "client_id", cli_json_u64(ref->client_id));
        json_object_object_add(o, "pid", cli_pid_known(ref->pid) ? cli_json_u64(ref->pid) : NULL);
        json_object_object_add(o, "uid", cli_json_u64(ref->uid));
        json_object_object_add(o, "user",
                               cli_user_known(ref->uid)
                                       ? json_object_new_string(cli_user_name(name, ref->uid))
                                       : NULL);
        json_object_object_add(o, "gid", cli_json_u64(ref->gid));
        json_object_object_add(o, "group",
                               cli_group_known(ref->gid)
                                       ? json_object_new_string(cli_group_name(name, ref->gid))
                                       : NULL);
        json_object_object_add(o, "command", cli_json_string(ref->comm));
        return o;
}

void cli_json_print(json_object *v, bool one_line)
{
        int flags = JSON_C_TO_STRING_NOSLASHESCAPE |
                    (one_line ? JSON_C_TO_STRING_PLAIN
                              : JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED);
        fputs(json_object_to_json_string_ext(v, flags), stdout);
        fputc('\n', stdout);
        json_object_put(v);
}
