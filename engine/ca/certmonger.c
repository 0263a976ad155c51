/*
 * certmonger's helper protocol, pure: the environment of SUBMIT, POLL and
 * FETCH-ROOTS as certmonger's own src/submit-e.c sets it (several values of
 * one kind joined with newlines, empty values left out), and the answers
 * as doc/submit.txt defines them. Never prints; the cookie and the CSR go
 * into the environment and the reply's ref, never into a message.
 */
#include "engine/ca/certmonger.h"
#include "engine/base/crypto.h"
#include "engine/base/env.h"
#include "engine/base/err.h"
#include "engine/base/san.h"
#include "engine/base/str.h"
#include "engine/base/strv.h"

#include <limits.h>
#include <stdarg.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A cookie goes back through the environment: far below the kernel's
 * limit on one string (128 KiB), and far above any CA's handle. */
#define COOKIE_MAX (64 * 1024)
/* A helper's delay past a week is taken as a week. */
#define DELAY_MAX (7 * 24 * 3600)
/* Longest path certmonger_chain follows. */
#define CHAIN_DEPTH 16

const char *const certmonger_inherited[] = {
	"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER",
	"LOGNAME", "KRB5CCNAME", "KRB5_CONFIG", "KRB5_KTNAME",
	"KRB5_CLIENT_KTNAME", "http_proxy", "https_proxy", "no_proxy",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", NULL
};

/* NAME=value, left out when value is NULL or empty (as certmonger). */
static void set(struct env *b, const char *name, const char *value)
{
	if (value != NULL && value[0] != '\0')
		env_set(b, name, value);
}

static void inherit(struct env *b, char *const *env)
{
	bool path = false;
	size_t i, k, n;

	for (i = 0; env != NULL && env[i] != NULL; i++)
		for (k = 0; certmonger_inherited[k] != NULL; k++) {
			n = strlen(certmonger_inherited[k]);
			if (strncmp(env[i], certmonger_inherited[k], n) != 0 ||
			    env[i][n] != '=')
				continue;
			env_push(b, strdup(env[i]));
			path |= k == 0;
		}
	/* A helper that runs other programs needs some PATH. */
	if (!path)
		env_push(b, strdup("PATH=/usr/local/sbin:/usr/local/bin:"
		    "/usr/sbin:/usr/bin:/sbin:/bin"));
}

/* Appends value to *list, newline-separated. */
static bool join(char **list, const char *value)
{
	char *n = *list ? cf_asprintf("%s\n%s", *list, value) :
	    strdup(value);

	if (n == NULL)
		return false;
	free(*list);
	*list = n;
	return true;
}

/* CERTMONGER_REQ_HOSTNAME, _IP_ADDRESS and _EMAIL from the request's
 * SANs; URIs have no variable of their own (the CSR carries them). */
static void sans(struct env *b, const struct req_spec *spec)
{
	char *host = NULL, *ip = NULL, *email = NULL, m[128];
	struct san s;
	size_t i;
	bool ok = true;

	for (i = 0; ok && spec != NULL && i < spec->nsan; i++) {
		if (san_parse(spec->san[i], &s, m, sizeof m) != 0)
			continue;
		if (s.type == SAN_DNS)
			ok = join(&host, s.value);
		else if (s.type == SAN_IP)
			ok = join(&ip, s.value);
		else if (s.type == SAN_EMAIL)
			ok = join(&email, s.value);
	}
	if (!ok)
		b->oom = true;
	set(b, "CERTMONGER_REQ_HOSTNAME", host);
	set(b, "CERTMONGER_REQ_IP_ADDRESS", ip);
	set(b, "CERTMONGER_REQ_EMAIL", email);
	free(host);
	free(ip);
	free(email);
}

/* CERTMONGER_SPKI (base64 of the DER SubjectPublicKeyInfo, one line, as
 * certmonger) and CERTMONGER_KEY_TYPE, from the CSR itself. */
static int key_vars(struct env *b, const char *csr_pem, char *msg,
    size_t msgsz)
{
	unsigned char *der = NULL;
	const char *type = NULL;
	X509_REQ *csr = NULL;
	EVP_PKEY *key;
	char *b64;
	int len, rc;

	if ((rc = crypto_csr_from_pem(csr_pem, "the CSR", &csr, msg,
	    msgsz)) != 0)
		return rc;
	key = X509_REQ_get0_pubkey(csr);
	if (key == NULL || (len = i2d_PUBKEY(key, &der)) <= 0) {
		X509_REQ_free(csr);
		return cf_error(msg, msgsz, CF_EINVAL, "the CSR holds no "
		    "public key");
	}
	if ((b64 = malloc(((size_t)len + 2) / 3 * 4 + 1)) == NULL) {
		b->oom = true;
	} else {
		EVP_EncodeBlock((unsigned char *)b64, der, len);
		set(b, "CERTMONGER_SPKI", b64);
		free(b64);
	}
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_RSA:
		type = "RSA";
		break;
	case EVP_PKEY_EC:
		type = "EC";
		break;
	case EVP_PKEY_ED25519:
		/* certmonger itself has no name for it. */
		type = "ED25519";
		break;
	}
	set(b, "CERTMONGER_KEY_TYPE", type);
	OPENSSL_free(der);
	X509_REQ_free(csr);
	return 0;
}

int certmonger_env(const struct certmonger_call *call, char *const *env,
    char ***out, char *msg, size_t msgsz)
{
	struct env b = { 0 };
	int rc = 0;

	*out = NULL;
	inherit(&b, env);
	set(&b, "CERTMONGER_OPERATION", call->operation);
	set(&b, "CERTMONGER_CSR", call->csr_pem);
	set(&b, "CERTMONGER_CA_COOKIE", call->cookie);
	if (call->spec != NULL) {
		set(&b, "CERTMONGER_REQ_SUBJECT", call->spec->subject);
		sans(&b, call->spec);
	}
	set(&b, "CERTMONGER_CA_PROFILE", call->profile);
	set(&b, "CERTMONGER_CERTIFICATE", call->previous_pem);
	if (call->csr_pem != NULL)
		rc = key_vars(&b, call->csr_pem, msg, msgsz);
	set(&b, "CERTMONGER_CA_NICKNAME", call->nickname);
	if (rc != 0) {
		env_release(&b);
		return rc;
	}
	if ((*out = env_take(&b)) == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	return 0;
}

/* ---- certificates in a helper's output ---- */

static int push_cert(STACK_OF(X509) *sk, X509 *x)
{
	if (!sk_X509_push(sk, x)) {
		X509_free(x);
		return CF_ENOMEM;
	}
	return 0;
}

/* The certificates of a PKCS#7 signed-data ("certs only") in DER; what
 * names the item in messages. */
static int add_p7(STACK_OF(X509) *sk, const unsigned char *der, long len,
    const char *what, char *msg, size_t msgsz)
{
	const unsigned char *p = der;
	STACK_OF(X509) *certs = NULL;
	PKCS7 *p7 = d2i_PKCS7(NULL, &p, len);
	int i, rc = 0;

	if (p7 == NULL)
		return cf_error(msg, msgsz, CF_EINVAL, "malformed certificate "
		    "or PKCS#7 in %s", what);
	if (PKCS7_type_is_signed(p7) && p7->d.sign != NULL)
		certs = p7->d.sign->cert;
	else
		rc = cf_error(msg, msgsz, CF_EINVAL, "%s: PKCS#7 other than "
		    "signed data (certificates only) is not supported", what);
	for (i = 0; rc == 0 && i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);

		X509_up_ref(x);
		if ((rc = push_cert(sk, x)) != 0)
			rc = cf_error(msg, msgsz, rc, "out of memory");
	}
	PKCS7_free(p7);
	return rc;
}

/* One DER item: a certificate, else a PKCS#7 (AD CS also sends those under
 * a CERTIFICATE label). */
static int add_der(STACK_OF(X509) *sk, const unsigned char *der, long len,
    const char *what, char *msg, size_t msgsz)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, len);

	if (x != NULL)
		return push_cert(sk, x) ? cf_error(msg, msgsz, CF_ENOMEM,
		    "out of memory") : 0;
	return add_p7(sk, der, len, what, msg, msgsz);
}

static int parse_pem(STACK_OF(X509) *sk, const char *data, size_t len,
    char *msg, size_t msgsz)
{
	BIO *b = BIO_new_mem_buf(data, (int)len);
	char *name, *header, what[32];
	unsigned char *der;
	unsigned long e;
	long dlen;
	int rc = 0, n = 0;

	if (b == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	while (rc == 0) {
		name = header = NULL;
		der = NULL;
		snprintf(what, sizeof what, "PEM block #%d", n + 1);
		if (!PEM_read_bio(b, &name, &header, &der, &dlen)) {
			e = ERR_peek_last_error();
			if (ERR_GET_LIB(e) != ERR_LIB_PEM ||
			    ERR_GET_REASON(e) != PEM_R_NO_START_LINE)
				rc = cf_error(msg, msgsz, CF_EINVAL,
				    "malformed %s", what);
			break;
		}
		n++;
		if (strcmp(name, PEM_STRING_X509) == 0 ||
		    strcmp(name, PEM_STRING_X509_OLD) == 0)
			rc = add_der(sk, der, dlen, what, msg, msgsz);
		else if (strcmp(name, PEM_STRING_PKCS7) == 0 ||
		    strcmp(name, PEM_STRING_PKCS7_SIGNED) == 0)
			rc = add_p7(sk, der, dlen, what, msg, msgsz);
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(der);
	}
	BIO_free(b);
	ERR_clear_error();
	return rc;
}

int certmonger_certs_parse(const char *data, size_t len,
    STACK_OF(X509) **out, char *msg, size_t msgsz)
{
	STACK_OF(X509) *sk;
	int rc;

	*out = NULL;
	if (data == NULL || len == 0 || len > INT_MAX)
		return cf_error(msg, msgsz, CF_EINVAL, "no certificate");
	if ((sk = sk_X509_new_null()) == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	/* DER starts with a SEQUENCE; anything else without a PEM block is
	 * text that holds no certificate. */
	if (cf_contains(data, len, "-----BEGIN "))
		rc = parse_pem(sk, data, len, msg, msgsz);
	else if ((unsigned char)data[0] == 0x30)
		rc = add_der(sk, (const unsigned char *)data, (long)len,
		    "the answer", msg, msgsz);
	else
		rc = 0;
	ERR_clear_error();
	if (rc == 0 && sk_X509_num(sk) == 0)
		rc = cf_error(msg, msgsz, CF_EINVAL, "no certificate");
	if (rc != 0) {
		sk_X509_pop_free(sk, X509_free);
		return rc;
	}
	*out = sk;
	return 0;
}

/* ---- chains ---- */

static bool on_path(STACK_OF(X509) *path, X509 *x)
{
	int i;

	for (i = 0; i < sk_X509_num(path); i++)
		if (X509_cmp(sk_X509_value(path, i), x) == 0)
			return true;
	return false;
}

/* A certificate of pool that issued cur (name, key identifiers and
 * signature), not already on the path. */
static X509 *issuer_in(STACK_OF(X509) *pool, X509 *cur, STACK_OF(X509) *path)
{
	X509 *c;
	int i;

	for (i = 0; i < sk_X509_num(pool); i++) {
		c = sk_X509_value(pool, i);
		if (X509_check_issued(c, cur) == X509_V_OK &&
		    !on_path(path, c) &&
		    X509_verify(cur, X509_get0_pubkey(c)) == 1)
			return c;
	}
	return NULL;
}

STACK_OF(X509) *certmonger_chain(X509 *leaf, STACK_OF(X509) *sent,
    STACK_OF(X509) *extra)
{
	STACK_OF(X509) *path = sk_X509_new_null();
	X509 *cur = leaf, *iss;

	if (path == NULL || !sk_X509_push(path, leaf)) {
		sk_X509_free(path);
		return NULL;
	}
	X509_up_ref(leaf);
	while (sk_X509_num(path) < CHAIN_DEPTH &&
	    X509_self_signed(cur, 0) != 1) {
		if ((iss = issuer_in(sent, cur, path)) == NULL &&
		    (iss = issuer_in(extra, cur, path)) == NULL)
			break;
		if (!sk_X509_push(path, iss)) {
			sk_X509_pop_free(path, X509_free);
			return NULL;
		}
		X509_up_ref(iss);
		cur = iss;
	}
	ERR_clear_error();
	return path;
}

/* The certificates of sk as one PEM text; NULL when out of memory. */
static char *stack_pem(STACK_OF(X509) *sk)
{
	char *all = strdup(""), *one, *n, m[64];
	int i;

	for (i = 0; all != NULL && i < sk_X509_num(sk); i++) {
		if (crypto_cert_to_pem(sk_X509_value(sk, i), &one, m,
		    sizeof m) != 0) {
			free(all);
			return NULL;
		}
		n = cf_asprintf("%s%s", all, one);
		free(one);
		free(all);
		all = n;
	}
	return all;
}

/* Whether c issued another certificate of certs. */
static bool issued_any(STACK_OF(X509) *certs, X509 *c)
{
	int i;

	for (i = 0; i < sk_X509_num(certs); i++) {
		X509 *d = sk_X509_value(certs, i);

		if (X509_cmp(c, d) != 0 && X509_check_issued(c, d) ==
		    X509_V_OK)
			return true;
	}
	return false;
}

int certmonger_ca_chain_pem(STACK_OF(X509) *certs, char **out, char *msg,
    size_t msgsz)
{
	STACK_OF(X509) *chain;
	X509 *low = NULL, *c;
	int i;

	*out = NULL;
	if (sk_X509_num(certs) <= 0)
		return 0;
	for (i = 0; low == NULL && i < sk_X509_num(certs); i++) {
		c = sk_X509_value(certs, i);
		if (X509_self_signed(c, 0) != 1 && !issued_any(certs, c))
			low = c;
	}
	/* Only roots: the first is the CA's own (FETCH-ROOTS' order). */
	if (low == NULL)
		low = sk_X509_value(certs, 0);
	chain = certmonger_chain(low, certs, NULL);
	ERR_clear_error();
	if (chain == NULL || (*out = stack_pem(chain)) == NULL) {
		sk_X509_pop_free(chain, X509_free);
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	}
	sk_X509_pop_free(chain, X509_free);
	return 0;
}

/* ---- answers ---- */

char *certmonger_text(const char *s, size_t len, char *buf, size_t bufsz)
{
	size_t i, o = 0;
	bool space = false;

	if (bufsz == 0)
		return buf;
	for (i = 0; s != NULL && i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c == 0x7f) {
			space = o > 0;
			continue;
		}
		if (o + (space ? 1 : 0) + 1 + 3 >= bufsz) {
			/* Cut on a character boundary, then say so: when c
			 * continues a character, drop that character's start. */
			if ((c & 0xc0) == 0x80) {
				while (o > 0 &&
				    ((unsigned char)buf[o - 1] & 0xc0) == 0x80)
					o--;
				if (o > 0 && (unsigned char)buf[o - 1] >= 0xc0)
					o--;
			}
			if (o + 3 < bufsz) {
				memcpy(buf + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (space)
			buf[o++] = ' ';
		space = false;
		buf[o++] = (char)c;
	}
	buf[o] = '\0';
	return buf;
}

void certmonger_answer_release(struct certmonger_answer *a)
{
	free(a->cookie);
	free(a->certs_pem);
	free(a->status_text);
	free(a->detail);
	memset(a, 0, sizeof(*a));
	a->delay = -1;
}

static void answer(struct certmonger_answer *a, enum ca_answer ans,
    const char *status_text, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void answer(struct certmonger_answer *a, enum ca_answer ans,
    const char *status_text, const char *fmt, ...)
{
	va_list ap;

	a->answer = ans;
	free(a->status_text);
	free(a->detail);
	a->status_text = strdup(status_text);
	va_start(ap, fmt);
	a->detail = cf_vasprintf(fmt, ap);
	va_end(ap);
}

/* The helper's words: stdout as submit.txt says, else stderr. */
static const char *words(const char *out, size_t outlen, const char *err,
    char *buf, size_t bufsz)
{
	certmonger_text(out, outlen, buf, bufsz);
	if (buf[0] == '\0' && err != NULL)
		certmonger_text(err, strlen(err), buf, bufsz);
	return buf[0] != '\0' ? buf : "no reason given";
}

/* A cookie: the text with surrounding white space taken off, *out NULL
 * when that leaves nothing. CF_EINVAL when it cannot be one (a NUL byte,
 * too long), CF_ENOMEM. */
static int cookie_of(const char *s, size_t len, char **out)
{
	size_t a = 0, b = len;

	*out = NULL;
	while (a < b && strchr(" \t\r\n", s[a]) != NULL && s[a] != '\0')
		a++;
	while (b > a && strchr(" \t\r\n", s[b - 1]) != NULL &&
	    s[b - 1] != '\0')
		b--;
	if (memchr(s + a, '\0', b - a) != NULL || b - a > COOKIE_MAX)
		return CF_EINVAL;
	if (b == a)
		return 0;
	if ((*out = malloc(b - a + 1)) == NULL)
		return CF_ENOMEM;
	memcpy(*out, s + a, b - a);
	(*out)[b - a] = '\0';
	return 0;
}

/* Status 5: "SECONDS\nCOOKIE" (certmonger accepts \r too, and no cookie). */
static bool delay_of(const char *s, size_t len, int *delay, size_t *rest)
{
	size_t i = 0;
	long v = 0;

	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i == len || s[i] < '0' || s[i] > '9')
		return false;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
		if ((v = v * 10 + (s[i] - '0')) > DELAY_MAX)
			v = DELAY_MAX;
	if (i < len && s[i] != '\r' && s[i] != '\n')
		return false;
	*delay = (int)v;
	*rest = i;
	return true;
}

static int issued(struct certmonger_answer *a, const char *out,
    size_t outlen, const char *helper, EVP_PKEY *leaf_key,
    STACK_OF(X509) *extra)
{
	STACK_OF(X509) *sent = NULL, *chain;
	X509 *leaf = NULL;
	char m[256];
	int i, rc;

	rc = certmonger_certs_parse(out, outlen, &sent, m, sizeof m);
	if (rc == CF_ENOMEM)
		return rc;
	if (rc != 0) {
		answer(a, CA_ERROR, "error", "the helper '%s' said issued "
		    "(exit 0), but its answer holds no certificate: %s",
		    helper, m);
		return 0;
	}
	for (i = 0; leaf == NULL && i < sk_X509_num(sent); i++)
		if (leaf_key == NULL || EVP_PKEY_eq(X509_get0_pubkey(
		    sk_X509_value(sent, i)), leaf_key) == 1)
			leaf = sk_X509_value(sent, i);
	ERR_clear_error();
	if (leaf == NULL) {
		sk_X509_pop_free(sent, X509_free);
		answer(a, CA_ERROR, "error", "the helper '%s' returned no "
		    "certificate for the request's key", helper);
		return 0;
	}
	chain = certmonger_chain(leaf, sent, extra);
	sk_X509_pop_free(sent, X509_free);
	if (chain == NULL || (a->certs_pem = stack_pem(chain)) == NULL) {
		sk_X509_pop_free(chain, X509_free);
		return CF_ENOMEM;
	}
	sk_X509_pop_free(chain, X509_free);
	answer(a, CA_ISSUED, "issued", "issued");
	return 0;
}

static const char *other_status(int status)
{
	switch (status) {
	case 16:
		return " (it needs SCEP data, which certfleet does not make)";
	case 17:
		return " (it asks for a new key, which certfleet does not do "
		    "on its own; run with --force)";
	}
	return "";
}

int certmonger_answer_parse(int status, const char *out, size_t outlen,
    const char *err, const char *helper, EVP_PKEY *leaf_key,
    STACK_OF(X509) *extra, struct certmonger_answer *a)
{
	char text[400];
	size_t rest = 0;
	int rc = 0;

	a->delay = -1;
	if (out == NULL)
		outlen = 0;
	switch (status) {
	case CM_ISSUED:
		rc = issued(a, out, outlen, helper, leaf_key, extra);
		break;
	case CM_WAIT_WITH_DELAY:
		if (!delay_of(out, outlen, &a->delay, &rest)) {
			answer(a, CA_ERROR, "error", "the helper '%s' asked to "
			    "wait (exit 5) without a delay: its answer must "
			    "be seconds, a newline, then the cookie", helper);
			break;
		}
		/* fall through */
	case CM_WAIT:
		if ((rc = cookie_of(out + rest, outlen - rest,
		    &a->cookie)) == CF_ENOMEM)
			break;
		if (rc != 0) {
			rc = 0;
			answer(a, CA_ERROR, "error", "the helper '%s' asked to "
			    "wait (exit %d), but its cookie is not text of at "
			    "most %d bytes", helper, status, COOKIE_MAX);
			break;
		}
		a->backoff = status == CM_WAIT;
		answer(a, CA_PENDING, "waiting", "the CA has not issued it yet "
		    "(the helper asked to wait)");
		break;
	case CM_REJECTED:
		answer(a, CA_DENIED, "rejected", "%s", words(out, outlen, err,
		    text, sizeof text));
		break;
	case CM_UNREACHABLE:
		a->backoff = true;
		answer(a, CA_PENDING, "unreachable", "the helper '%s' cannot "
		    "reach the CA: %s; asking again later", helper,
		    words(out, outlen, err, text, sizeof text));
		break;
	case CM_UNCONFIGURED:
		answer(a, CA_ERROR, "underconfigured", "the helper '%s' is not "
		    "configured: %s", helper, words(out, outlen, err, text,
		    sizeof text));
		break;
	case CM_UNSUPPORTED:
		answer(a, CA_ERROR, "unsupported", "the helper '%s' does not "
		    "support this operation (exit 6)", helper);
		break;
	default:
		/* stdout may be anything here (a cookie, even): only stderr
		 * is shown. */
		certmonger_text(err, err ? strlen(err) : 0, text, sizeof text);
		answer(a, CA_ERROR, "error", "the helper '%s' exited with "
		    "status %d%s%s%s", helper, status, other_status(status),
		    text[0] ? ": " : "", text);
		break;
	}
	if (rc == 0 && (a->status_text == NULL || a->detail == NULL))
		rc = CF_ENOMEM;
	return rc;
}
