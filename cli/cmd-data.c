/* A segment's bytes: dump (to standard output) and write (from standard input), both through
 * a view, in bounded memory: the pages of the mapping behind the current window are dropped
 * from this process (madvise MADV_DONTNEED; the segment keeps them), since shared pages it has
 * touched count in its resident size. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* Bytes handled between two drops of the pages behind. */
#define WINDOW (4u << 20)

/* Drops the whole pages of [*dropped, upto) from this process's mapping, moving *dropped. */
static void drop_behind(uintptr_t *dropped, uintptr_t upto)
{
        static uintptr_t page;
        if (!page)
                page = (uintptr_t)sysconf(_SC_PAGESIZE);
        upto &= ~(page - 1);
        if (upto <= *dropped)
                return;
        /* Advice only: a failure costs memory, not correctness. */
        (void)madvise((void *)*dropped, upto - *dropped, MADV_DONTNEED);
        *dropped = upto;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

static char *put_hex(char *o, uint8_t b)
{
        static const char digits[] = "0123456789abcdef";
        *o++ = digits[b >> 4];
        *o++ = digits[b & 15];
        return o;
}

/* One line as xxd prints it: offset (8 hex digits at least), 16 bytes in groups of two, the
 * printable ASCII of the bytes ('.' for the others). */
static size_t hex_line(char *line, uint64_t offset, const uint8_t *p, size_t n)
{
        char *o = line;
        int digits = 8;
        while (digits < 16 && offset >> (4 * digits))
                digits++;
        for (int i = digits - 1; i >= 0; i--)
                *o++ = "0123456789abcdef"[(offset >> (4 * i)) & 15];
        *o++ = ':';
        *o++ = ' ';
        for (size_t i = 0; i < 16; i++) {
                if (i < n) {
                        o = put_hex(o, p[i]);
                } else {
                        *o++ = ' ';
                        *o++ = ' ';
                }
                if (i % 2 == 1 && i != 15)
                        *o++ = ' ';
        }
        *o++ = ' ';
        *o++ = ' ';
        for (size_t i = 0; i < n; i++)
                *o++ = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '.';
        *o++ = '\n';
        return (size_t)(o - line);
}

/* Reads the offset option and the segment's size; CLI_OK or an exit status after a message. */
static int resolve_offset(cli_ctx *ctx, shmv_client *c, const char *name, uint64_t *ret_size,
                          uint64_t *ret_offset)
{
        uint64_t offset = 0;
        if (ctx->offset) {
                int r = shmv__parse_size(ctx->offset, &offset);
                if (r < 0)
                        return cli_usage(ctx, "--offset",
                                         r == -ERANGE ? "'%s' is too large"
                                                      : "'%s' is not an offset (" SHMV__SIZE_HINT
                                                        ")",
                                         ctx->offset);
        }
        shmv_segment_info info;
        int r = shmv_segment_stat(c, name, &info);
        if (r < 0)
                return cli_fail_name(ctx, name, "%s", cli_why(r, NULL));
        if (offset > info.size)
                return cli_fail_name(ctx, name,
                                     "offset %" PRIu64 " is past the end of the segment (%" PRIu64
                                     " bytes)",
                                     offset, info.size);
        *ret_size = info.size;
        *ret_offset = offset;
        return CLI_OK;
}

static int view_error(cli_ctx *ctx, const char *name, int r)
{
        return cli_fail_name(
                ctx, name, "%s",
                cli_why(r, r == -EPERM ? "the segment is sealed: it cannot be written" : NULL));
}

int cli_cmd_dump(cli_ctx *ctx)
{
        const char *name = ctx->argv[0];
        int r = cli_check_name(ctx, name);
        if (r != CLI_OK)
                return r;
        bool raw = false;
        if (ctx->format && strcmp(ctx->format, "raw") == 0)
                raw = true;
        else if (ctx->format && strcmp(ctx->format, "hex") != 0)
                return cli_usage(ctx, "--format", "'%s' is not a format (hex or raw)", ctx->format);
        uint64_t length = UINT64_MAX;
        if (ctx->length) {
                r = shmv__parse_size(ctx->length, &length);
                if (r < 0)
                        return cli_usage(ctx, "--length",
                                         r == -ERANGE ? "'%s' is too large"
                                                      : "'%s' is not a length (" SHMV__SIZE_HINT
                                                        ")",
                                         ctx->length);
        }
        shmv_client *c;
        if (cli_connect(ctx, &c) != CLI_OK)
                return CLI_FAIL;
        uint64_t size, offset;
        int status = resolve_offset(ctx, c, name, &size, &offset);
        if (status != CLI_OK)
                goto out_disconnect;
        /* What exists of the range, as xxd -s OFFSET -l LENGTH prints. */
        if (length > size - offset)
                length = size - offset;
        if (length == 0)
                goto out_disconnect;
        if (length > SIZE_MAX) {
                status = cli_fail(ctx, name, "too large to map in this process");
                goto out_disconnect;
        }

        shmv_view *v;
        r = shmv_view_open(c, name, offset, length, SHMV_READ, &v);
        if (r < 0) {
                status = view_error(ctx, name, r);
                goto out_disconnect;
        }
        const uint8_t *data = shmv_view_data(v);
        uintptr_t dropped = (uintptr_t)data & ~((uintptr_t)sysconf(_SC_PAGESIZE) - 1);
        static char out[1 << 16];
        size_t used = 0;
        cli_progress progress;
        cli_progress_start(&progress, ctx, length);
        for (uint64_t done = 0; done < length;) {
                size_t chunk = length - done < WINDOW ? (size_t)(length - done) : WINDOW;
                if (raw) {
                        r = write_all(STDOUT_FILENO, data + done, chunk);
                } else {
                        for (size_t i = 0; i < chunk && r >= 0; i += 16) {
                                if (used > sizeof(out) - 128) {
                                        r = write_all(STDOUT_FILENO, (uint8_t *)out, used);
                                        used = 0;
                                }
                                size_t n = chunk - i < 16 ? chunk - i : 16;
                                used += hex_line(out + used, offset + done + i, data + done + i, n);
                        }
                }
                if (r < 0) {
                        status = cli_fail(ctx, "standard output", "%s", strerror(-r));
                        break;
                }
                done += chunk;
                drop_behind(&dropped, (uintptr_t)(data + done));
                cli_progress_update(&progress, done);
        }
        cli_progress_end(&progress);
        if (status == CLI_OK && used > 0 &&
            (r = write_all(STDOUT_FILENO, (uint8_t *)out, used)) < 0)
                status = cli_fail(ctx, "standard output", "%s", strerror(-r));
        shmv_view_release(v);
out_disconnect:
        shmv_disconnect(c);
        return status;
}

/* Copies standard input, when it is not a regular file, into a new memfd: up to limit + 1
 * bytes, so that input longer than limit is known before anything is written. */
static int buffer_input(size_t limit, int *ret_fd, uint64_t *ret_len)
{
        int fd = memfd_create("shmview-write", MFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        static uint8_t buf[1 << 16];
        uint64_t total = 0;
        int r = 0;
        while (total <= limit) {
                size_t want = sizeof(buf);
                if ((uint64_t)want > (uint64_t)limit + 1 - total)
                        want = (size_t)((uint64_t)limit + 1 - total);
                ssize_t n = read(STDIN_FILENO, buf, want);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        goto fail;
                }
                if (n == 0)
                        break;
                r = write_all(fd, buf, (size_t)n);
                if (r < 0)
                        goto fail;
                total += (uint64_t)n;
        }
        *ret_fd = fd;
        *ret_len = total;
        return 0;
fail:
        close(fd);
        return r;
}

int cli_cmd_write(cli_ctx *ctx)
{
        const char *name = ctx->argv[0];
        shmv_client *c;
        int r = cli_connect_name(ctx, name, &c);
        if (r != CLI_OK)
                return r;
        uint64_t size, offset;
        int status = resolve_offset(ctx, c, name, &size, &offset);
        if (status != CLI_OK)
                goto out_disconnect;
        uint64_t space = size - offset;
        if (space > SIZE_MAX / 2) {
                status = cli_fail(ctx, name, "too large to map in this process");
                goto out_disconnect;
        }

        /* A regular file says how long it is; anything else is read into a buffer first. */
        int src = STDIN_FILENO, tmp = -1;
        off_t src_pos = 0;
        uint64_t len = 0;
        struct stat st;
        off_t pos = -1;
        if (fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode) &&
            (pos = lseek(STDIN_FILENO, 0, SEEK_CUR)) >= 0) {
                src_pos = pos;
                len = st.st_size > pos ? (uint64_t)(st.st_size - pos) : 0;
        } else {
                r = buffer_input((size_t)space, &tmp, &len);
                if (r < 0) {
                        status = cli_fail(ctx, "standard input", "%s", strerror(-r));
                        goto out_disconnect;
                }
                src = tmp;
        }
        if (len > space) {
                status = cli_fail_name(ctx, name,
                                       "the input is longer than the %" PRIu64
                                       " bytes from offset %" PRIu64
                                       " to the end of the segment; nothing written",
                                       space, offset);
                goto out_close;
        }
        if (len == 0)
                goto out_close;

        shmv_view *v;
        r = shmv_view_open(c, name, offset, len, SHMV_READ | SHMV_WRITE, &v);
        if (r < 0) {
                status = view_error(ctx, name, r);
                goto out_close;
        }
        void *mut;
        r = shmv_view_data_mut(v, &mut);
        if (r < 0) {
                /* Opened with SHMV_WRITE, so not expected; said as any refusal is. */
                status = view_error(ctx, name, r);
                shmv_view_release(v);
                goto out_close;
        }
        uint8_t *data = mut;
        uintptr_t dropped = (uintptr_t)data & ~((uintptr_t)sysconf(_SC_PAGESIZE) - 1);
        uint64_t done = 0;
        cli_progress progress;
        cli_progress_start(&progress, ctx, len);
        while (done < len) {
                size_t chunk = len - done < WINDOW ? (size_t)(len - done) : WINDOW;
                ssize_t n = pread(src, data + done, chunk, src_pos + (off_t)done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        status = cli_fail(ctx, "standard input", "%s", strerror(errno));
                        break;
                }
                if (n == 0) {
                        /* The file shrank while it was read. */
                        status = cli_fail(ctx, "standard input",
                                          "ended early: %" PRIu64 " of %" PRIu64 " bytes written",
                                          done, len);
                        break;
                }
                done += (uint64_t)n;
                drop_behind(&dropped, (uintptr_t)(data + done));
                cli_progress_update(&progress, done);
        }
        cli_progress_end(&progress);
        shmv_view_release(v);
        /* Leave standard input where a reader of a regular file expects it: past what was read. */
        if (src == STDIN_FILENO)
                (void)lseek(STDIN_FILENO, src_pos + (off_t)done, SEEK_SET);
out_close:
        if (tmp >= 0)
                close(tmp);
out_disconnect:
        shmv_disconnect(c);
        return status;
}

int cli_cmd_notify(cli_ctx *ctx)
{
        const char *name = ctx->argv[0];
        shmv_client *c;
        int r = cli_connect_name(ctx, name, &c);
        if (r != CLI_OK)
                return r;
        /* An empty writable view: it maps the doorbell page and none of the bytes. */
        shmv_view *v;
        r = shmv_view_open(c, name, 0, 0, SHMV_READ | SHMV_WRITE, &v);
        if (r == 0) {
                r = shmv_view_notify(v);
                shmv_view_release(v);
        }
        int status = r < 0 ? view_error(ctx, name, r) : CLI_OK;
        shmv_disconnect(c);
        return status;
}
