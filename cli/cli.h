/* shmview(1): the command-line tool. Shared declarations of its files: main.c (commands,
 * options, errors), cmd-segment.c (ls, stat, create, rm, seal), cmd-data.c (dump, write),
 * cmd-daemon.c (clients, status, watch), format.c (sizes, modes, times, names, tables) and
 * json.c (JSON output). It uses libshmview's public API only. */
#ifndef SHMVIEW_CLI_H
#define SHMVIEW_CLI_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#include "shmview.h"
#include "size.h"

/* Exit statuses. */
#define CLI_OK 0
#define CLI_FAIL 1 /* an operational error: the daemon refused, a segment is missing... */
#define CLI_USAGE 2 /* the command line is wrong, whatever the daemon holds */

/* Options a command takes besides --socket and --help. */
enum {
        CLI_OPT_JSON = 1u << 0,
        CLI_OPT_BYTES = 1u << 1,
        CLI_OPT_NAMES = 1u << 2,
        CLI_OPT_MODE = 1u << 3,
        CLI_OPT_OFFSET = 1u << 4,
        CLI_OPT_LENGTH = 1u << 5,
        CLI_OPT_FORMAT = 1u << 6,
        CLI_OPT_TABLE = 1u << 7, /* --output, --noheadings, --raw, --notruncate */
        CLI_OPT_SEALED = 1u << 8,
        CLI_OPT_TIMEOUT = 1u << 9,
};

typedef struct cli_ctx {
        const char *command; /* for messages: "ls", "dump"... */
        const char *socket; /* --socket, or NULL for the library's rule */
        bool json;
        bool bytes;
        bool names;
        const char *mode; /* option arguments as typed, NULL when absent */
        const char *offset;
        const char *length;
        const char *format;
        const char *output; /* --output: the table's columns, comma-separated */
        bool noheadings;
        bool raw; /* --raw: cells one space apart, unaligned, spaces escaped */
        bool notruncate;
        bool sealed;
        const char *timeout;
        int argc; /* the positional arguments */
        char **argv;
} cli_ctx;

typedef struct cli_command {
        const char *name;
        const char *synopsis; /* after "shmview NAME " */
        const char *summary;
        const char *options; /* help text for the command's own options */
        unsigned accepts; /* CLI_OPT_* */
        int min_args;
        int max_args; /* -1: no limit */
        int (*run)(cli_ctx *ctx);
} cli_command;

/* main.c */
/* "shmview: COMMAND: WHAT: WHY" on stderr. Returns CLI_FAIL. */
__attribute__((format(printf, 3, 4))) int cli_fail(const cli_ctx *ctx, const char *what,
                                                   const char *fmt, ...);
/* cli_fail() about a segment: WHAT is name, escaped as cli_escape() does. */
__attribute__((format(printf, 3, 4))) int cli_fail_name(const cli_ctx *ctx, const char *name,
                                                        const char *fmt, ...);
/* The same, then "Try 'shmview COMMAND --help'."; returns CLI_USAGE. */
__attribute__((format(printf, 3, 4))) int cli_usage(const cli_ctx *ctx, const char *what,
                                                    const char *fmt, ...);
/* Why a libshmview call failed with r, for the WHY of a message: the daemon's own message
 * when it refused the request (shmv_last_error_message(): it names the limit, the segment...),
 * else fallback when not NULL, else shmv_strerror(r). Call it before the next library call
 * that talks to the daemon, which clears that message. */
const char *cli_why(int r, const char *fallback);
/* Connects to the daemon, or says why not and returns CLI_FAIL. */
int cli_connect(const cli_ctx *ctx, shmv_client **ret);
/* Says why shmv_connect() or shmv_watch_open() failed with r; returns CLI_FAIL. */
int cli_connect_failed(const cli_ctx *ctx, int r, const char *fallback);
/* The socket path in use, for messages. */
const char *cli_socket_path(const cli_ctx *ctx);
/* Checks a segment name typed by the user; CLI_USAGE with a message when it is not one. */
int cli_check_name(const cli_ctx *ctx, const char *name);
/* cli_check_name(), then cli_connect(): CLI_OK with *ret connected, or the status to exit
 * with. */
int cli_connect_name(const cli_ctx *ctx, const char *name, shmv_client **ret);
/* Flushes stdout; CLI_FAIL with a message when what was printed could not all be written. */
int cli_finish_output(const cli_ctx *ctx);

/* cmd-segment.c */
int cli_cmd_ls(cli_ctx *ctx);
int cli_cmd_stat(cli_ctx *ctx);
int cli_cmd_create(cli_ctx *ctx);
int cli_cmd_rm(cli_ctx *ctx);
int cli_cmd_seal(cli_ctx *ctx);
int cli_cmd_wait(cli_ctx *ctx);
/* cmd-data.c */
int cli_cmd_dump(cli_ctx *ctx);
int cli_cmd_write(cli_ctx *ctx);
int cli_cmd_notify(cli_ctx *ctx);
/* cmd-daemon.c */
int cli_cmd_clients(cli_ctx *ctx);
int cli_cmd_status(cli_ctx *ctx);
int cli_cmd_watch(cli_ctx *ctx);
int cli_cmd_restart(cli_ctx *ctx);

/* format.c */
/* Octal permission bits up to 07777: -EINVAL otherwise. */
int cli_parse_mode(const char *s, uint32_t *ret);
/* A duration in milliseconds: a decimal number (fractions allowed) with a unit ms, s, m or h,
 * seconds without one: "250ms", "1.5s", "2m", "10". -EINVAL otherwise, -ERANGE past INT_MAX
 * milliseconds. */
int cli_parse_duration(const char *s, int *ret_ms);
/* "64M", "1.5G", "100B"; exact digits when exact is set. dst has room for 32 bytes. */
const char *cli_format_size(char dst[static 32], uint64_t bytes, bool exact);
/* "rw-r-----" (with s, S, t, T for the special bits); dst has room for 10 bytes. */
const char *cli_format_perms(char dst[static 10], uint32_t mode);
/* "0640"; dst has room for 8 bytes. */
const char *cli_format_mode(char dst[static 8], uint32_t mode);
/* "5s", "12m", "3h", "4d" since usec (CLOCK_REALTIME); dst has room for 32 bytes. */
const char *cli_format_age(char dst[static 32], uint64_t usec);
/* "3d 4h", "2h 5m", "5m 3s", "12s". */
const char *cli_format_duration(char dst[static 32], uint64_t usec);
/* Local time "2024-05-01 12:00:00 +0200". */
const char *cli_format_time(char dst[static 64], uint64_t usec);
/* ISO 8601 UTC with microseconds, "2024-05-01T10:00:00.123456Z", for JSON. */
const char *cli_format_time_iso(char dst[static 64], uint64_t usec);
/* User and group names, or the number when there is none; dst has room for 64 bytes. */
const char *cli_user_name(char dst[static 64], uint32_t uid);
const char *cli_group_name(char dst[static 64], uint32_t gid);
/* Whether there is a name for the uid / gid (for JSON's null). */
bool cli_user_known(uint32_t uid);
bool cli_group_known(uint32_t gid);
/* Pids as the daemon reports them are in its pid namespace. cli_pids_learn() takes whether it
 * is ours, as the daemon said at the handshake (shmv_client_pids_shared(),
 * shmv_watch_pids_shared(): 1 or 0; an error changes nothing). Until then they are taken as
 * ours. */
void cli_pids_learn(int shared);
/* Whether pid names a process here: not 0 (the daemon could not see it) and in our pid
 * namespace. */
bool cli_pid_known(uint32_t pid);
/* The pid, or "-" when it names no process here; dst has room for 16 bytes. */
const char *cli_format_pid(char dst[static 16], uint32_t pid);
/* A name or command made safe for a terminal: valid UTF-8 kept except control characters,
 * which become \xNN like invalid bytes do; a backslash becomes \\. A malloc()ed string;
 * aborts on out of memory. */
char *cli_escape(const char *s);
/* Length of the valid UTF-8 sequence at s (1 to 4), 0 when it is not one (overlong forms,
 * surrogates and values past U+10FFFF are not); *ret_cp gets the code point. */
size_t cli_utf8_seq(const unsigned char *s, uint32_t *ret_cp);
/* Code points in a UTF-8 string: its width in a table, near enough. */
size_t cli_width(const char *s);

/* A table with a header line and aligned columns, two spaces apart, with lsipc's habits:
 * --output picks and orders the columns, --noheadings drops the header, --raw prints cells
 * one space apart without alignment (spaces and backslashes as \x20 and \x5c), and a cell
 * of a truncatable column wider than CLI_TRUNCATE is cut, ending in "...", unless --raw or
 * --notruncate. */
#define CLI_TRUNCATE 32
typedef struct cli_table cli_table;
/* align: one character per column, 'r' to align right, 't' left and truncatable, anything
 * else left. */
cli_table *cli_table_new(size_t ncols, const char *const *headers, const char *align);
/* Adds a row of ncols cells, copied (escaped by the caller when needed). */
void cli_table_add(cli_table *t, const char *const *cells);
/* Prints it as ctx's options say: CLI_OK, or CLI_USAGE after a message (an --output column
 * the table does not have), before anything is printed. */
int cli_table_print(cli_table *t, const cli_ctx *ctx, FILE *f);
void cli_table_free(cli_table *t);

/* Progress of a long dump or write on standard error, as dd status=progress shows it: only
 * when standard error is a terminal and the transfer is at least CLI_PROGRESS_MIN bytes,
 * redrawn at most every 200 ms, the line erased at the end. */
#define CLI_PROGRESS_MIN (64u << 20)
typedef struct cli_progress {
        const cli_ctx *ctx;
        uint64_t total;
        uint64_t start_ms, last_ms;
        bool on;
} cli_progress;
void cli_progress_start(cli_progress *p, const cli_ctx *ctx, uint64_t total);
void cli_progress_update(cli_progress *p, uint64_t done);
void cli_progress_end(cli_progress *p);

/* json.c */
/* A JSON string from bytes that should be UTF-8: invalid sequences become U+FFFD. */
json_object *cli_json_string(const char *s);
json_object *cli_json_u64(uint64_t v);
/* {"client_id", "pid", "uid", "user", "gid", "group", "command"} */
json_object *cli_json_client(const shmv_client_ref *ref);
/* Prints v (pretty unless one_line) and a newline, and drops the reference. */
void cli_json_print(json_object *v, bool one_line);

/* Aborts with a message on out of memory: the tool cannot go on without it. */
void *cli_xmalloc(size_t n);
char *cli_xstrdup(const char *s);

#endif
