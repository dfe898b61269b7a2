/* shmviewd: options, start-up, the event loop, shutdown. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
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
#include "server.h"
#include "systemd.h"
#include "shmview.h"
#include "wire.h"

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: shmviewd [OPTION]...\n"
                "Serve named shared-memory segments to local clients.\n"
                "\n"
                "  --socket PATH            listen on PATH (default: $SHMVIEW_SOCKET, else\n"
                "                           $XDG_RUNTIME_DIR/shmview/shmview.sock when not root,\n"
                "                           else /run/shmview/shmview.sock)\n"
                "  --socket-mode OCTAL      permissions of the socket (default 0600, 0660 as "
                "root)\n"
                "  --max-bytes N            bytes in all segments together, each counted in\n"
                "                           whole pages; K, M, G, T suffixes (default: half of\n"
                "                           MemTotal)\n"
                "  --max-segments N         segments alive at once (default 65536)\n"
                "  --max-clients N          connections at once (default 1024)\n"
                "  --max-views-per-client N views one connection may hold (default 4096)\n"
                "  --max-clients-per-uid N  connections of one uid at once (default: half of\n"
                "                           --max-clients); uid 0 and the daemon's own uid are\n"
                "                           bound by --max-clients alone\n"
                "  --max-bytes-per-uid N    bytes in the segments one uid owns (default: half of\n"
                "                           --max-bytes), same exemptions\n"
                "  --max-segments-per-uid N segments one uid owns (default: half of\n"
                "                           --max-segments), same exemptions\n"
                "  --max-views-per-uid N    views on all the connections of one uid together\n"
                "                           (default: 4 times --max-views-per-client), same\n"
                "                           exemptions\n"
                "  --max-frame N            largest request in bytes, 4096 to 131072 (default)\n"
                "  --stall-timeout MS       disconnect a client whose replies have not drained\n"
                "                           for MS milliseconds while it sends more (default\n"
                "                           30000; 0: never)\n"
                "  --socket-group GROUP     group of the socket, a name or a number (default:\n"
                "                           the daemon's)\n"
                "  --log-level LEVEL        debug, info, warning or error (default info)\n"
                "  --help                   show this help and exit\n"
                "  --version                show the version and exit\n");
}

/* Digits only (strtoull would take "-1" and spaces), with an optional binary suffix. */
static int parse_u64(const char *s, bool suffix, uint64_t *ret)
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
        if (*s && suffix && !s[1]) {
                const char *units = "KMGT";
                const char *u = strchr(units, *s);
                if (!u)
                        return -EINVAL;
                for (const char *p = units; p <= u; p++) {
                        if (v > UINT64_MAX / 1024)
                                return -ERANGE;
                        v *= 1024;
                }
                s++;
        }
        if (*s)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_u32_option(const char *opt, const char *arg, uint32_t *ret)
{
        uint64_t v;
        if (parse_u64(arg, false, &v) < 0 || v == 0 || v > UINT32_MAX) {
                fprintf(stderr, "shmviewd: %s wants a number from 1 to %" PRIu32 ", not '%s'\n",
                        opt, UINT32_MAX, arg);
                return -EINVAL;
        }
        *ret = (uint32_t)v;
        return 0;
}

static uint64_t default_max_bytes(void)
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

/* Each segment holds one descriptor, plus one more once a read-only view of it has been
 * opened, each client one: let the daemon have as many as it is allowed, for the worst case of
 * two per segment. The soft limit goes up to the hard one; with CAP_SYS_RESOURCE the hard one
 * goes up too, as far as fs.nr_open allows. */
static void raise_nofile(const shmv__config *cfg)
{
        uint64_t want = 2 * (uint64_t)cfg->max_segments + cfg->max_clients + 64 + 64;
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
        if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
                log_info("descriptor limit %llu is below the %" PRIu64
                         " that max_segments and max_clients may need",
                         (unsigned long long)rl.rlim_cur, want);
}

enum {
        OPT_SOCKET = 0x100,
        OPT_SOCKET_MODE,
        OPT_MAX_BYTES,
        OPT_MAX_SEGMENTS,
        OPT_MAX_CLIENTS,
        OPT_MAX_VIEWS,
        OPT_MAX_CLIENTS_PER_UID,
        OPT_MAX_BYTES_PER_UID,
        OPT_MAX_SEGMENTS_PER_UID,
        OPT_MAX_VIEWS_PER_UID,
        OPT_MAX_FRAME,
        OPT_STALL_TIMEOUT,
        OPT_SOCKET_GROUP,
        OPT_LOG_LEVEL,
        OPT_HELP,
        OPT_VERSION,
};

/* Returns 0 to run, 1 to exit 0 (help, version), -EINVAL to exit 2. */
static int parse_options(int argc, char **argv, shmv__config *cfg)
{
        static const struct option options[] = {
                {"socket", required_argument, NULL, OPT_SOCKET},
                {"socket-mode", required_argument, NULL, OPT_SOCKET_MODE},
                {"max-bytes", required_argument, NULL, OPT_MAX_BYTES},
                {"max-segments", required_argument, NULL, OPT_MAX_SEGMENTS},
                {"max-clients", required_argument, NULL, OPT_MAX_CLIENTS},
                {"max-views-per-client", required_argument, NULL, OPT_MAX_VIEWS},
                {"max-clients-per-uid", required_argument, NULL, OPT_MAX_CLIENTS_PER_UID},
                {"max-bytes-per-uid", required_argument, NULL, OPT_MAX_BYTES_PER_UID},
                {"max-segments-per-uid", required_argument, NULL, OPT_MAX_SEGMENTS_PER_UID},
                {"max-views-per-uid", required_argument, NULL, OPT_MAX_VIEWS_PER_UID},
                {"max-frame", required_argument, NULL, OPT_MAX_FRAME},
                {"stall-timeout", required_argument, NULL, OPT_STALL_TIMEOUT},
                {"socket-group", required_argument, NULL, OPT_SOCKET_GROUP},
                {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
                {"help", no_argument, NULL, OPT_HELP},
                {"version", no_argument, NULL, OPT_VERSION},
                {},
        };
        const char *socket_arg = NULL;
        bool have_mode = false, have_bytes = false, have_uid_clients = false,
             have_uid_bytes = false, have_uid_segments = false, have_uid_views = false;
        int opt;
        while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
                uint64_t v;
                char *end;
                switch (opt) {
                case OPT_SOCKET:
                        socket_arg = optarg;
                        if (!*optarg) {
                                fprintf(stderr, "shmviewd: --socket wants a path\n");
                                return -EINVAL;
                        }
                        break;
                case OPT_SOCKET_MODE:
                        errno = 0;
                        v = strtoul(optarg, &end, 8);
                        if (*optarg < '0' || *optarg > '7' || *end || errno || v > 0777) {
                                fprintf(stderr,
                                        "shmviewd: --socket-mode wants octal bits up to 0777, "
                                        "not '%s'\n",
                                        optarg);
                                return -EINVAL;
                        }
                        cfg->socket_mode = (mode_t)v;
                        have_mode = true;
                        break;
                case OPT_MAX_BYTES:
                        if (parse_u64(optarg, true, &v) < 0 || v == 0) {
                                fprintf(stderr,
                                        "shmviewd: --max-bytes wants a positive number of "
                                        "bytes, not '%s'\n",
                                        optarg);
                                return -EINVAL;
                        }
                        cfg->max_bytes = v;
                        have_bytes = true;
                        break;
                case OPT_MAX_SEGMENTS:
                        if (parse_u32_option("--max-segments", optarg, &cfg->max_segments) < 0)
                                return -EINVAL;
                        break;
                case OPT_MAX_CLIENTS:
                        if (parse_u32_option("--max-clients", optarg, &cfg->max_clients) < 0)
                                return -EINVAL;
                        break;
                case OPT_MAX_VIEWS:
                        if (parse_u32_option("--max-views-per-client", optarg,
                                             &cfg->max_views_per_client) < 0)
                                return -EINVAL;
                        break;
                case OPT_MAX_CLIENTS_PER_UID:
                        if (parse_u32_option("--max-clients-per-uid", optarg,
                                             &cfg->max_clients_per_uid) < 0)
                                return -EINVAL;
                        have_uid_clients = true;
                        break;
                case OPT_MAX_BYTES_PER_UID:
                        if (parse_u64(optarg, true, &v) < 0 || v == 0) {
                                fprintf(stderr,
                                        "shmviewd: --max-bytes-per-uid wants a positive number "
                                        "of bytes, not '%s'\n",
                                        optarg);
                                return -EINVAL;
                        }
                        cfg->max_bytes_per_uid = v;
                        have_uid_bytes = true;
                        break;
                case OPT_MAX_SEGMENTS_PER_UID:
                        if (parse_u32_option("--max-segments-per-uid", optarg,
                                             &cfg->max_segments_per_uid) < 0)
                                return -EINVAL;
                        have_uid_segments = true;
                        break;
                case OPT_MAX_VIEWS_PER_UID:
                        if (parse_u32_option("--max-views-per-uid", optarg,
                                             &cfg->max_views_per_uid) < 0)
                                return -EINVAL;
                        have_uid_views = true;
                        break;
                case OPT_MAX_FRAME:
                        if (parse_u64(optarg, true, &v) < 0 || v < 4096 || v > SHMV__MAX_FRAME) {
                                fprintf(stderr,
                                        "shmviewd: --max-frame wants a number of bytes from 4096 "
                                        "to %u, not '%s'\n",
                                        SHMV__MAX_FRAME, optarg);
                                return -EINVAL;
                        }
                        cfg->max_frame = (uint32_t)v;
                        break;
                case OPT_STALL_TIMEOUT:
                        if (parse_u64(optarg, false, &v) < 0 || v > UINT32_MAX) {
                                fprintf(stderr,
                                        "shmviewd: --stall-timeout wants milliseconds (0: "
                                        "never), not '%s'\n",
                                        optarg);
                                return -EINVAL;
                        }
                        cfg->stall_timeout_ms = (uint32_t)v;
                        break;
                case OPT_SOCKET_GROUP: {
                        struct group *gr = getgrnam(optarg);
                        if (gr) {
                                cfg->socket_group = gr->gr_gid;
                        } else if (parse_u64(optarg, false, &v) == 0 && v < UINT32_MAX) {
                                cfg->socket_group = (gid_t)v;
                        } else {
                                fprintf(stderr, "shmviewd: --socket-group: no group '%s'\n",
                                        optarg);
                                return -EINVAL;
                        }
                        break;
                }
                case OPT_LOG_LEVEL: {
                        int level = shmv__log_level_from_string(optarg);
                        if (level < 0) {
                                fprintf(stderr,
                                        "shmviewd: --log-level wants debug, info, warning or "
                                        "error, not '%s'\n",
                                        optarg);
                                return -EINVAL;
                        }
                        shmv__log_set_level(level);
                        break;
                }
                case OPT_HELP:
                        usage(stdout);
                        return 1;
                case OPT_VERSION:
                        printf("shmviewd %s\n", SHMV_VERSION_STRING);
                        return 1;
                default:
                        fprintf(stderr, "Try 'shmviewd --help'.\n");
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "shmviewd: unexpected argument '%s'\nTry 'shmviewd --help'.\n",
                        argv[optind]);
                return -EINVAL;
        }
        int r = shmv__socket_path(socket_arg, cfg->socket_path, sizeof(cfg->socket_path));
        if (r < 0) {
                fprintf(stderr, "shmviewd: socket path too long\n");
                return -EINVAL;
        }
        if (!have_mode)
                cfg->socket_mode = geteuid() == 0 ? 0660 : 0600;
        if (!have_bytes)
                cfg->max_bytes = default_max_bytes();
        if (!have_uid_clients)
                cfg->max_clients_per_uid = cfg->max_clients / 2 + cfg->max_clients % 2;
        if (!have_uid_bytes)
                cfg->max_bytes_per_uid = cfg->max_bytes / 2 + cfg->max_bytes % 2;
        if (!have_uid_segments)
                cfg->max_segments_per_uid = cfg->max_segments / 2 + cfg->max_segments % 2;
        /* A few busy connections' worth, not max_clients_per_uid's: what the views of one uid
         * can make the daemon hold (docs/security.md, "Limits"). */
        if (!have_uid_views)
                cfg->max_views_per_uid = cfg->max_views_per_client > UINT32_MAX / 4
                                                 ? UINT32_MAX
                                                 : cfg->max_views_per_client * 4;
        return 0;
}

int main(int argc, char **argv)
{
        shmv__config cfg = {
                .max_segments = 65536,
                .max_clients = 1024,
                .max_views_per_client = 4096,
                .max_frame = SHMV__MAX_FRAME,
                .stall_timeout_ms = 30000,
                .create_async_min = SHMV__CREATE_ASYNC_MIN,
                .socket_group = (gid_t)-1,
                .listen_fd = -1,
        };
        int r = parse_options(argc, argv, &cfg);
        if (r < 0)
                return 2;
        if (r > 0)
                return 0;

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
        if (store_max > 0 && store_max - 1 < cfg.max_segments) {
                log_warning("max_segments lowered to %" PRIu64 " to fit FileDescriptorStoreMax=",
                            store_max - 1);
                cfg.max_segments = (uint32_t)(store_max - 1);
        }
        raise_nofile(&cfg);

        shmv__registry *registry;
        shmv__registry_config rcfg = {
                .max_bytes = cfg.max_bytes,
                .max_segments = cfg.max_segments,
                .max_bytes_per_uid = cfg.max_bytes_per_uid,
                .max_segments_per_uid = cfg.max_segments_per_uid,
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
                log_error("fd store: %s", strerror(-r));
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
                         server.config.socket_path, cfg.max_bytes, cfg.max_segments,
                         cfg.max_clients);
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
