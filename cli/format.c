/* Numbers, modes, times, names and tables, as the user types and reads them. */
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "utf8.h"

void *cli_xmalloc(size_t n)
{
        void *p = malloc(n ? n : 1);
        if (!p) {
                fputs("shmview: out of memory\n", stderr);
                exit(CLI_FAIL);
        }
        return p;
}

char *cli_xstrdup(const char *s)
{
        size_t n = strlen(s) + 1;
        return memcpy(cli_xmalloc(n), s, n);
}

int cli_parse_mode(const char *s, uint32_t *ret)
{
        if (!*s || strlen(s) > 5)
                return -EINVAL;
        uint32_t v = 0;
        for (; *s; s++) {
                if (*s < '0' || *s > '7')
                        return -EINVAL;
                v = v * 8 + (uint32_t)(*s - '0');
        }
        if (v > 07777)
                return -EINVAL;
        *ret = v;
        return 0;
}

const char *cli_format_size(char dst[static 32], uint64_t bytes, bool exact)
{
        static const char units[] = "KMGTPE";
        if (exact || bytes < 1024) {
                snprintf(dst, 32, exact ? "%" PRIu64 : "%" PRIu64 "B", bytes);
                return dst;
        }
        unsigned u = 0;
        while (u + 1 < sizeof(units) - 1 && bytes >> (10 * (u + 2)) > 0)
                u++;
        unsigned shift = 10 * (u + 1);
        uint64_t whole = bytes >> shift, rest = bytes - (whole << shift);
        if (rest == 0) {
                snprintf(dst, 32, "%" PRIu64 "%c", whole, units[u]);
                return dst;
        }
        double v = (double)bytes / (double)((uint64_t)1 << shift);
        if (v < 9.95)
                snprintf(dst, 32, "%.1f%c", v, units[u]);
        else if (v < 1023.5 || u + 1 == sizeof(units) - 1)
                snprintf(dst, 32, "%.0f%c", v, units[u]);
        else
                snprintf(dst, 32, "1.0%c", units[u + 1]);
        return dst;
}

const char *cli_format_perms(char dst[static 10], uint32_t mode)
{
        static const char rwx[] = "rwxrwxrwx";
        for (int i = 0; i < 9; i++)
                dst[i] = mode & (0400u >> i) ? rwx[i] : '-';
        if (mode & 04000)
                dst[2] = dst[2] == 'x' ? 's' : 'S';
        if (mode & 02000)
                dst[5] = dst[5] == 'x' ? 's' : 'S';
        if (mode & 01000)
                dst[8] = dst[8] == 'x' ? 't' : 'T';
        dst[9] = '\0';
        return dst;
}

const char *cli_format_mode(char dst[static 8], uint32_t mode)
{
        snprintf(dst, 8, "%04o", (unsigned)(mode & 07777));
        return dst;
}

const char *cli_format_age(char dst[static 32], uint64_t usec)
{
        uint64_t now = shmv__now_usec();
        uint64_t s = now > usec ? (now - usec) / 1000000u : 0;
        if (s < 60)
                snprintf(dst, 32, "%" PRIu64 "s", s);
        else if (s < 3600)
                snprintf(dst, 32, "%" PRIu64 "m", s / 60);
        else if (s < 48 * 3600)
                snprintf(dst, 32, "%" PRIu64 "h", s / 3600);
        else
                snprintf(dst, 32, "%" PRIu64 "d", s / 86400);
        return dst;
}

const char *cli_format_duration(char dst[static 32], uint64_t usec)
{
        uint64_t s = usec / 1000000u;
        if (s < 60)
                snprintf(dst, 32, "%" PRIu64 "s", s);
        else if (s < 3600)
                snprintf(dst, 32, "%" PRIu64 "m %" PRIu64 "s", s / 60, s % 60);
        else if (s < 86400)
                snprintf(dst, 32, "%" PRIu64 "h %" PRIu64 "m", s / 3600, s % 3600 / 60);
        else
                snprintf(dst, 32, "%" PRIu64 "d %" PRIu64 "h", s / 86400, s % 86400 / 3600);
        return dst;
}

const char *cli_format_time(char dst[static 64], uint64_t usec)
{
        time_t t = (time_t)(usec / 1000000u);
        struct tm tm;
        if (!localtime_r(&t, &tm) || !strftime(dst, 64, "%Y-%m-%d %H:%M:%S %z", &tm))
                snprintf(dst, 64, "@%" PRIu64, usec / 1000000u);
        return dst;
}

const char *cli_format_time_iso(char dst[static 64], uint64_t usec)
{
        time_t t = (time_t)(usec / 1000000u);
        struct tm tm;
        char base[40];
        if (!gmtime_r(&t, &tm) || !strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm))
                base[0] = '\0';
        snprintf(dst, 64, "%s.%06" PRIu64 "Z", base, usec % 1000000u);
        return dst;
}

static bool lookup_user(uint32_t uid, char *dst, size_t len)
{
        char buf[4096];
        struct passwd pw, *res = NULL;
        if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) != 0 || !res)
                return false;
        if (dst)
                snprintf(dst, len, "%s", pw.pw_name);
        return true;
}

static bool lookup_group(uint32_t gid, char *dst, size_t len)
{
        char buf[4096];
        struct group gr, *res = NULL;
        if (getgrgid_r(gid, &gr, buf, sizeof(buf), &res) != 0 || !res)
                return false;
        if (dst)
                snprintf(dst, len, "%s", gr.gr_name);
        return true;
}

const char *cli_user_name(char dst[static 64], uint32_t uid)
{
        if (!lookup_user(uid, dst, 64))
                snprintf(dst, 64, "%" PRIu32, uid);
        return dst;
}

const char *cli_group_name(char dst[static 64], uint32_t gid)
{
        if (!lookup_group(gid, dst, 64))
                snprintf(dst, 64, "%" PRIu32, gid);
        return dst;
}

bool cli_user_known(uint32_t uid)
{
        return lookup_user(uid, NULL, 0);
}

bool cli_group_known(uint32_t gid)
{
        return lookup_group(gid, NULL, 0);
}

size_t cli_utf8_seq(const unsigned char *s, uint32_t *ret_cp)
{
        /* A NUL ends the string, and is no continuation byte. */
        return shmv__utf8_seq(s, strnlen((const char *)s, 4), ret_cp);
}

/* Whether the character of the n bytes at p shows as nothing, as a blank or reorders what
 * follows (U+200B, U+202E, ...): what the name rule refuses, asked of the library on the
 * character alone. */
static bool invisible(const unsigned char *p, size_t n)
{
        char one[5];
        memcpy(one, p, n);
        one[n] = '\0';
        return shmv_segment_name_check(one) < 0;
}

char *cli_escape(const char *s)
{
        size_t len = strlen(s);
        char *out = cli_xmalloc(4 * len + 1);
        char *o = out;
        const unsigned char *p = (const unsigned char *)s;
        while (*p) {
                uint32_t cp;
                size_t n = cli_utf8_seq(p, &cp);
                if (n == 0 || cp < 0x20 || (cp >= 0x7f && cp < 0xa0) ||
                    (cp >= 0xa0 && invisible(p, n))) {
                        /* Control characters (C0, DEL, C1), invisible ones and invalid
                         * bytes. */
                        size_t k = n ? n : 1;
                        for (size_t i = 0; i < k; i++)
                                o += sprintf(o, "\\x%02x", p[i]);
                        p += k;
                } else if (cp == '\\') {
                        *o++ = '\\';
                        *o++ = '\\';
                        p++;
                } else {
                        memcpy(o, p, n);
                        o += n;
                        p += n;
                }
        }
        *o = '\0';
        return out;
}

size_t cli_width(const char *s)
{
        size_t w = 0;
        for (const unsigned char *p = (const unsigned char *)s; *p; p++)
                if ((*p & 0xc0) != 0x80)
                        w++;
        return w;
}

struct cli_table {
        size_t ncols;
        size_t nrows; /* the header included */
        size_t cap;
        char **cells; /* nrows * ncols */
        char *align;
};

cli_table *cli_table_new(size_t ncols, const char *const *headers, const char *align)
{
        cli_table *t = cli_xmalloc(sizeof(*t));
        *t = (cli_table){.ncols = ncols};
        t->align = cli_xstrdup(align ? align : "");
        cli_table_add(t, headers);
        return t;
}

void cli_table_add(cli_table *t, const char *const *cells)
{
        if (t->nrows == t->cap) {
                t->cap = t->cap ? 2 * t->cap : 16;
                char **grown = reallocarray(t->cells, t->cap * t->ncols, sizeof(*grown));
                if (!grown) {
                        fputs("shmview: out of memory\n", stderr);
                        exit(CLI_FAIL);
                }
                t->cells = grown;
        }
        for (size_t i = 0; i < t->ncols; i++)
                t->cells[t->nrows * t->ncols + i] = cli_xstrdup(cells[i] ? cells[i] : "");
        t->nrows++;
}

/* The columns --output names, as indexes into the table's, into cols; their number, or -1
 * after a usage message. */
static int table_columns(const cli_table *t, const cli_ctx *ctx, size_t *cols)
{
        if (!ctx->output) {
                for (size_t i = 0; i < t->ncols; i++)
                        cols[i] = i;
                return (int)t->ncols;
        }
        size_t n = 0;
        for (const char *p = ctx->output;;) {
                size_t len = strcspn(p, ",");
                size_t i = 0;
                while (i < t->ncols &&
                       !(strlen(t->cells[i]) == len && strncasecmp(t->cells[i], p, len) == 0))
                        i++;
                if (i == t->ncols || n == t->ncols) {
                        char known[256] = "";
                        for (size_t k = 0; k < t->ncols; k++)
                                snprintf(known + strlen(known), sizeof(known) - strlen(known),
                                         "%s%s", k ? ", " : "", t->cells[k]);
                        cli_usage(ctx, "--output", "'%.*s' is not a column (%s)", (int)len, p,
                                  known);
                        return -1;
                }
                cols[n++] = i;
                if (!p[len])
                        break;
                p += len + 1;
        }
        return (int)n;
}

/* The cell as printed: cut to CLI_TRUNCATE columns when its column is truncatable, or escaped
 * for --raw. Returns cell itself or buf. */
static const char *table_cell(const cli_table *t, const cli_ctx *ctx, size_t col, const char *cell,
                              char *buf, size_t buf_len)
{
        if (ctx->raw) {
                if (!strpbrk(cell, " \\"))
                        return cell;
                size_t o = 0;
                for (const char *p = cell; *p && o + 5 < buf_len; p++)
                        if (*p == ' ' || *p == '\\')
                                o += (size_t)snprintf(buf + o, buf_len - o, "\\x%02x", *p);
                        else
                                buf[o++] = *p;
                buf[o] = '\0';
                return buf;
        }
        bool truncatable = col < strlen(t->align) && t->align[col] == 't';
        if (!truncatable || ctx->notruncate || cli_width(cell) <= CLI_TRUNCATE)
                return cell;
        /* Keep CLI_TRUNCATE - 3 code points, then "...". */
        size_t o = 0, w = 0;
        for (const char *p = cell; *p && w < CLI_TRUNCATE - 3 && o + 8 < buf_len; w++) {
                size_t n = 1;
                while ((p[n] & 0xc0) == 0x80)
                        n++;
                memcpy(buf + o, p, n);
                o += n;
                p += n;
        }
        memcpy(buf + o, "...", 4);
        return buf;
}

int cli_table_print(cli_table *t, const cli_ctx *ctx, FILE *f)
{
        size_t *cols = cli_xmalloc(t->ncols * sizeof(*cols));
        int ncols = table_columns(t, ctx, cols);
        if (ncols < 0) {
                free(cols);
                return CLI_USAGE;
        }
        size_t *width = cli_xmalloc(t->ncols * sizeof(*width));
        char buf[4 * 1024];
        for (size_t i = 0; i < t->ncols; i++)
                width[i] = 0;
        for (size_t r = ctx->noheadings ? 1 : 0; r < t->nrows; r++)
                for (size_t i = 0; i < t->ncols; i++) {
                        const char *cell =
                                table_cell(t, ctx, i, t->cells[r * t->ncols + i], buf, sizeof(buf));
                        size_t w = cli_width(cell);
                        if (w > width[i])
                                width[i] = w;
                }
        for (size_t r = ctx->noheadings ? 1 : 0; r < t->nrows; r++) {
                for (int k = 0; k < ncols; k++) {
                        size_t i = cols[k];
                        const char *cell =
                                table_cell(t, ctx, i, t->cells[r * t->ncols + i], buf, sizeof(buf));
                        bool last = k + 1 == ncols;
                        if (ctx->raw) {
                                fputs(cell, f);
                                fputs(last ? "\n" : " ", f);
                                continue;
                        }
                        size_t pad = width[i] - cli_width(cell);
                        bool right = i < strlen(t->align) && t->align[i] == 'r';
                        if (right)
                                fprintf(f, "%*s", (int)pad, "");
                        fputs(cell, f);
                        if (!last && !right)
                                fprintf(f, "%*s", (int)pad, "");
                        fputs(last ? "\n" : "  ", f);
                }
        }
        free(width);
        free(cols);
        return CLI_OK;
}

void cli_table_free(cli_table *t)
{
        if (!t)
                return;
        for (size_t i = 0; i < t->nrows * t->ncols; i++)
                free(t->cells[i]);
        free(t->cells);
        free(t->align);
        free(t);
}

/* Whether the daemon's pids are ours: the daemon reports each client's pid as SO_PEERCRED
 * gives it, in the daemon's pid namespace. A shmview in another one (a container beside a
 * daemon on the host, or the host beside a daemon in a container) would print numbers that
 * name other processes or none. The daemon's hello tells: the library compares the pid it
 * sees us under with our getpid(). */
static bool pids_foreign;

void cli_pids_learn(int shared)
{
        if (shared >= 0)
                pids_foreign = shared == 0;
}

bool cli_pid_known(uint32_t pid)
{
        return pid != 0 && !pids_foreign;
}

const char *cli_format_pid(char dst[static 16], uint32_t pid)
{
        if (cli_pid_known(pid))
                snprintf(dst, 16, "%" PRIu32, pid);
        else
                snprintf(dst, 16, "-");
        return dst;
}

void cli_progress_start(cli_progress *p, const cli_ctx *ctx, uint64_t total)
{
        *p = (cli_progress){.ctx = ctx, .total = total};
        p->on = total >= CLI_PROGRESS_MIN && isatty(STDERR_FILENO);
        p->start_ms = p->last_ms = shmv__mono_usec() / 1000;
}

void cli_progress_update(cli_progress *p, uint64_t done)
{
        if (!p->on)
                return;
        uint64_t now = shmv__mono_usec() / 1000;
        if (now - p->last_ms < 200 && done < p->total)
                return;
        p->last_ms = now;
        char d[32], t[32], rate[32];
        uint64_t ms = now - p->start_ms ? now - p->start_ms : 1;
        fprintf(stderr, "\rshmview: %s: %s of %s (%u%%), %s/s\033[K", p->ctx->command,
                cli_format_size(d, done, false), cli_format_size(t, p->total, false),
                (unsigned)(p->total ? done * 100 / p->total : 100),
                cli_format_size(rate, done * 1000 / ms, false));
}

void cli_progress_end(cli_progress *p)
{
        if (p->on)
                fputs("\r\033[K", stderr);
}

int cli_parse_duration(const char *s, int *ret_ms)
{
        static const struct {
                const char *unit;
                double ms;
        } units[] = {{"ms", 1}, {"s", 1000}, {"", 1000}, {"m", 60000}, {"h", 3600000}};
        if (!s || !*s || !((*s >= '0' && *s <= '9') || *s == '.'))
                return -EINVAL;
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (errno || end == s)
                return -EINVAL;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
                if (strcmp(end, units[i].unit) != 0)
                        continue;
                double ms = v * units[i].ms;
                if (ms > INT_MAX)
                        return -ERANGE;
                *ret_ms = (int)(ms + 0.5);
                return 0;
        }
        return -EINVAL;
}
