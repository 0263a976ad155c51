/*
 * The ssh transport's wire format (see ssh_frame.h): frames built, answer
 * boundaries found and answers read, on strings alone. Buffers that may
 * hold key bytes are cleansed before they are freed.
 */
#include "engine/transport/ssh_frame.h"
#include "engine/base/err.h"
#include "engine/base/str.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ssh_frame_init(struct ssh_frame *f)
{
	memset(f, 0, sizeof *f);
}

void ssh_frame_release(struct ssh_frame *f)
{
	OPENSSL_clear_free(f->args, f->size);
	ssh_frame_init(f);
}

bool ssh_buf_room(char **buf, size_t *size, size_t len, size_t need)
{
	size_t n = *size ? *size : 256;
	char *p;

	while (n < need)
		n *= 2;
	if (n == *size)
		return true;
	if ((p = malloc(n)) == NULL)
		return false;
	if (len > 0)
		memcpy(p, *buf, len);
	OPENSSL_clear_free(*buf, *size);
	*buf = p;
	*size = n;
	return true;
}

/* Room for n more bytes in f's arguments. */
static bool room(struct ssh_frame *f, size_t n)
{
	if (!f->failed && !ssh_buf_room(&f->args, &f->size, f->len,
	    f->len + n))
		f->failed = true;
	return !f->failed;
}

void ssh_frame_arg(struct ssh_frame *f, const void *p, size_t n)
{
	size_t e = 4 * ((n + 2) / 3);

	if (n > INT32_MAX / 2 || !room(f, e + 2))
		return;
	/* EVP_EncodeBlock writes no newline and a NUL after the text. */
	if (n > 0)
		EVP_EncodeBlock((unsigned char *)f->args + f->len, p, (int)n);
	f->len += e;
	f->args[f->len++] = '\n';
	f->nargs++;
}

void ssh_frame_argf(struct ssh_frame *f, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = cf_vasprintf(fmt, ap);
	va_end(ap);
	if (s == NULL)
		f->failed = true;
	else
		ssh_frame_arg(f, s, strlen(s));
	free(s);
}

char *ssh_frame_take(struct ssh_frame *f, const char *op, size_t *len)
{
	char head[96];
	size_t h;
	char *out;

	h = (size_t)snprintf(head, sizeof head, "%s %zu\n", op, f->nargs);
	if (f->failed || h >= sizeof head ||
	    (out = malloc(h + f->len + 1)) == NULL)
		return NULL;
	memcpy(out, head, h);
	if (f->len > 0)
		memcpy(out + h, f->args, f->len);
	out[h + f->len] = '\0';
	*len = h + f->len;
	return out;
}

size_t ssh_frame_find_line(const char *buf, size_t n, size_t *pos,
    const char *line)
{
	size_t k = strlen(line);
	const char *nl;

	while (*pos < n &&
	    (nl = memchr(buf + *pos, '\n', n - *pos)) != NULL) {
		size_t start = *pos, end = (size_t)(nl - buf);

		*pos = end + 1;
		if (end - start == k && memcmp(buf + start, line, k) == 0)
			return end + 1;
	}
	return 0;
}

char *ssh_unb64(const char *s, size_t n, size_t *outlen)
{
	EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	unsigned char *out = malloc(n / 4 * 3 + 4);
	int a = 0, b = 0;

	if (ctx == NULL || out == NULL || n > INT32_MAX)
		goto fail;
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, out, &a, (const unsigned char *)s,
	    (int)n) < 0 || EVP_DecodeFinal(ctx, out + a, &b) != 1)
		goto fail;
	EVP_ENCODE_CTX_free(ctx);
	out[a + b] = '\0';
	*outlen = (size_t)(a + b);
	return (char *)out;
fail:
	EVP_ENCODE_CTX_free(ctx);
	free(out);
	return NULL;
}

/* The start of the first line of text that starts with the word tag. */
static const char *line_start(const char *text, const char *tag)
{
	size_t n = strlen(tag);
	const char *p = text;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, tag, n) == 0 && (p[n] == ' ' || p[n] == '\n' ||
		    p[n] == '\0'))
			return p;
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return NULL;
}

const char *ssh_answer_line(const char *ans, const char *tag)
{
	const char *p = line_start(ans, tag);
	size_t n = strlen(tag);

	return p == NULL ? NULL : p + n + (p[n] == ' ');
}

char *ssh_answer_word(const char *p)
{
	size_t len;

	return p ? ssh_unb64(p, strcspn(p, " \n"), &len) : NULL;
}

char *ssh_answer_block(const char *at, size_t *len)
{
	const char *start = at ? strchr(at, '\n') : NULL, *end;

	if (start == NULL)
		return NULL;
	start++;
	if ((end = line_start(start, "CF-END")) == NULL)
		return NULL;
	return ssh_unb64(start, (size_t)(end - start), len);
}

/* The CF_E* code the helper names first in "CF-ERR <code> <message>":
 * "EINVAL" for CF_EINVAL; CF_EIO when it names none we know. */
static int err_code(const char *p)
{
	static const struct {
		const char *name;
		int code;
	} codes[] = {
#define XX(code, _) { #code, CF_##code },
		CF_ERRNO_MAP(XX)
#undef XX
	};
	size_t i, n = strcspn(p, " \n");

	for (i = 0; i < sizeof codes / sizeof codes[0]; i++)
		if (strlen(codes[i].name) == n &&
		    strncmp(p, codes[i].name, n) == 0)
			return codes[i].code;
	return CF_EIO;
}

int ssh_answer_status(const char *ans, char **why)
{
	const char *err = ssh_answer_line(ans, "CF-ERR"), *m;

	*why = NULL;
	if (err != NULL) {
		m = err + strcspn(err, " \n");
		if (*m == ' ')
			*why = ssh_answer_word(m + 1);
		return err_code(err);
	}
	if (ssh_answer_line(ans, "CF-ENOENT") != NULL)
		return CF_ENOENT;
	return ssh_answer_line(ans, "CF-OK") != NULL ? 0 : CF_ETRANSPORT;
}

void ssh_answer_files_free(struct transport_entry *e, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free((char *)e[i].name);
		OPENSSL_clear_free((char *)e[i].data, e[i].len);
	}
	free(e);
}

int ssh_answer_files(const char *ans, size_t max,
    struct transport_entry **out, size_t *n)
{
	struct transport_entry *e = NULL, *ne;
	const char *p = ans;
	size_t k = 0, len = 0;
	char *name, *data;

	while ((p = ssh_answer_line(p, "CF-FILE")) != NULL) {
		name = ssh_answer_word(p);
		data = ssh_answer_block(p, &len);
		if ((ne = realloc(e, (k + 1) * sizeof(*e))) != NULL)
			e = ne;
		if (name == NULL || data == NULL || ne == NULL || len > max) {
			free(name);
			OPENSSL_clear_free(data, data ? len : 0);
			ssh_answer_files_free(e, k);
			return ne == NULL ? CF_ENOMEM : data == NULL ||
			    name == NULL ? CF_ETRANSPORT : CF_EINVAL;
		}
		e[k].name = name;
		e[k].data = data;
		e[k++].len = len;
	}
	*out = e;
	*n = k;
	return 0;
}
