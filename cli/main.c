/* shmview(1): inspect and manage shmviewd's segments from a shell. This file holds the
 * command table, option parsing, help and the error conventions: messages
 * "shmview: COMMAND: WHAT: WHY" on stderr, exit 0 on success, 1 on an operational error,
 * 2 on a usage error. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"

#define SOCKET_RULE                                                                      \
        "                        $SHMVIEW_SOCKET, else\n"                                \
        "                        $XDG_RUNTIME_DIR/shmview/shmview.sock when not root,\n" \
        "                        else /run/shmview/shmview.sock)\n"

#define TABLE_OPTIONS                                                                   \
        "  -o, --output COLUMNS  the table's columns, comma-separated, in that order\n" \
        "      --noheadings      no header line\n"                                      \
        "  -r, --raw             cells one space apart, unaligned (spaces as \\x20)\n"  \
        "      --notruncate      do not cut long names to 32 columns\n"

static const cli_command commands[] = {
        {"ls", "[-J|-1] [-b] [-o COLUMNS] [--noheadings] [-r]", "list segments",
         "  -J, --json            a JSON array of objects (keys in shmview(1))\n"
         "  -b, --bytes           sizes in bytes rather than 64M\n"
         "  -1, --names           only the names, one per line\n" TABLE_OPTIONS
         "Columns: NAME, SIZE, MODE, OWNER, GROUP, RO, RW, SEALED, AGE.\n",
         CLI_OPT_JSON | CLI_OPT_BYTES | CLI_OPT_NAMES | CLI_OPT_TABLE, 0, 0, cli_cmd_ls},
        {"stat", "NAME [-J] [-b] [-o COLUMNS] [--noheadings] [-r]",
         "show a segment and every view open on it",
         "  -J, --json            a JSON object\n"
         "  -b, --bytes           sizes in bytes rather than 64M\n" TABLE_OPTIONS
         "Columns of the views: CLIENT, PID, USER, COMMAND, MODE, OFFSET, LENGTH.\n",
         CLI_OPT_JSON | CLI_OPT_BYTES | CLI_OPT_TABLE, 1, 1, cli_cmd_stat},
        {"create", "NAME SIZE [-m MODE]", "create a segment of SIZE bytes",
         "  -m, --mode MODE       octal permission bits, as for a file (default 0600)\n",
         CLI_OPT_MODE, 2, 2, cli_cmd_create},
        {"rm", "NAME...", "unlink segments (their memory lives on until the last view goes)", "", 0,
         1, -1, cli_cmd_rm},
        {"seal", "NAME", "make a segment immutable, for good", "", 0, 1, 1, cli_cmd_seal},
        {"wait", "NAME [--sealed] [-t DURATION]",
         "wait until a segment exists (or is sealed); exit 1 at the deadline",
         "      --sealed          wait until it is also sealed\n"
         "  -t, --timeout DURATION  give up after DURATION: 250ms, 1.5s, 2m, 1h; a bare\n"
         "                        number is seconds (default: no deadline)\n",
         CLI_OPT_SEALED | CLI_OPT_TIMEOUT, 1, 1, cli_cmd_wait},
        {"notify", "NAME", "ring a segment's change doorbell: its generation grows by one",
         "Opens the segment writable, notifies every waiter and exits 0.\n", 0, 1, 1,
         cli_cmd_notify},
        {"dump", "NAME [-s OFFSET] [-l LENGTH] [-f hex|raw]",
         "print a segment's bytes through a read-only view",
         "  -s, --offset N        start N bytes into the segment (default 0)\n"
         "  -l, --length N        print N bytes, or as many as there are (default: to the\n"
         "                        end)\n"
         "  -f, --format FORMAT   hex: like xxd (the default); raw: the bytes themselves\n"
         "Progress goes to standard error when it is a terminal.\n",
         CLI_OPT_OFFSET | CLI_OPT_LENGTH | CLI_OPT_FORMAT, 1, 1, cli_cmd_dump},
        {"write", "NAME [-s OFFSET]", "copy standard input into a segment through a writable view",
         "  -s, --offset N        write N bytes into the segment (default 0)\n"
         "Input longer than the space from the offset to the end is refused before\n"
         "anything is written. Progress goes to standard error when it is a terminal.\n",
         CLI_OPT_OFFSET, 1, 1, cli_cmd_write},
        {"clients", "[-J] [-b] [-o COLUMNS] [--noheadings] [-r]",
         "list the clients connected to the daemon",
         "  -J, --json            a JSON array of objects\n"
         "  -b, --bytes           sizes in bytes rather than 64M\n" TABLE_OPTIONS
         "Columns: ID, PID, USER, COMMAND, VIEWS, MAPPED, AGE, NOTE.\n",
         CLI_OPT_JSON | CLI_OPT_BYTES | CLI_OPT_TABLE, 0, 0, cli_cmd_clients},
        {"status", "[-J] [-b]", "show the daemon's version, uptime, counts and limits",
         "  -J, --json            a JSON object\n"
         "  -b, --bytes           sizes in bytes rather than 64M\n",
         CLI_OPT_JSON | CLI_OPT_BYTES, 0, 0, cli_cmd_status},
        {"watch", "[-J]", "print events as they happen, one line each, until interrupted",
         "  -J, --json            one JSON object per line\n", CLI_OPT_JSON, 0, 0, cli_cmd_watch},
        {"restart", "", "restart a supervised daemon from its binary, keeping every segment",
         "Sends SIGHUP to the shmviewd --supervise that listens on the socket and waits\n"
         "until a new daemon answers. Under systemd: systemctl restart shmviewd.service.\n",
         0, 0, 0, cli_cmd_restart},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
        fputs("Usage: shmview [-S PATH] COMMAND [ARGUMENT]... [OPTION]...\n"
              "Inspect and manage the shared-memory segments served by shmviewd.\n"
              "\n"
              "Commands:\n",
              f);
        for (size_t i = 0; i < NCOMMANDS; i++)
                fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
        fputs("  help      show this help, or 'help COMMAND' a command's\n"
              "\n"
              "Options:\n"
              "  -S, --socket PATH     the daemon's socket (default:\n" SOCKET_RULE
              "  -h, --help            show this help; 'shmview COMMAND --help' for a command's\n"
              "  -V, --version         show the version\n"
              "\n"
              "Sizes and offsets are bytes, or a number with K, M, G, T, P or E (powers of\n"
              "1024): 4096, 64K, 1G, 1GiB; or 0x and hexadecimal digits. Exit status: 0 on\n"
              "success, 1 when an operation fails, 2 for a usage error. See shmview(1).\n",
              f);
}

static void command_usage(const cli_command *cmd, FILE *f)
{
        fprintf(f, "Usage: shmview %s%s%s\n%c%s.\n\nOptions:\n%s", cmd->name,
                *cmd->synopsis ? " " : "", cmd->synopsis, cmd->summary[0] - 'a' + 'A',
                cmd->summary + 1, cmd->options);
        fputs("  -S, --socket PATH     the daemon's socket (default:\n" SOCKET_RULE
              "  -h, --help            show this help\n",
              f);
}

static void vreport(const cli_ctx *ctx, const char *what, const char *fmt, va_list ap)
{
        fflush(stdout);
        fprintf(stderr, "shmview: %s: ", ctx->command);
        if (what)
                fprintf(stderr, "%s: ", what);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
}

int cli_fail(const cli_ctx *ctx, const char *what, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vreport(ctx, what, fmt, ap);
        va_end(ap);
        return CLI_FAIL;
}

int cli_fail_name(const cli_ctx *ctx, const char *name, const char *fmt, ...)
{
        char *shown = cli_escape(name);
        va_list ap;
        va_start(ap, fmt);
        vreport(ctx, shown, fmt, ap);
        va_end(ap);
        free(shown);
        return CLI_FAIL;
}

int cli_usage(const cli_ctx *ctx, const char *what, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vreport(ctx, what, fmt, ap);
        va_end(ap);
        fprintf(stderr, "Try 'shmview %s --help'.\n", ctx->command);
        return CLI_USAGE;
}

const char *cli_socket_path(const cli_ctx *ctx)
{
        static char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
        if (ctx->socket)
                return ctx->socket;
        if (shmv_default_socket_path(path, sizeof(path)) < 0)
                return "the default socket";
        return path;
}

const char *cli_why(int r, const char *fallback)
{
        /* The library hands it over printable: no control characters, valid UTF-8. */
        const char *msg = shmv_last_error_message();
        if (msg)
                return msg;
        return fallback ? fallback : shmv_strerror(r);
}

int cli_connect_failed(const cli_ctx *ctx, int r, const char *fallback)
{
        /* -EINVAL: not the socket but $SHMVIEW_TIMEOUT_MS, which the message names. The
         * library's connect errors name the path themselves. */
        bool own = r == -EINVAL || r == -ENOENT || r == -ENOTSOCK || r == -EACCES ||
                   r == -ECONNREFUSED;
        if (own && shmv_last_error_message())
                return cli_fail(ctx, NULL, "%s", cli_why(r, NULL));
        return cli_fail(ctx, cli_socket_path(ctx), "%s", cli_why(r, fallback));
}

int cli_connect(const cli_ctx *ctx, shmv_client **ret)
{
        int r = shmv_connect(ctx->socket, ret);
        return r < 0 ? cli_connect_failed(ctx, r, NULL) : CLI_OK;
}

int cli_check_name(const cli_ctx *ctx, const char *name)
{
        if (shmv_segment_name_check(name) == 0)
                return CLI_OK;
        char *shown = cli_escape(name);
        int r = cli_usage(ctx, *shown ? shown : "''",
                          "not a segment name (1 to %d bytes, no '/', no control or invisible "
                          "characters, not '.' or '..')",
                          SHMV_NAME_MAX);
        free(shown);
        return r;
}

int cli_connect_name(const cli_ctx *ctx, const char *name, shmv_client **ret)
{
        int r = cli_check_name(ctx, name);
        if (r != CLI_OK)
                return r;
        return cli_connect(ctx, ret) == CLI_OK ? CLI_OK : CLI_FAIL;
}

int cli_finish_output(const cli_ctx *ctx)
{
        if (fflush(stdout) != 0 || ferror(stdout))
                return cli_fail(ctx, "standard output", "%s", strerror(errno ? errno : EIO));
        return CLI_OK;
}

/* Long options without a short one. */
enum {
        OPT_NOHEADINGS = 0x100,
        OPT_NOTRUNCATE,
        OPT_SEALED,
};

/* The command's options; 0 to run it, CLI_USAGE, or -1 after printing its help. */
static int parse_command(const cli_command *cmd, cli_ctx *ctx, int argc, char **argv)
{
        static const struct {
                unsigned flag;
                struct option opt;
        } all[] = {
                /* The short options are lsipc's (-J -b -o -r), xxd's (-s -l) and mkdir's (-m). */
                {CLI_OPT_JSON, {"json", no_argument, NULL, 'J'}},
                {CLI_OPT_BYTES, {"bytes", no_argument, NULL, 'b'}},
                {CLI_OPT_NAMES, {"names", no_argument, NULL, '1'}},
                {CLI_OPT_MODE, {"mode", required_argument, NULL, 'm'}},
                {CLI_OPT_OFFSET, {"offset", required_argument, NULL, 's'}},
                {CLI_OPT_LENGTH, {"length", required_argument, NULL, 'l'}},
                {CLI_OPT_FORMAT, {"format", required_argument, NULL, 'f'}},
                {CLI_OPT_TABLE, {"output", required_argument, NULL, 'o'}},
                {CLI_OPT_TABLE, {"noheadings", no_argument, NULL, OPT_NOHEADINGS}},
                {CLI_OPT_TABLE, {"raw", no_argument, NULL, 'r'}},
                {CLI_OPT_TABLE, {"notruncate", no_argument, NULL, OPT_NOTRUNCATE}},
                {CLI_OPT_SEALED, {"sealed", no_argument, NULL, OPT_SEALED}},
                {CLI_OPT_TIMEOUT, {"timeout", required_argument, NULL, 't'}},
        };
        struct option options[sizeof(all) / sizeof(all[0]) + 3];
        char shorts[2 * (sizeof(all) / sizeof(all[0])) + 8] = ":hS:";
        size_t n = 0, ns = strlen(shorts);
        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
                if (!(cmd->accepts & all[i].flag))
                        continue;
                options[n++] = all[i].opt;
                if (all[i].opt.val < 0x100) {
                        shorts[ns++] = (char)all[i].opt.val;
                        if (all[i].opt.has_arg)
                                shorts[ns++] = ':';
                }
        }
        shorts[ns] = '\0';
        options[n++] = (struct option){"socket", required_argument, NULL, 'S'};
        options[n++] = (struct option){"help", no_argument, NULL, 'h'};
        options[n] = (struct option){0};

        opterr = 0;
        optind = 0; /* GNU getopt: start afresh on this argv */
        int opt;
        while ((opt = getopt_long(argc, argv, shorts, options, NULL)) != -1) {
                switch (opt) {
                case 'h':
                        command_usage(cmd, stdout);
                        return -1;
                case 'S':
                        if (!*optarg)
                                return cli_usage(ctx, "--socket", "wants a path");
                        ctx->socket = optarg;
                        break;
                case 'J':
                        ctx->json = true;
                        break;
                case 'b':
                        ctx->bytes = true;
                        break;
                case '1':
                        ctx->names = true;
                        break;
                case 'm':
                        ctx->mode = optarg;
                        break;
                case 's':
                        ctx->offset = optarg;
                        break;
                case 'l':
                        ctx->length = optarg;
                        break;
                case 'f':
                        ctx->format = optarg;
                        break;
                case 'o':
                        ctx->output = optarg;
                        break;
                case 'r':
                        ctx->raw = true;
                        break;
                case OPT_NOHEADINGS:
                        ctx->noheadings = true;
                        break;
                case OPT_NOTRUNCATE:
                        ctx->notruncate = true;
                        break;
                case OPT_SEALED:
                        ctx->sealed = true;
                        break;
                case 't':
                        ctx->timeout = optarg;
                        break;
                case ':':
                        return cli_usage(ctx, argv[optind - 1], "wants an argument");
                default:
                        if (optopt)
                                return cli_usage(ctx, (char[]){'-', (char)optopt, '\0'},
                                                 "unknown option");
                        return cli_usage(ctx, argv[optind - 1], "unknown option");
                }
        }
        ctx->argc = argc - optind;
        ctx->argv = argv + optind;
        if (ctx->argc < cmd->min_args) {
                /* The synopsis names the operands in order: say which is missing. */
                char want[64] = "";
                const char *p = cmd->synopsis;
                for (int i = 0; i <= ctx->argc && *p; i++) {
                        size_t len = strcspn(p, " ");
                        snprintf(want, sizeof(want), "%.*s", (int)len, p);
                        p += len + (p[len] == ' ');
                }
                return cli_usage(ctx, want, "missing argument");
        }
        if (cmd->max_args >= 0 && ctx->argc > cmd->max_args) {
                char *shown = cli_escape(ctx->argv[cmd->max_args]);
                int r = cli_usage(ctx, shown, "unexpected argument");
                free(shown);
                return r;
        }
        return 0;
}

static const cli_command *find_command(const char *name)
{
        for (size_t i = 0; i < NCOMMANDS; i++)
                if (strcmp(commands[i].name, name) == 0)
                        return &commands[i];
        return NULL;
}

int main(int argc, char **argv)
{
        static const struct option options[] = {
                {"socket", required_argument, NULL, 'S'},
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, 'V'},
                {0},
        };
        cli_ctx ctx = {.command = "shmview"};
        const char *socket = NULL;
        opterr = 0;
        int opt;
        /* '+': stop at the command; its own options follow it. */
        while ((opt = getopt_long(argc, argv, "+:hVS:", options, NULL)) != -1) {
                switch (opt) {
                case 'h':
                        usage(stdout);
                        return CLI_OK;
                case 'V':
                        printf("shmview %s\n", SHMV_VERSION_STRING);
                        return CLI_OK;
                case 'S':
                        if (!*optarg) {
                                fputs("shmview: --socket: wants a path\nTry 'shmview --help'.\n",
                                      stderr);
                                return CLI_USAGE;
                        }
                        socket = optarg;
                        break;
                case ':':
                        fprintf(stderr, "shmview: %s: wants an argument\nTry 'shmview --help'.\n",
                                argv[optind - 1]);
                        return CLI_USAGE;
                default:
                        fprintf(stderr, "shmview: %s: unknown option\nTry 'shmview --help'.\n",
                                optopt ? (char[]){'-', (char)optopt, '\0'} : argv[optind - 1]);
                        return CLI_USAGE;
                }
        }
        if (optind >= argc) {
                usage(stderr);
                return CLI_USAGE;
        }
        const char *name = argv[optind];
        if (strcmp(name, "help") == 0) {
                const cli_command *cmd = optind + 1 < argc ? find_command(argv[optind + 1]) : NULL;
                if (optind + 1 < argc && !cmd) {
                        char *shown = cli_escape(argv[optind + 1]);
                        fprintf(stderr, "shmview: %s: unknown command\nTry 'shmview --help'.\n",
                                shown);
                        free(shown);
                        return CLI_USAGE;
                }
                if (cmd)
                        command_usage(cmd, stdout);
                else
                        usage(stdout);
                return CLI_OK;
        }
        const cli_command *cmd = find_command(name);
        if (!cmd) {
                char *shown = cli_escape(name);
                fprintf(stderr, "shmview: %s: unknown command\nTry 'shmview --help'.\n", shown);
                free(shown);
                return CLI_USAGE;
        }
        ctx.command = cmd->name;
        ctx.socket = socket;
        int r = parse_command(cmd, &ctx, argc - optind, argv + optind);
        if (r < 0)
                return cli_finish_output(&ctx);
        if (r > 0)
                return r;
        return cmd->run(&ctx);
}
