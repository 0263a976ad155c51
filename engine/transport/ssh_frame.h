/*
 * The ssh transport's wire format, as text only (no process, no loop), so
 * that it can be tested alone. One session runs the remote helper
 * (ssh_remote.sh), which says "CF-READY" once it has read itself, then
 * takes operations one at a time:
 *
 *   controller:  "OP N\n", then N lines, each one argument in base64
 *                (no newline inside; an empty line is an empty value)
 *   helper:      the answer's lines, then "CF-DONE\n"
 *
 * An answer says CF-OK, CF-ENOENT or "CF-ERR <code> <base64 message>"
 * (EIO, EINVAL...: the CF_E* code without its prefix), then what the
 * operation returns: "CF-FILE <base64 name>" and base64 lines ending with
 * "CF-END" per file, "CF-UNDO <version> [<previous>]", "CF-EXIT <status>",
 * "CF-OUT"/"CF-ERROUT <base64>", "CF-TIMEOUT". Base64 has no '-', so no
 * data line can look like one of these.
 */
#ifndef CF_SSH_FRAME_H
#define CF_SSH_FRAME_H

#include "engine/transport/transport.h"

#include <stdbool.h>
#include <stddef.h>

/* An operation being framed: its arguments, encoded as they come. */
struct ssh_frame {
	char *args;                 /* "b64\n" per argument */
	size_t len;
	size_t size;
	size_t nargs;
	bool failed;                /* memory ran out: nothing to send */
};

/* Room for need bytes in *buf (*size allocated, the first len in use),
 * doubling from 256. Not realloc: the buffer left behind is cleansed, as
 * frames and answers may hold key bytes. False when memory runs out. */
bool ssh_buf_room(char **buf, size_t *size, size_t len, size_t need);

void ssh_frame_init(struct ssh_frame *f);
/* Cleanses (arguments may be key bytes) and frees. */
void ssh_frame_release(struct ssh_frame *f);

/* Adds the next argument: n bytes at p. */
void ssh_frame_arg(struct ssh_frame *f, const void *p, size_t n);
/* Adds the next argument as text: a path, a count, a mode. */
void ssh_frame_argf(struct ssh_frame *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The whole frame for operation op, new (free with OPENSSL_clear_free,
 * length *len); NULL when memory ran out, now or while adding. */
char *ssh_frame_take(struct ssh_frame *f, const char *op, size_t *len);

/*
 * Looks for a line that is exactly line (without its '\n') in buf[0, n),
 * from *pos, which is the start of a line. Returns the offset just past
 * it, or 0 when no such complete line is there yet; *pos is then the
 * start of the first incomplete line, where the next look resumes.
 */
size_t ssh_frame_find_line(const char *buf, size_t n, size_t *pos,
    const char *line);

/* Base64 text (newlines allowed) decoded into a new NUL-ended buffer;
 * NULL when it is not base64 or memory runs out. */
char *ssh_unb64(const char *s, size_t n, size_t *outlen);

/* The rest of the first line of ans that starts with the word tag, or
 * NULL. */
const char *ssh_answer_line(const char *ans, const char *tag);

/* The decoded base64 word at p (up to a space or newline), new; NULL when
 * p is NULL. */
char *ssh_answer_word(const char *p);

/* The decoded base64 lines after the line at (an answer line), up to
 * "CF-END", new, NUL-ended; NULL when at is NULL or malformed. */
char *ssh_answer_block(const char *at, size_t *len);

/*
 * What an answer says: 0 (CF-OK), CF_ENOENT, the code of a CF-ERR with
 * its message in *why (new), or CF_ETRANSPORT when it says none of these.
 * *why is NULL unless a message came.
 */
int ssh_answer_status(const char *ans, char **why);

/* The files of a read_store answer, new (ssh_answer_files_free): 0, or
 * CF_EINVAL when one is larger than max bytes (the helper sends any
 * size), CF_ETRANSPORT when malformed, CF_ENOMEM. */
int ssh_answer_files(const char *ans, size_t max,
    struct transport_entry **out, size_t *n);
void ssh_answer_files_free(struct transport_entry *e, size_t n);

#endif
