/* shmviewd: options, start-up, the event loop, shutdown. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <uv.h>

#include "fdstore.h"
#include "log.h"
#include "segment.h"
#include "size.h"
#include "server.h"
#include "supervise.h"
#include "systemd.h"
#include "shmview.h"
#include "wire.h"

/* The default max_segments, as --help and the man page say it. */
_Static_assert(SHMV__FDSTORE_SEGMENTS_MAX == 33755, "--max-segments' help names the default");

/* What an option's argument is, and how it is parsed. */
typedef enum option_kind {
        KIND_SOCKET, /* a path, through the socket-path rule */
        KIND_MODE, /* octal permission bits up to 0777 */
        KIND_COUNT, /* a decimal number from min to max */
        KIND_SIZE, /* bytes in the size grammar (proto/size.h), from min to max */
        KIND_MS, /* milliseconds, a decimal number from min to max */
        KIND_GROUP, /* a group name or number */
        KIND_LEVEL, /* a log level */
        KIND_HELP,
        KIND_VERSION,
        KIND_FLAG, /* no argument: sets a bool */
} option_kind;

/* One option of shmviewd: what it is called, what it sets, what it accepts, its default and
 * its help line. The table drives the parsing, the defaults and --help. */
typedef struct option_spec {
        const char *name;
        const char *arg; /* the argument in --help; NULL: takes none */
        option_kind kind;
        size_t offset; /* of the field it sets in shmv__config */
        size_t size; /* of that field: 4 or 8 (KIND_COUNT, KIND_SIZE, KIND_MS, KIND_MODE,
                        KIND_GROUP) */
        uint64_t min, max;
        /* The value when the option is not given: fallback() of the options before it in the
         * table when set, else def. */
        uint64_t def;
        uint64_t (*fallback)(const shmv__config *cfg);
        /* The supervisor's own (--supervise): left out of the daemon's command line. */
        bool supervisor;
        const char *help; /* wrapped to 80 columns by --help */
} option_spec;

#define FIELD(f) offsetof(shmv__config, f), sizeof(((shmv__config *)0)->f)
#define LIMIT(f) FIELD(limits.f)

static uint64_t half_up(uint64_t v)
{
        return v / 2 + v % 2;
}

static uint64_t default_socket_mode(const shmv__config *cfg)
{
        return geteuid() == 0 ? 0660 : 0600;
}

static uint64_t default_max_bytes(const shmv__config *cfg)
{
        FILE *f = fopen("/proc/meminfo", "re");
        unsigned long long kb = 0;
        if (f) {
                char line[256];
                while (fgets(line, sizeof(line), f))
                        if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
                                break;
                fclose(f);
        }
        if (kb == 0) {
                log_warning("cannot read MemTotal from /proc/meminfo; --max-bytes defaults to 1G");
                return UINT64_C(1) << 30;
        }
        return (uint64_t)kb * 1024 / 2;
}

static uint64_t default_clients_per_uid(const shmv__config *cfg)
{
        return half_up(cfg->limits.max_clients);
}

static uint64_t default_bytes_per_uid(const shmv__config *cfg)
{
        return half_up(cfg->limits.max_bytes);
}

static uint64_t default_segments_per_uid(const shmv__config *cfg)
{
        return half_up(cfg->limits.max_segments);
}

/* A few busy connections' worth, not max_clients_per_uid's: what the views of one uid can make
 * the daemon hold (docs/security.md, "Limits"). */
static uint64_t default_views_per_uid(const shmv__config *cfg)
{
        uint32_t v = cfg->limits.max_views_per_client;
        return v > UINT32_MAX / 4 ? UINT32_MAX : (uint64_t)v * 4;
}

static const option_spec options[] = {
        {"socket", "PATH", KIND_SOCKET,
         .help = "listen on PATH, whose directory must exist "
                 "(default: $SHMVIEW_SOCKET, else "
                 "$XDG_RUNTIME_DIR/shmview/shmview.sock when not "
                 "root, else /run/shmview/shmview.sock; the "
                 "directory of these two is created)"},
        {"socket-mode", "OCTAL", KIND_MODE, FIELD(socket_mode), 0, 0777,
         .fallback = default_socket_mode,
         .help = "permissions of the socket (default 0600, 0660 as root)"},
        {"socket-group", "GROUP", KIND_GROUP, FIELD(socket_group), .def = UINT32_MAX,
         .help = "group of the socket, a name or a number (default: the daemon's)"},
        {"max-bytes", "SIZE", KIND_SIZE, LIMIT(max_bytes), 1, UINT64_MAX,
         .fallback = default_max_bytes,
         .help = "bytes in all segments together, each counted in whole pages (default: "
                 "half of MemTotal)"},
        {"max-segments", "N", KIND_COUNT, LIMIT(max_segments), 1, UINT32_MAX,
         SHMV__FDSTORE_SEGMENTS_MAX,
         .help = "segments alive at once (default 33755, the most a restart under a service "
                 "manager can hand over)"},
        {"max-clients", "N", KIND_COUNT, LIMIT(max_clients), 1, UINT32_MAX, 1024,
         .help = "connections at once (default 1024)"},
        {"max-views-per-client", "N", KIND_COUNT, LIMIT(max_views_per_client), 1, UINT32_MAX, 4096,
         .help = "views one connection may hold (default 4096)"},
        {"max-clients-per-uid", "N", KIND_COUNT, LIMIT(max_clients_per_uid), 1, UINT32_MAX,
         .fallback = default_clients_per_uid,
         .help = "connections of one uid at once (default: half of --max-clients); uid 0 and "
                 "the daemon's own uid are bound by --max-clients alone"},
        {"max-bytes-per-uid", "SIZE", KIND_SIZE, LIMIT(max_bytes_per_uid), 1, UINT64_MAX,
         .fallback = default_bytes_per_uid,
         .help = "bytes in the segments one uid owns (default: half of --max-bytes), same "
                 "exemptions"},
        {"max-segments-per-uid", "N", KIND_COUNT, LIMIT(max_segments_per_uid), 1, UINT32_MAX,
         .fallback = default_segments_per_uid,
         .help = "segments one uid owns (default: half of --max-segments), same exemptions"},
        {"max-views-per-uid", "N", KIND_COUNT, LIMIT(max_views_per_uid), 1, UINT32_MAX,
         .fallback = default_views_per_uid,
         .help = "views on all the connections of one uid together (default: 4 times "
                 "--max-views-per-client), same exemptions"},
        {"max-frame", "SIZE", KIND_SIZE, LIMIT(max_frame), 4096, SHMV__MAX_FRAME, SHMV__MAX_FRAME,
         .help = "largest request in bytes, 4096 to 131072 (default)"},
        {"stall-timeout", "MS", KIND_MS, LIMIT(stall_timeout_ms), 0, UINT32_MAX, 30000,
         .help = "disconnect a client whose replies have not drained for MS milliseconds while "
                 "it sends more (default 30000; 0: never)"},
        {"log-level", "LEVEL", KIND_LEVEL,
         .help = "debug, info, notice, warning or error (default info)"},
        {"supervise", NULL, KIND_FLAG, FIELD(supervise), .supervisor = true,
         .help = "bind the socket and run the daemon under a small supervisor that keeps its "
                 "segments across its restarts, where there is no systemd; SIGHUP to it "
                 "restarts the daemon from its binary, an upgrade (docs/containers.md)"},
        {"watchdog", "MS", KIND_MS, FIELD(watchdog_ms), 0, UINT32_MAX / 1000, 0, .supervisor = true,
         .help = "with --supervise: kill and restart a daemon that has not pinged for MS "
                 "milliseconds (default 0: never)"},
        {"help", NULL, KIND_HELP, .help = "show this help and exit"},
        {"version", NULL, KIND_VERSION, .help = "show the version and exit"},
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))
#define HELP_COLUMN 28
#define HELP_WIDTH 80

/* Prints text from column HELP_COLUMN, the cursor being at column col, wrapped at word
 * boundaries to HELP_WIDTH columns. */
static void print_wrapped(FILE *f, const char *text, int col)
{
        if (col >= HELP_COLUMN) {
                fputc('\n', f);
                col = 0;
        }
        fprintf(f, "%*s", HELP_COLUMN - col, "");
        col = HELP_COLUMN;
        while (*text) {
                size_t word = strcspn(text, " ");
                if (col > HELP_COLUMN && col + 1 + (int)word > HELP_WIDTH) {
                        fprintf(f, "\n%*s", HELP_COLUMN, "");
                        col = HELP_COLUMN;
                } else if (col > HELP_COLUMN) {
                        fputc(' ', f);
                        col++;
                }
                fwrite(text, 1, word, f);
                col += (int)word;
                text += word;
                text += strspn(text, " ");
        }
        fputc('\n', f);
}

static void usage(FILE *f)
{
        fputs("Usage: shmviewd [OPTION]...\n"
              "Serve named shared-memory segments to local clients.\n"
              "\n",
              f);
        for (size_t i = 0; i < N_OPTIONS; i++) {
                const option_spec *o = &options[i];
                int col =
                        fprintf(f, "  --%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
                print_wrapped(f, o->help, col);
        }
        fputs("\nA SIZE is a number of bytes with an optional unit, K, M, G, T, P or E (powers of\n"
              "1024: 1G, 1g, 1GiB and 1073741824 are the same), or 0x and hexadecimal digits.\n",
              f);
}

static void set_field(shmv__config *cfg, const option_spec *o, uint64_t v)
{
        char *p = (char *)cfg + o->offset;
        if (o->size == sizeof(uint64_t)) {
                memcpy(p, &v, sizeof(v));
        } else if (o->size == sizeof(bool)) {
                bool b = v != 0;
                memcpy(p, &b, sizeof(b));
        } else {
                uint32_t v32 = (uint32_t)v;
                memcpy(p, &v32, sizeof(v32));
        }
}

static int parse_decimal(const char *s, uint64_t *ret)
{
        if (*s < '0' || *s > '9')
                return -EINVAL;
        uint64_t v = 0;
        for (; *s >= '0' && *s <= '9'; s++) {
                unsigned d = (unsigned)(*s - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        return *s ? -EINVAL : (*ret = v, 0);
}

/* What the option wants, for its error message: "wants WHAT, not 'ARG'". */
static void complain(const option_spec *o, const char *arg)
{
        char want[128];
        switch (o->kind) {
        case KIND_SIZE:
                if (o->min == 1 && o->max == UINT64_MAX)
                        snprintf(want, sizeof(want), "a positive size (bytes, or 64M, 1GiB...)");
                else
                        snprintf(want, sizeof(want), "a size in bytes from %" PRIu64 " to %" PRIu64,
                                 o->min, o->max);
                break;
        case KIND_COUNT:
                snprintf(want, sizeof(want), "a number from %" PRIu64 " to %" PRIu64, o->min,
                         o->max);
                break;
        case KIND_MS:
                snprintf(want, sizeof(want), "milliseconds up to %" PRIu64 " (0: never)", o->max);
                break;
        case KIND_MODE:
                snprintf(want, sizeof(want), "octal bits up to 0777");
                break;
        case KIND_LEVEL:
                snprintf(want, sizeof(want), "debug, info, notice, warning or error");
                break;
        case KIND_SOCKET:
                snprintf(want, sizeof(want), "a path of at most %zu bytes",
                         sizeof(((shmv__config *)0)->socket_path) - 1);
                break;
        default:
                snprintf(want, sizeof(want), "something else");
                break;
        }
        fprintf(stderr, "shmviewd: --%s wants %s, not '%s'\nTry 'shmviewd --help'.\n", o->name,
                want, arg);
}

/* Parses the argument of o into cfg. Returns 0, or -EINVAL after saying why. */
static int parse_one(const option_spec *o, const char *arg, shmv__config *cfg)
{
        uint64_t v = 0;
        int r = 0;
        switch (o->kind) {
        case KIND_SOCKET:
                /* Given, so the daemon does not create its directory: only the default's. */
                if (!*arg || shmv__socket_path(arg, cfg->socket_path, sizeof(cfg->socket_path)) < 0)
                        r = -EINVAL;
                cfg->socket_dir_create = false;
                break;
        case KIND_MODE: {
                char *end;
                errno = 0;
                v = strtoul(arg, &end, 8);
                if (*arg < '0' || *arg > '7' || *end || errno || v > o->max)
                        r = -EINVAL;
                break;
        }
        case KIND_COUNT:
        case KIND_MS:
                r = parse_decimal(arg, &v);
                break;
        case KIND_SIZE:
                r = shmv__parse_size(arg, &v);
                break;
        case KIND_GROUP: {
                struct group *gr = getgrnam(arg);
                if (gr) {
                        v = gr->gr_gid;
                } else if (parse_decimal(arg, &v) < 0 || v >= UINT32_MAX) {
                        fprintf(stderr, "shmviewd: --%s: no group '%s'\nTry 'shmviewd --help'.\n",
                                o->name, arg);
                        return -EINVAL;
                }
                break;
        }
        case KIND_LEVEL: {
                int level = shmv__log_level_from_string(arg);
                if (level < 0)
                        r = -EINVAL;
                else
                        shmv__log_set_level(level);
                break;
        }
        case KIND_FLAG:
                v = 1;
                break;
        case KIND_HELP:
        case KIND_VERSION:
                break;
        }
        if (r == 0 && (o->kind == KIND_COUNT || o->kind == KIND_SIZE || o->kind == KIND_MS) &&
            (v < o->min || v > o->max))
                r = -EINVAL;
        if (r < 0) {
                complain(o, arg);
                return -EINVAL;
        }
        if (o->size > 0)
                set_field(cfg, o, v);
        return 0;
}

/* The arguments of the supervisor's own options. */
typedef struct supervisor_args {
        const char *args[8];
        size_t n;
} supervisor_args;

/* Returns 0 to run, 1 to exit 0 (help, version), -EINVAL to exit 2. given[i] says whether
 * options[i] was on the command line. */
static int parse_options(int argc, char **argv, shmv__config *cfg, bool given[N_OPTIONS],
                         supervisor_args *own)
{
        struct option longopts[N_OPTIONS + 1];
        for (size_t i = 0; i < N_OPTIONS; i++)
                longopts[i] = (struct option){options[i].name,
                                              options[i].arg ? required_argument : no_argument,
                                              NULL, (int)i};
        longopts[N_OPTIONS] = (struct option){0};
        cfg->socket_dir_create = true;
        int opt;
        while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
                if (opt < 0 || (size_t)opt >= N_OPTIONS) {
                        fprintf(stderr, "Try 'shmviewd --help'.\n");
                        return -EINVAL;
                }
                const option_spec *o = &options[opt];
                if (o->kind == KIND_HELP) {
                        usage(stdout);
                        return 1;
                }
                if (o->kind == KIND_VERSION) {
                        printf("shmviewd %s\n", SHMV_VERSION_STRING);
                        return 1;
                }
                if (parse_one(o, optarg, cfg) < 0)
                        return -EINVAL;
                given[opt] = true;
                /* "--watchdog=MS", or "--watchdog" "MS": one argument or two. */
                if (o->supervisor && own->n + 2 <= sizeof(own->args) / sizeof(own->args[0])) {
                        own->args[own->n++] = argv[optind - 1];
                        if (optarg && optarg == argv[optind - 1])
                                own->args[own->n++] = argv[optind - 2];
                }
        }
        if (optind < argc) {
                fprintf(stderr, "shmviewd: unexpected argument '%s'\nTry 'shmviewd --help'.\n",
                        argv[optind]);
                return -EINVAL;
        }
        for (size_t i = 0; i < N_OPTIONS; i++) {
                const option_spec *o = &options[i];
                if (given[i])
                        continue;
                if (o->kind == KIND_SOCKET &&
                    shmv__socket_path(NULL, cfg->socket_path, sizeof(cfg->socket_path)) < 0) {
                        fprintf(stderr, "shmviewd: the default socket path is too long\n");
                        return -EINVAL;
                }
                if (o->size > 0)
                        set_field(cfg, o, o->fallback ? o->fallback(cfg) : o->def);
        }
        /* $SHMVIEW_SOCKET names the path as explicitly as --socket. */
        const char *env = getenv("SHMVIEW_SOCKET");
        if (env && *env)
                cfg->socket_dir_create = false;
        return 0;
}

static bool option_given(const bool given[N_OPTIONS], const char *name)
{
        for (size_t i = 0; i < N_OPTIONS; i++)
                if (strcmp(options[i].name, name) == 0)
                        return given[i];
        return false;
}

/* Each segment holds one descriptor, plus one more once a read-only view of it has been
 * opened and one more once a writable one has, each client one: let the daemon have as many as
 * it is allowed, for the worst case of three per segment. The soft limit goes up to the hard one;
 * with CAP_SYS_RESOURCE the hard one goes up too, as far as fs.nr_open allows. Short of the worst
 * case, the daemon says so as a warning when the limits were asked for on the command line, and at
 * debug level when they are the defaults, which are ceilings rather than what anyone expects to
 * use. */
static void raise_nofile(const shmv__config *cfg, const bool given[N_OPTIONS])
{
        uint64_t want = 3 * (uint64_t)cfg->limits.max_segments + cfg->limits.max_clients + 64 + 64;
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return;
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
                uint64_t nr_open = 1048576;
                FILE *f = fopen("/proc/sys/fs/nr_open", "re");
                if (f) {
                        unsigned long long v;
                        if (fscanf(f, "%llu", &v) == 1)
                                nr_open = v;
                        fclose(f);
                }
                struct rlimit more = rl;
                more.rlim_max = want < nr_open ? want : nr_open;
                more.rlim_cur = more.rlim_max;
                if (more.rlim_max > rl.rlim_max && setrlimit(RLIMIT_NOFILE, &more) == 0)
                        rl = more; /* else EPERM: no CAP_SYS_RESOURCE, keep the hard limit */
        }
        if (rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                        return;
        }
        if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
                return;
        bool asked = option_given(given, "max-segments") || option_given(given, "max-clients");
        int level = asked ? SHMV__LOG_WARNING : SHMV__LOG_DEBUG;
        shmv__log_at(level,
                     "descriptor limit %llu is below the %" PRIu64 " that max_segments %" PRIu32
                     " and max_clients %" PRIu32
                     " may need (three per segment, one per client): raise LimitNOFILE=",
                     (unsigned long long)rl.rlim_cur, want, cfg->limits.max_segments,
                     cfg->limits.max_clients);
}

int main(int argc, char **argv)
{
        shmv__config cfg = {
                .create_async_min = SHMV__CREATE_ASYNC_MIN,
                .listen_fd = -1,
        };
        bool given[N_OPTIONS] = {false};
        /* getopt_long() may reorder argv's pointers: the supervised daemon gets them as given. */
        char **daemon_argv = calloc((size_t)argc + 1, sizeof(*daemon_argv));
        if (!daemon_argv)
                return 1;
        memcpy(daemon_argv, argv, (size_t)argc * sizeof(*daemon_argv));
        supervisor_args own = {0};
        int r = parse_options(argc, argv, &cfg, given, &own);
        if (r == 0 && cfg.watchdog_ms > 0 && !cfg.supervise) {
                fprintf(stderr, "shmviewd: --watchdog is for --supervise (under systemd, the "
                                "unit's WatchdogSec= sets it)\nTry 'shmviewd --help'.\n");
                r = -EINVAL;
        }
        if (r != 0) {
                free(daemon_argv);
                return r < 0 ? 2 : 0;
        }
        if (cfg.supervise) {
                size_t n = 0;
                for (int i = 0; i < argc; i++) {
                        bool skip = false;
                        for (size_t k = 0; k < own.n; k++)
                                skip = skip || daemon_argv[i] == own.args[k];
                        if (!skip)
                                daemon_argv[n++] = daemon_argv[i];
                }
                daemon_argv[n] = NULL;
                r = shmv__supervise(&cfg, daemon_argv, cfg.watchdog_ms);
                free(daemon_argv);
                return r;
        }
        free(daemon_argv);

        signal(SIGPIPE, SIG_IGN);
        /* From a service manager: the listening socket, and the segments of the daemon that
         * ran before this one (daemon/fdstore.c). */
        shmv__passed_fd *passed = NULL;
        size_t npassed = 0;
        if (shmv__sd_listen_fds(&passed, &npassed) < 0)
                return 1;
        cfg.listen_fd = shmv__sd_take_listener(passed, npassed);
        /* Every segment must fit in the store, its metadata too (systemd 254 and later say
         * how large the store is). */
        uint64_t store_max = shmv__sd_fdstore_enabled() ? shmv__sd_fdstore_max() : 0;
        if (store_max > 0 && store_max - 1 < cfg.limits.max_segments) {
                log_warning("max_segments lowered to %" PRIu64 " to fit FileDescriptorStoreMax=",
                            store_max - 1);
                cfg.limits.max_segments = (uint32_t)(store_max - 1);
        }
        /* And their names must fit LISTEN_FDNAMES, or no next daemon starts (fdstore.h). */
        if (shmv__sd_fdstore_enabled() && cfg.limits.max_segments > SHMV__FDSTORE_SEGMENTS_MAX) {
                log_warning("max_segments lowered to %d: the names of more stored segments "
                            "would not fit LISTEN_FDNAMES for the next daemon",
                            SHMV__FDSTORE_SEGMENTS_MAX);
                cfg.limits.max_segments = SHMV__FDSTORE_SEGMENTS_MAX;
        }
        raise_nofile(&cfg, given);

        shmv__registry *registry;
        shmv__registry_config rcfg = {
                .max_bytes = cfg.limits.max_bytes,
                .max_segments = cfg.limits.max_segments,
                .max_bytes_per_uid = cfg.limits.max_bytes_per_uid,
                .max_segments_per_uid = cfg.limits.max_segments_per_uid,
        };
        r = shmv__registry_new(&rcfg, &registry);
        if (r < 0) {
                log_error("out of memory");
                shmv__sd_passed_free(passed, npassed);
                return 1;
        }
        shmv__fdstore *store = NULL;
        r = shmv__fdstore_open(registry, passed, npassed, shmv__sd_fdstore_enabled(), &store);
        shmv__sd_passed_free(passed, npassed);
        if (r < 0) {
                (void)log_error_errno(r, "fd store: %m");
                shmv__registry_free(registry);
                return 1;
        }
        if (r > 0)
                log_info("%d segments kept across the restart", r);
        shmv__registry_set_fdstore(registry, store);
        uv_loop_t loop;
        r = uv_loop_init(&loop);
        if (r < 0) {
                log_error("event loop: %s", uv_strerror(r));
                shmv__registry_free(registry);
                shmv__fdstore_free(store);
                return 1;
        }

        shmv__server server;
        shmv__sd_monitor monitor;
        r = shmv__server_init(&server, &loop, &cfg, registry);
        if (r < 0) {
                shmv__server_stop(&server);
        } else {
                log_info("listening on %s (max_bytes %" PRIu64 ", max_segments %" PRIu32
                         ", max_clients %" PRIu32 ")",
                         server.config.socket_path, cfg.limits.max_bytes, cfg.limits.max_segments,
                         cfg.limits.max_clients);
                if (shmv__sd_monitor_start(&monitor, &loop, &server) < 0)
                        log_warning("cannot keep the service manager informed");
                (void)shmv__sd_notify("READY=1\nSTATUS=%s", monitor.last_status);
        }
        /* Returns once every handle is closed, every create in progress on the threadpool
         * has been finished and answered (or its client was gone) and every freed segment's
         * memfd closed there: work requests keep the loop alive as handles do. */
        uv_run(&loop, UV_RUN_DEFAULT);
        if (r >= 0) {
                shmv__sd_monitor_stop(&monitor);
                uv_run(&loop, UV_RUN_DEFAULT);
        }
        int cr = uv_loop_close(&loop);
        if (cr < 0)
                log_warning("event loop: %s", uv_strerror(cr));
        /* The store keeps the segments for the next daemon: nothing is taken out of it. */
        shmv__registry_set_fdstore(registry, NULL);
        shmv__registry_free(registry);
        shmv__fdstore_free(store);
        return r < 0 ? 1 : 0;
}
