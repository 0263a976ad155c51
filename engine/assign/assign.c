/*
 * Assignment of one certificate to a server's usages (see assign.h): the
 * key/certificate check, the per-usage layout, and the run as a small state
 * machine driven by transport callbacks on the loop thread.
 *
 * This file must never write a file or run a command except through the
 * transport, never print, and never put key bytes anywhere but the
 * transport's install set; its key copy is cleansed as soon as the forward
 * run ends.
 */
#include "engine/assign/assign.h"
#include "engine/base/crypto.h"
#include "engine/base/err.h"
#include "engine/base/str.h"
#include "engine/base/strv.h"
#include "engine/base/path.h"
#include "engine/base/usage.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

static void forward(struct assign *a);
static void backward(struct assign *a);

static void msg_append(struct assign *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Appends to a->msg, cutting what does not fit. */
static void msg_append(struct assign *a, const char *fmt, ...)
{
	size_t n = strlen(a->msg);
	va_list ap;

	if (n + 1 >= sizeof a->msg)
		return;
	va_start(ap, fmt);
	vsnprintf(a->msg + n, sizeof a->msg - n, fmt, ap);
	va_end(ap);
}

/* n bytes and a NUL; a key's copy is freed with crypto_secret_free(q,
 * n + 1), which wipes them all. */
static char *memdup(const char *p, size_t n)
{
	char *q = malloc(n + 1);

	if (q == NULL)
		return NULL;
	memcpy(q, p, n);
	q[n] = '\0';
	return q;
}

int assign_check_pair(const char *server, const char *cert_pem,
    size_t cert_len, X509 *parsed, const char *key_pem, size_t key_len,
    char *msg, size_t msgsz)
{
	BIO *cb = NULL;
	X509 *leaf = NULL;
	EVP_PKEY *key = NULL;
	const char *why = NULL;
	int rc = CF_EINVAL;

	if (cert_pem == NULL || cert_len == 0 || cert_len > INT_MAX)
		why = "no certificate";
	else if (key_pem == NULL || key_len == 0 || key_len > INT_MAX)
		why = "no private key";
	/* cert.pem is world-readable: a key pasted into it would leak. */
	else if (cf_contains(cert_pem, cert_len, "PRIVATE KEY-----"))
		why = "the certificate file holds a private key";
	else if (parsed == NULL &&
	    (cb = BIO_new_mem_buf(cert_pem, (int)cert_len)) == NULL) {
		why = "out of memory";
		rc = CF_ENOMEM;
	} else if ((leaf = parsed != NULL ? (X509_up_ref(parsed) ? parsed :
	    NULL) : PEM_read_bio_X509(cb, NULL, crypto_no_password,
	    NULL)) == NULL)
		why = "the certificate is not a PEM certificate";
	else if ((key = crypto_key_read(key_pem, key_len)) == NULL)
		why = "the private key is not a PEM private key (or is "
		    "encrypted)";
	else if (!crypto_key_matches_cert(key, leaf))
		why = "the private key does not belong to the certificate";
	ERR_clear_error();
	EVP_PKEY_free(key);
	X509_free(leaf);
	BIO_free(cb);
	if (why == NULL)
		return 0;
	return cf_error(msg, msgsz, rc, "cannot assign on '%s': %s",
	    server ? server : "?", why);
}

/* "<certs>/<usage><suffix>", or the binding's own path when it has one. */
static char *usage_path(const char *certs, const char *bound,
    const char *usage, const char *suffix)
{
	char name[64];

	if (bound != NULL)
		return strdup(bound);
	if (certs == NULL)
		return NULL;
	snprintf(name, sizeof name, "%s%s", usage, suffix);
	return path_join(certs, name);
}

char *assign_cert_path(const char *certs, const struct usage_binding *b,
    const char *usage)
{
	return usage_path(certs, b != NULL ? b->cert : NULL, usage, ".pem");
}

char *assign_key_path(const char *certs, const struct usage_binding *b,
    const char *usage)
{
	return usage_path(certs, b != NULL ? b->key : NULL, usage, ".key");
}

int assign_read_current(struct transport *t, const char *certs,
    const struct usage_binding *b, const char *u, size_t max,
    transport_file_cb cb, void *arg)
{
	char *path;
	int rc;

	if (t == NULL || cb == NULL || u == NULL || !usage_name_valid(u))
		return CF_EINVAL;
	if ((path = assign_cert_path(certs, b, u)) == NULL)
		return certs == NULL ? CF_EINVAL : CF_ENOMEM;
	rc = t->ops->read_file(t, path, max ? max : ASSIGN_CERT_MAX, cb, arg);
	free(path);
	return rc;
}

/* The chain and full chain files' bytes: the intermediates, then the
 * leaf's PEM block (up to its END line) before them. False when out of
 * memory or the certificate is not PEM. */
static bool make_chains(struct assign *a)
{
	static const char end[] = "-----END CERTIFICATE-----";
	const char *p = strstr(a->cert_pem, end);
	size_t leaf;

	if (p == NULL || (a->chain_pem = assign_intermediates_pem(
	    a->cert_pem)) == NULL)
		return false;
	leaf = (size_t)(p - a->cert_pem) + sizeof end - 1;
	if ((a->fullchain_pem = malloc(leaf + strlen(a->chain_pem) + 2)) ==
	    NULL)
		return false;
	memcpy(a->fullchain_pem, a->cert_pem, leaf);
	a->fullchain_pem[leaf] = '\n';
	strcpy(a->fullchain_pem + leaf + 1, a->chain_pem);
	return true;
}

/* The key's copy goes (cleansed) as soon as the forward run ends. */
static void drop_key(struct assign *a)
{
	crypto_secret_free(a->key_pem, a->key_len + 1);
	a->key_pem = NULL;
	a->key_len = 0;
}

/* The run's own strings go (NULL after); the results stay readable. */
static void free_strings(struct assign *a)
{
	char **owned[] = { &a->server, &a->cert_pem, &a->chain_pem,
	    &a->fullchain_pem, &a->key_from, &a->fleet, &a->address };
	size_t i;

	for (i = 0; i < sizeof owned / sizeof *owned; i++) {
		free(*owned[i]);
		*owned[i] = NULL;
	}
}

void assign_release(struct assign *a)
{
	size_t i;

	for (i = 0; i < a->nuse; i++) {
		struct assign_usage *au = &a->use[i];

		free(au->store);
		free(au->pointer);
		free(au->cert);
		free(au->key);
		free(au->chain);
		free(au->fullchain);
		free(au->pkcs12);
		assign_blob_release(&au->p12);
		strv_free(au->reload);
		transport_undo_free(au->undo);
		memset(au, 0, sizeof *au);
	}
	a->nuse = 0;
	free(a->use);
	a->use = NULL;
	drop_key(a);
	free_strings(a);
}

/* A copy of the optional bound path p into *out; false when out of
 * memory. */
static bool dup_opt(char **out, const char *p)
{
	return p == NULL || (*out = strdup(p)) != NULL;
}

/* True when the optional paths of au are confined and all differ. */
static bool paths_distinct(const struct assign_usage *au)
{
	const char *p[5] = { au->cert, au->key, au->chain, au->fullchain,
	    au->pkcs12 };
	int i, k;

	for (i = 0; i < 5; i++) {
		if (p[i] != NULL && !path_is_confined(p[i]))
			return false;
		for (k = 0; k < i; k++)
			if (p[i] != NULL && p[k] != NULL &&
			    strcmp(p[i], p[k]) == 0)
				return false;
	}
	return true;
}

/* Fills one usage's paths, PKCS#12 bytes and reload command. Returns 0 or
 * CF_ENOMEM / CF_EINVAL with msg. */
static int usage_setup(struct assign *a, const struct assign_input *in,
    unsigned u, char *msg, size_t msgsz)
{
	const struct usage_binding *b = in->bindings ? &in->bindings[u] : NULL;
	struct assign_usage *au = &a->use[a->nuse++];
	const struct assign_blob *p12 = in->p12 ? &in->p12[u] : NULL;
	char sub[64];

	au->usage = u;
	snprintf(au->name, sizeof au->name, "%s", usage_name(in->utab, u));
	snprintf(sub, sizeof sub, ".certfleet/%s", au->name);
	au->store = path_join(in->certs, sub);
	au->pointer = path_join(in->certs, au->name);
	au->cert = assign_cert_path(in->certs, b, au->name);
	au->key = assign_key_path(in->certs, b, au->name);
	if (au->store == NULL || au->pointer == NULL || au->cert == NULL ||
	    au->key == NULL || (b != NULL && (!dup_opt(&au->chain, b->chain) ||
	    !dup_opt(&au->fullchain, b->fullchain) ||
	    !dup_opt(&au->pkcs12, b->pkcs12))))
		return cf_error(msg, msgsz, CF_ENOMEM, "cannot assign on '%s': "
		    "out of memory", a->server);
	if (!paths_distinct(au))
		return cf_error(msg, msgsz, CF_EINVAL, "cannot assign usage "
		    "'%s' on '%s': a certificate or key path leaves the "
		    "server tree, or two of its files share a path", au->name,
		    a->server);
	if (au->pkcs12 != NULL) {
		if (p12 == NULL || p12->data == NULL)
			return cf_error(msg, msgsz, CF_EINVAL, "cannot assign "
			    "usage '%s' on '%s': its PKCS#12 file was not "
			    "made", au->name, a->server);
		if ((au->p12.data = malloc(p12->len)) == NULL)
			return cf_error(msg, msgsz, CF_ENOMEM, "cannot assign "
			    "on '%s': out of memory", a->server);
		memcpy(au->p12.data, p12->data, p12->len);
		au->p12.len = p12->len;
	}
	if (b != NULL && b->reload != NULL && b->reload[0] != NULL) {
		if ((au->reload = strv_dup(b->reload)) == NULL)
			return cf_error(msg, msgsz, CF_ENOMEM, "cannot assign "
			    "on '%s': out of memory", a->server);
	}
	au->timeout_ms = 1000u * (unsigned)(b != NULL &&
	    b->reload_timeout > 0 ? b->reload_timeout : ASSIGN_RELOAD_TIMEOUT);
	return 0;
}

/* "/usr/sbin/nginx -s reload", cut to fit. */
static void argv_text(char *const *argv, char *buf, size_t bufsz)
{
	size_t n = 0, i;

	buf[0] = '\0';
	for (i = 0; argv[i] != NULL && n + 1 < bufsz; i++)
		n += (size_t)snprintf(buf + n, bufsz - n, "%s%s",
		    i ? " " : "", argv[i]);
}

static void finish(struct assign *a)
{
	void (*done)(struct assign *, int) = a->done;
	size_t i;

	drop_key(a);
	a->assigned = 0;
	for (i = 0; i < a->nuse; i++) {
		unsigned bit = 1u << a->use[i].usage;

		if (a->use[i].undo != NULL && !(a->rolled_back & bit))
			a->assigned |= bit;
	}
	a->state = ASSIGN_DONE;
	/* Last: done may release or reuse a. */
	done(a, a->status);
}

/* The forward run stopped at a->cur with status and a->msg set: undo. */
static void fail(struct assign *a, int status)
{
	a->status = status != 0 ? status : CF_ETRANSPORT;
	a->failed = true;
	a->failed_at = a->cur;
	drop_key(a);
	backward(a);
}

static void on_installed(void *arg, int status, struct transport_undo *undo,
    const char *msg)
{
	struct assign *a = arg;
	struct assign_usage *au = &a->use[a->cur];

	au->undo = undo;
	if (undo != NULL && undo->previous != NULL)
		a->had_previous |= 1u << au->usage;
	if (status != 0) {
		snprintf(a->msg, sizeof a->msg, "%s (usage '%s')", msg,
		    au->name);
		fail(a, status);
		return;
	}
	if (au->reload == NULL) {
		a->cur++;
		a->state = ASSIGN_INSTALL;
	} else {
		a->state = ASSIGN_RELOAD;
	}
	forward(a);
}

static void on_reloaded(void *arg, int status,
    const struct transport_run_result *r, const char *msg)
{
	struct assign *a = arg;
	struct assign_usage *au = &a->use[a->cur];
	char cmd[256], how[768];

	if (status == 0 && r->exit_status == 0) {
		a->cur++;
		a->state = ASSIGN_INSTALL;
		forward(a);
		return;
	}
	argv_text(au->reload, cmd, sizeof cmd);
	transport_run_describe(status, r, au->timeout_ms / 1000, msg, how,
	    sizeof how);
	snprintf(a->msg, sizeof a->msg, "reload command '%s' for usage '%s' "
	    "on '%s' %s", cmd, au->name, a->server, how);
	fail(a, status != 0 ? status : CF_ETRANSPORT);
}

/*
 * Runs use[cur]'s reload command with cb, its environment describing
 * what is in place now: the new certificate, or after a rollback
 * (ASSIGN_RERELOAD) the one restored. Returns 0 or the error from
 * starting.
 */
static int run_reload(struct assign *a, transport_run_cb cb)
{
	struct assign_usage *au = &a->use[a->cur];
	bool back = a->state == ASSIGN_RERELOAD;
	struct reload_info ri = { .fleet = a->fleet, .server = a->server,
	    .address = a->address, .usage = au->name,
	    .now = back ? &au->prev : &a->cert,
	    .previous_sha256 = back ? a->cert.sha256 : au->prev.sha256 };
	char *cert = transport_path_real(a->t, au->cert);
	char *key = transport_path_real(a->t, au->key);
	/* cert.pem holds the leaf, then its chain: the chain file unless
	 * the usage has one of its own. */
	char *chain = au->chain ? transport_path_real(a->t, au->chain) : cert;
	char **env = NULL;
	int rc = CF_ENOMEM;

	ri.cert_file = cert;
	ri.key_file = key;
	ri.chain_file = chain;
	if (cert != NULL && key != NULL && chain != NULL &&
	    (env = reload_env(&ri)) != NULL)
		rc = a->t->ops->run(a->t, au->reload, env, au->timeout_ms, cb,
		    a);
	strv_free(env);
	if (chain != cert)
		free(chain);
	free(cert);
	free(key);
	return rc;
}

/* The previous certificate is read (or could not be): its reload now. A
 * failure to start is told to the reload's own callback. */
static void on_previous(void *arg, int status, const char *data, size_t len,
    const char *msg)
{
	struct assign *a = arg;
	struct assign_usage *au = &a->use[a->cur];
	struct transport_run_result none = { -1, 0, "", 0, "", 0 };
	int rc;

	(void)msg;
	if (status == 0)
		reload_cert_read(&au->prev, data, len);
	if ((rc = run_reload(a, a->reload_cb)) != 0)
		a->reload_cb(a, rc, &none, cf_strerror(rc));
}

/*
 * Starts use[cur]'s reload command (cb hears it), first reading once what
 * the version the install replaced holds, for CERTFLEET_PREVIOUS_SHA256;
 * a read that fails leaves it "". Returns 0 or the error from starting.
 */
static int start_reload(struct assign *a, transport_run_cb cb)
{
	struct assign_usage *au = &a->use[a->cur];
	char *path;
	int rc;

	if (au->undo == NULL || au->undo->previous == NULL || au->prev_read)
		return run_reload(a, cb);
	au->prev_read = true;
	if ((path = path_join(au->undo->previous, "cert.pem")) == NULL)
		return CF_ENOMEM;
	a->reload_cb = cb;
	rc = a->t->ops->read_file(a->t, path, ASSIGN_CERT_MAX, on_previous, a);
	free(path);
	return rc;
}

/* Starts the install of use[cur]. Returns 0 or the error from starting. */
static int start_install(struct assign *a)
{
	struct assign_usage *au = &a->use[a->cur];
	struct transport_member m[5] = {
		{ .name = "cert.pem", .link = au->cert, .data = a->cert_pem,
		    .len = a->cert_len, .mode = 0644 },
		{ .name = "key.pem", .link = au->key, .data = a->key_pem,
		    .len = a->key_len, .mode = 0600, .from = a->key_from },
	};
	struct transport_set set = { .store = au->store,
	    .pointer = au->pointer, .members = m, .nmembers = 2 };

	if (au->chain != NULL)
		m[set.nmembers++] = (struct transport_member){ .name =
		    "chain.pem", .link = au->chain, .data = a->chain_pem,
		    .len = strlen(a->chain_pem), .mode = 0644 };
	if (au->fullchain != NULL)
		m[set.nmembers++] = (struct transport_member){ .name =
		    "fullchain.pem", .link = au->fullchain, .data =
		    a->fullchain_pem, .len = strlen(a->fullchain_pem),
		    .mode = 0644 };
	if (au->pkcs12 != NULL)
		m[set.nmembers++] = (struct transport_member){ .name =
		    "cert.p12", .link = au->pkcs12, .data = au->p12.data,
		    .len = au->p12.len, .mode = 0600 };

	a->state = ASSIGN_INSTALL;
	return a->t->ops->install(a->t, &set, on_installed, a);
}

/* Runs the forward steps until one waits for a callback or all are done. */
static void forward(struct assign *a)
{
	struct assign_usage *au;
	int rc;

	if (a->cur >= a->nuse) {
		a->status = 0;
		finish(a);
		return;
	}
	au = &a->use[a->cur];
	if (a->state == ASSIGN_RELOAD)
		rc = start_reload(a, on_reloaded);
	else
		rc = start_install(a);
	if (rc != 0) {
		snprintf(a->msg, sizeof a->msg, "cannot %s usage '%s' on "
		    "'%s': %s", a->state == ASSIGN_RELOAD ? "reload" :
		    "install", au->name, a->server,
		    cf_strerror(rc));
		fail(a, rc);
	}
}

/* On to the usage before a->cur (a->nuse past the first), backwards. */
static void back_one(struct assign *a)
{
	a->state = ASSIGN_ROLLBACK;
	a->cur = a->cur == 0 ? a->nuse : a->cur - 1;
	backward(a);
}

static void on_rereloaded(void *arg, int status,
    const struct transport_run_result *r, const char *msg)
{
	struct assign *a = arg;
	struct assign_usage *au = &a->use[a->cur];

	/* The command that just failed failing again says nothing new. */
	if (a->cur == a->failed_at)
		;
	else if (status != 0)
		msg_append(a, "; reload after rollback of usage '%s' failed: "
		    "%s", au->name, msg);
	else if (r->exit_status != 0)
		msg_append(a, "; reload after rollback of usage '%s' exited "
		    "%d", au->name, r->exit_status);
	back_one(a);
}

static void on_rolled_back(void *arg, int status, const char *msg)
{
	struct assign *a = arg;
	struct assign_usage *au = &a->use[a->cur];
	int rc;

	if (status != 0) {
		msg_append(a, "; rollback of usage '%s' failed: %s",
		    au->name, msg);
	} else {
		a->rolled_back |= 1u << au->usage;
		if (au->reload != NULL) {
			a->state = ASSIGN_RERELOAD;
			rc = start_reload(a, on_rereloaded);
			if (rc == 0)
				return;
			msg_append(a, "; reload after rollback of usage '%s' "
			    "could not start: %s", au->name,
			    cf_strerror(rc));
		}
	}
	back_one(a);
}

/* The closing words of a failure message: what the rollback achieved. */
static void conclude(struct assign *a)
{
	unsigned switched = 0, fresh;
	size_t i;

	for (i = 0; i < a->nuse; i++)
		if (a->use[i].undo != NULL)
			switched |= 1u << a->use[i].usage;
	if (switched == 0) {
		msg_append(a, "; nothing was changed");
		return;
	}
	if ((a->rolled_back & switched) != switched)
		return;                 /* the failed rollback is named */
	fresh = switched & ~a->had_previous;
	if (fresh == 0)
		msg_append(a, "; rolled back to the previous certificate");
	else if (fresh == switched)
		msg_append(a, "; rolled back (no certificate was assigned "
		    "before)");
	else
		msg_append(a, "; rolled back to the previous certificate "
		    "where there was one");
}

/*
 * Walks back from a->cur (a->nuse means "finished") rolling back every
 * switched usage, newest first; ends the run when past the first usage.
 */
static void backward(struct assign *a)
{
	struct assign_usage *au;
	int rc;

	for (;;) {
		if (a->cur >= a->nuse) {
			conclude(a);
			finish(a);
			return;
		}
		au = &a->use[a->cur];
		if (au->undo != NULL) {
			a->state = ASSIGN_ROLLBACK;
			rc = a->t->ops->rollback(a->t, au->undo,
			    on_rolled_back, a);
			if (rc == 0)
				return;
			msg_append(a, "; rollback of usage '%s' could not start: "
			    "%s", au->name, cf_strerror(rc));
		}
		a->cur = a->cur == 0 ? a->nuse : a->cur - 1;
	}
}

int assign_undo(struct assign *a, const char *why,
    void (*done)(struct assign *a, int status))
{
	size_t i;
	bool any = false;

	if (a->state != ASSIGN_DONE || a->status != 0)
		return CF_EINVAL;
	snprintf(a->msg, sizeof a->msg, "%s", why);
	for (i = 0; i < a->nuse; i++) {
		struct assign_usage *au = &a->use[i];

		/* A usage that had nothing before keeps the new set:
		 * rolling it back would leave it with no certificate. */
		if (au->undo != NULL && !(a->had_previous & (1u << au->usage))) {
			transport_undo_free(au->undo);
			au->undo = NULL;
			msg_append(a, "; usage '%s' keeps it (none was assigned "
			    "before)", au->name);
		}
		any = any || au->undo != NULL;
	}
	a->status = CF_ECHAIN;
	a->failed = true;
	a->failed_at = a->nuse;     /* every reload runs again */
	a->done = done;
	a->cur = a->nuse - 1;
	if (!any) {
		a->state = ASSIGN_DONE;
		return CF_ENOENT;
	}
	backward(a);
	return 0;
}

int assign_start(struct assign *a, struct transport *t,
    const struct assign_input *in, void (*done)(struct assign *a, int status),
    char *msg, size_t msgsz)
{
	const char *server;
	unsigned u;
	int rc;

	memset(a, 0, sizeof *a);
	if (t == NULL || in == NULL || done == NULL)
		return cf_error(msg, msgsz, CF_EINVAL,
		    "cannot assign: no transport, input or callback");
	server = in->server != NULL ? in->server : t->server;
	if (in->usages == 0 || (in->usages & ~usage_all(in->utab)) != 0)
		return cf_error(msg, msgsz, CF_EINVAL, "cannot assign on '%s': "
		    "no usage, or an unknown one", server);
	if (in->certs == NULL || !path_is_confined(in->certs))
		return cf_error(msg, msgsz, CF_EINVAL, "cannot assign on '%s': "
		    "the certificate store path is missing or leaves the "
		    "server tree", server);
	if (in->key_on_server == NULL) {
		rc = in->pair_checked ? 0 : assign_check_pair(server,
		    in->cert_pem, in->cert_len, NULL, in->key_pem,
		    in->key_len, msg, msgsz);
		if (rc != 0)
			return rc;
	} else if (!path_is_confined(in->key_on_server)) {
		return cf_error(msg, msgsz, CF_EINVAL, "cannot assign on '%s': "
		    "the key path leaves the server tree", server);
	}
	a->t = t;
	a->done = done;
	if ((a->server = strdup(server)) == NULL ||
	    (a->fleet = strdup(in->fleet ? in->fleet : "")) == NULL ||
	    (a->address = strdup(in->address ? in->address : "")) == NULL ||
	    (a->cert_pem = memdup(in->cert_pem, in->cert_len)) == NULL ||
	    (in->key_on_server == NULL &&
	    (a->key_pem = memdup(in->key_pem, in->key_len)) == NULL) ||
	    (in->key_on_server != NULL &&
	    (a->key_from = strdup(in->key_on_server)) == NULL)) {
		assign_release(a);
		return cf_error(msg, msgsz, CF_ENOMEM, "cannot assign on '%s': "
		    "out of memory", server);
	}
	a->cert_len = in->cert_len;
	a->key_len = in->key_len;
	reload_cert_read(&a->cert, a->cert_pem, a->cert_len);
	/* The pair check proved cert_pem PEM: a failure here is memory. */
	if ((a->use = calloc((size_t)__builtin_popcount(in->usages),
	    sizeof *a->use)) == NULL ||
	    !make_chains(a)) {
		assign_release(a);
		return cf_error(msg, msgsz, CF_ENOMEM, "cannot assign on '%s': "
		    "out of memory", server);
	}
	for (u = 0; u < USAGE_CAP; u++) {
		if (!(in->usages & (1u << u)))
			continue;
		if ((rc = usage_setup(a, in, u, msg, msgsz)) != 0) {
			assign_release(a);
			return rc;
		}
	}
	/* The first step starts here; every later one from a callback, so
	 * done never runs inside this call. */
	if ((rc = start_install(a)) != 0) {
		assign_release(a);
		a->state = ASSIGN_IDLE;
		return cf_error(msg, msgsz, rc, "cannot assign on '%s': %s",
		    server, cf_strerror(rc));
	}
	return 0;
}
