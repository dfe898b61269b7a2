/* libshmview: errors. shmv_strerror()'s sentences, and the daemon's own message of the calling
 * thread's last failed request (shmv_last_error_message()). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "private.h"
#include "utf8.h"

/* Sentences for the errors this library returns; the rest come from the C library. */
static const struct {
        int err;
        const char *msg;
} messages[] = {
        {EROFS, "cannot modify read-only memory"},
        {ENOENT, "no such segment"},
        {EEXIST, "a segment with that name exists"},
        {EACCES, "permission denied"},
        {EPERM, "operation not permitted"},
        {EBUSY, "the segment has writable views open"},
        {EINVAL, "invalid argument"},
        {ERANGE, "index out of range"},
        {ENOSPC, "over the daemon's limits (max_bytes or max_segments) or out of memory"},
        {EDQUOT, "over this uid's quota (max_bytes_per_uid or max_segments_per_uid)"},
        {EUSERS, "the daemon has too many clients connected"},
        {EOVERFLOW, "offset + length overflows"},
        {EMFILE, "too many views open"},
        {ENOBUFS, "buffer too small"},
        {ECONNREFUSED, "no daemon is listening on the socket (connection refused)"},
        {ENOTSOCK, "not a socket"},
        {ENOTCONN, "not connected to the daemon"},
        {ECONNRESET, "the daemon closed the connection"},
        {EPIPE, "the daemon closed the connection"},
        {ETIMEDOUT, "the daemon did not answer in time (the client's timeout)"},
        {EPROTO, "protocol error"},
        {EMSGSIZE, "message too large"},
        {ENAMETOOLONG, "socket path too long"},
        {EOPNOTSUPP, "request not supported by the daemon"},
        {ENOMEM, "out of memory"},
};

const char *shmv_strerror(int err)
{
        if (err == 0)
                return "success";
        if (err < 0)
                err = -err;
        for (size_t i = 0; i < sizeof(messages) / sizeof(messages[0]); i++)
                if (messages[i].err == err)
                        return messages[i].msg;
        const char *s = strerrordesc_np(err);
        return s ? s : "unknown error";
}

const char *shmv_err_name(int err)
{
        if (err < 0)
                err = -err;
        const char *s = err ? strerrorname_np(err) : NULL;
        return s ? s : "EUNKNOWN";
}

/* Per thread, like errno: threads sharing a client each see their own last failure. The
 * default TLS model, not initial-exec: the Python module links this library statically and is
 * loaded with dlopen(), where static TLS space is scarce. */
static _Thread_local struct {
        bool set;
        char text[SHMV__MESSAGE_MAX];
} last;

/* The message comes from the peer, which may be anything that listens on the socket: what a
 * program prints of it must not drive a terminal. Keeps well-formed UTF-8 but control
 * characters (C0, DEL, C1, NUL included), each of which becomes '?', as does each byte outside
 * a well-formed sequence; stops before a character that would pass dst_len - 1 bytes. */
static size_t sanitize(char *dst, size_t dst_len, const uint8_t *src, size_t len)
{
        size_t o = 0;
        for (size_t i = 0; i < len;) {
                uint32_t cp;
                size_t n = shmv__utf8_seq(src + i, len - i, &cp);
                bool control = n > 0 && (cp < 0x20 || (cp >= 0x7f && cp < 0xa0));
                size_t out = (n == 0 || control) ? 1 : n;
                if (out > dst_len - 1 - o)
                        break;
                if (n == 0 || control)
                        dst[o] = '?';
                else
                        memcpy(dst + o, src + i, n);
                o += out;
                i += n ? n : 1;
        }
        dst[o] = '\0';
        return o;
}

void shmv__error_clear(void)
{
        last.set = false;
}

void shmv__error_set(const uint8_t *msg, size_t len)
{
        last.set = sanitize(last.text, sizeof(last.text), msg, len) > 0;
}

const char *shmv_last_error_message(void)
{
        return last.set ? last.text : NULL;
}

int shmv__error_setf(int err, const char *fmt, ...)
{
        char text[SHMV__MESSAGE_MAX];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        if (n > 0)
                shmv__error_set((const uint8_t *)text,
                                (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1);
        return err;
}

int shmv__error_bad_name(const char *name)
{
        if (!name)
                return shmv__error_setf(-EINVAL, "no segment name (NULL)");
        /* Without the name: the caller has it, and printing it could need escaping. */
        return shmv__error_setf(-EINVAL,
                                "not a segment name (1 to %d bytes, no '/', no control "
                                "characters, not '.' or '..')",
                                SHMV_NAME_MAX);
}

int shmv__error_connect(const char *path, int err)
{
        struct stat st;
        switch (err) {
        case ENOENT:
                return shmv__error_setf(-ENOENT, "no socket at %s (is shmviewd running?)", path);
        case ENOTDIR:
                return shmv__error_setf(-ENOTSOCK,
                                        "no socket at %s: a component of the path is not a "
                                        "directory",
                                        path);
        case EACCES:
        case EPERM:
                return shmv__error_setf(-EACCES,
                                        "permission denied to connect to %s (the socket's mode "
                                        "or group, or a directory on the way)",
                                        path);
        case ECONNREFUSED:
                /* A file that is not a socket refuses connections as a dead socket does. */
                if (stat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
                        return shmv__error_setf(-ENOTSOCK, "%s is not a socket but a %s", path,
                                                S_ISDIR(st.st_mode)   ? "directory"
                                                : S_ISREG(st.st_mode) ? "regular file"
                                                                      : "file of another kind");
                return shmv__error_setf(-ECONNREFUSED,
                                        "nobody is listening on %s (a daemon that stopped left "
                                        "its socket?)",
                                        path);
        default:
                return shmv__error_setf(-err, "cannot connect to %s: %s", path, shmv_strerror(err));
        }
}
