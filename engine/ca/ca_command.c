/*
 * The command CA driver: one helper run per submit or poll, on the loop,
 * through proc_run (argument vector, own process group, TERM-then-KILL
 * timeout, stdout and stderr capped). The reply is built in proc_run's
 * callback, on a later pass of the loop, so a callback never runs inside
 * submit or poll. The CSR and the cookie go to the helper's environment
 * and the reply's ref only; no message carries them.
 */
#include "engine/ca/ca_command.h"
#include "engine/base/container_of.h"
#include "engine/base/crypto.h"
#include "engine/base/err.h"
#include "engine/base/fsio.h"
#include "engine/base/proc.h"
#include "engine/base/str.h"
#include "engine/base/strv.h"
#include "engine/ca/certmonger.h"

#include <search.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

/* Back-off answers in a row for one server (a tsearch tree by name, and a
 * list to free it by): only servers that had one are in it. */
struct strike {
	char *server;
	int n;
	struct strike *next;
};

struct command_ca {
	struct ca_driver base;
	uv_loop_t *loop;
	char **argv;
	const char *name;           /* argv[0]'s last part, for messages */
	char *profile;
	char *nickname;
	unsigned timeout_ms;
	char *id;
	STACK_OF(X509) *roots;      /* FETCH-ROOTS' certificates, or NULL */
	char *chain;                /* plan's preflight chain, or NULL */
	void *tree;
	struct strike *strikes;
};

/* One helper run for one request. */
struct call {
	struct command_ca *cc;
	char *server;
	char *ref;                  /* the cookie POLL sent, or NULL */
	EVP_PKEY *key;              /* the CSR's: how the leaf is found */
	ca_reply_cb cb;
	void *arg;
};

static int by_server(const void *a, const void *b)
{
	return strcmp(((const struct strike *)a)->server,
	    ((const struct strike *)b)->server);
}

static struct strike *strike_of(struct command_ca *cc, const char *server,
    bool make)
{
	struct strike key = { (char *)server, 0, NULL }, *s, **hit;

	if ((hit = tfind(&key, &cc->tree, by_server)) != NULL)
		return *hit;
	if (!make || (s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if ((s->server = strdup(server)) == NULL ||
	    tsearch(s, &cc->tree, by_server) == NULL) {
		free(s->server);
		free(s);
		return NULL;
	}
	s->next = cc->strikes;
	cc->strikes = s;
	return s;
}

int ca_command_backoff(int n)
{
	double base = CA_COMMAND_BACKOFF_MAX;
	int s;

	if (n >= 0 && n < 16 && (CA_COMMAND_BACKOFF_MIN << n) <
	    CA_COMMAND_BACKOFF_MAX)
		base = CA_COMMAND_BACKOFF_MIN << n;
	/* Jitter, so a fleet told "unreachable" together does not come back
	 * in one burst. */
	s = (int)(base * (0.5 + (double)(fsio_random64() % 1000) / 1000.0));
	return s > 0 ? s : 1;
}

static void call_free(struct call *c)
{
	free(c->server);
	free(c->ref);
	EVP_PKEY_free(c->key);
	free(c);
}

static void fail(struct certmonger_answer *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fail(struct certmonger_answer *a, const char *fmt, ...)
{
	va_list ap;

	a->answer = CA_ERROR;
	a->status_text = strdup("error");
	va_start(ap, fmt);
	a->detail = cf_vasprintf(fmt, ap);
	va_end(ap);
}

/* How the run ended, when it is not an exit status to read. */
static bool ended_badly(struct command_ca *cc, int status,
    const struct proc_result *r, const char *msg,
    struct certmonger_answer *a)
{
	if (status != 0)
		fail(a, "%s", msg);
	else if (r->timed_out)
		fail(a, "the helper '%s' did not answer within %u s and was "
		    "stopped", cc->name, cc->timeout_ms / 1000);
	else if (r->out_over)
		fail(a, "the helper '%s' wrote more than %d KiB", cc->name,
		    CA_COMMAND_OUT_CAP / 1024);
	else if (r->exit_status < 0)
		fail(a, "the helper '%s' was ended by signal %d", cc->name,
		    r->term_signal);
	else
		return false;
	return true;
}

static void on_done(void *arg, int status, const struct proc_result *r,
    const char *msg)
{
	struct call *c = arg;
	struct command_ca *cc = c->cc;
	struct certmonger_answer a;
	struct ca_reply rep;
	struct strike *s;

	memset(&a, 0, sizeof a);
	memset(&rep, 0, sizeof rep);
	if (!ended_badly(cc, status, r, msg, &a) &&
	    certmonger_answer_parse(r->exit_status, r->out, r->outlen, r->err,
	    cc->name, c->key, cc->roots, &a) != 0) {
		certmonger_answer_release(&a);
		fail(&a, "out of memory");
	}
	rep.answer = a.answer;
	rep.status_text = a.status_text;
	rep.detail = a.detail;
	rep.cert_pem = a.certs_pem;
	/* A POLL answered without a cookie keeps the one it sent. */
	rep.ref = a.cookie;
	if (rep.ref == NULL) {
		rep.ref = c->ref;
		c->ref = NULL;
	}
	rep.retry_after = -1;
	if (a.answer == CA_PENDING && a.backoff) {
		s = strike_of(cc, c->server, true);
		rep.retry_after = ca_command_backoff(s ? s->n++ : 0);
	} else {
		if ((s = strike_of(cc, c->server, false)) != NULL)
			s->n = 0;
		if (a.answer == CA_PENDING)
			rep.retry_after = a.delay > 0 ? a.delay : 1;
	}
	c->cb(c->arg, &rep);
	ca_reply_release(&rep);
	call_free(c);
}

static void spec_of(struct command_ca *cc, char **env, struct proc_spec *ps)
{
	memset(ps, 0, sizeof(*ps));
	ps->argv = cc->argv;
	ps->env = env;
	ps->out_cap = CA_COMMAND_OUT_CAP;
	ps->err_cap = CA_COMMAND_ERR_CAP;
	ps->timeout_ms = cc->timeout_ms;
	ps->group = true;
}

static int start(struct command_ca *cc, const struct ca_request *req,
    bool poll, ca_reply_cb cb, void *arg)
{
	struct certmonger_call mc;
	struct proc_spec ps;
	struct call *c;
	X509_REQ *csr = NULL;
	char **env = NULL, msg[256];
	int rc;

	/* No cookie journaled (killed before the helper answered): the CA
	 * holds nothing to ask about, so the request goes again. */
	poll = poll && req->ref != NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return CF_ENOMEM;
	c->cc = cc;
	c->cb = cb;
	c->arg = arg;
	if ((c->server = strdup(req->server ? req->server : "")) == NULL ||
	    (poll && (c->ref = strdup(req->ref)) == NULL)) {
		call_free(c);
		return CF_ENOMEM;
	}
	if ((rc = crypto_csr_from_pem(req->csr_pem, "the CSR", &csr, msg,
	    sizeof msg)) != 0 || (c->key = X509_REQ_get_pubkey(csr)) == NULL) {
		X509_REQ_free(csr);
		call_free(c);
		return rc ? rc : CF_EINVAL;
	}
	X509_REQ_free(csr);
	memset(&mc, 0, sizeof mc);
	mc.operation = poll ? "POLL" : "SUBMIT";
	mc.csr_pem = req->csr_pem;
	mc.cookie = poll ? req->ref : NULL;
	mc.spec = req->spec;
	mc.previous_pem = req->previous_pem;
	mc.profile = cc->profile;
	mc.nickname = cc->nickname;
	if ((rc = certmonger_env(&mc, environ, &env, msg, sizeof msg)) != 0) {
		call_free(c);
		return rc;
	}
	spec_of(cc, env, &ps);
	rc = proc_run(cc->loop, &ps, on_done, c);
	strv_free(env);
	if (rc != 0)
		call_free(c);
	return rc;
}

static int command_submit(struct ca_driver *ca, const struct ca_request *req,
    ca_reply_cb cb, void *arg)
{
	return start(container_of(ca, struct command_ca, base), req, false,
	    cb, arg);
}

static int command_poll(struct ca_driver *ca, const struct ca_request *req,
    ca_reply_cb cb, void *arg)
{
	return start(container_of(ca, struct command_ca, base), req, true, cb,
	    arg);
}

static int command_chain_pem(struct ca_driver *ca, char **out, char *msg,
    size_t msgsz)
{
	struct command_ca *cc = container_of(ca, struct command_ca, base);

	/* NULL: the helper gave no chain, and plan calls it unknown. */
	*out = NULL;
	if (cc->chain != NULL && (*out = strdup(cc->chain)) == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	return 0;
}

static void command_free(struct ca_driver *ca)
{
	struct command_ca *cc;
	struct strike *s, *next;

	if (ca == NULL)
		return;
	cc = container_of(ca, struct command_ca, base);
	for (s = cc->strikes; s != NULL; s = next) {
		next = s->next;
		tdelete(s, &cc->tree, by_server);
		free(s->server);
		free(s);
	}
	strv_free(cc->argv);
	free(cc->profile);
	free(cc->nickname);
	free(cc->id);
	sk_X509_pop_free(cc->roots, X509_free);
	free(cc->chain);
	free(cc);
}

static const struct ca_ops command_ops = {
	.submit = command_submit,
	.poll = command_poll,
	.precheck = NULL,
	.chain_pem = command_chain_pem,
	.free = command_free,
};

/* ---- FETCH-ROOTS, once, at the start ---- */

struct fetch {
	int status;
	char msg[512];
	bool usable;                /* exit 0, in time, within the cap */
	char *out;
	size_t outlen;
};

static void on_roots(void *arg, int status, const struct proc_result *r,
    const char *msg)
{
	struct fetch *f = arg;

	f->status = status;
	snprintf(f->msg, sizeof f->msg, "%s", msg ? msg : "");
	f->usable = status == 0 && !r->timed_out && !r->out_over &&
	    r->exit_status == CM_ISSUED && r->outlen > 0;
	if (f->usable && (f->out = malloc(r->outlen + 1)) != NULL) {
		memcpy(f->out, r->out, r->outlen + 1);
		f->outlen = r->outlen;
	}
}

/*
 * Runs FETCH-ROOTS on a loop of its own, so that the driver is ready (its
 * chain known) before the caller's loop runs. Only a helper that cannot be
 * started is an error; any other answer leaves the chain unknown.
 */
static int fetch_roots(struct command_ca *cc, char *msg, size_t msgsz)
{
	struct certmonger_call mc;
	struct fetch f;
	struct proc_spec ps;
	uv_loop_t loop;
	char **env, m[256];
	int rc;

	memset(&mc, 0, sizeof mc);
	memset(&f, 0, sizeof f);
	mc.operation = "FETCH-ROOTS";
	mc.profile = cc->profile;
	mc.nickname = cc->nickname;
	if ((rc = certmonger_env(&mc, environ, &env, msg, msgsz)) != 0)
		return rc;
	if (uv_loop_init(&loop) != 0) {
		strv_free(env);
		return cf_error(msg, msgsz, CF_EINTERNAL, "cannot start an "
		    "event loop");
	}
	spec_of(cc, env, &ps);
	rc = proc_run(&loop, &ps, on_roots, &f);
	strv_free(env);
	if (rc == 0)
		uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0 && rc == 0)
		rc = CF_EINTERNAL;
	if (rc != 0) {
		free(f.out);
		return cf_error(msg, msgsz, rc, "cannot run the helper '%s': "
		    "%s", cc->name, cf_strerror(rc));
	}
	if (f.status != 0)
		return cf_error(msg, msgsz, CF_ECONFIG, "%s", f.msg);
	if (f.out != NULL && certmonger_certs_parse(f.out, f.outlen,
	    &cc->roots, m, sizeof m) == 0)
		rc = certmonger_ca_chain_pem(cc->roots, &cc->chain, msg,
		    msgsz);
	free(f.out);
	return rc;
}

/* "argv0 arg1 ... [profile=P] [nickname=N]": which CA this is. */
static char *identity(const struct ca_command_config *cfg)
{
	char *id = strdup(""), *n;
	size_t i;

	for (i = 0; id != NULL && cfg->helper[i] != NULL; i++) {
		n = cf_asprintf("%s%s%s", id, i ? " " : "", cfg->helper[i]);
		free(id);
		id = n;
	}
	if (id != NULL && cfg->profile != NULL) {
		n = cf_asprintf("%s profile=%s", id, cfg->profile);
		free(id);
		id = n;
	}
	if (id != NULL && cfg->nickname != NULL) {
		n = cf_asprintf("%s nickname=%s", id, cfg->nickname);
		free(id);
		id = n;
	}
	return id;
}

static char *dup_or_null(const char *s, bool *oom)
{
	char *d = s ? strdup(s) : NULL;

	if (s != NULL && d == NULL)
		*oom = true;
	return d;
}

int ca_command_new(uv_loop_t *loop, const struct ca_command_config *cfg,
    struct ca_driver **out, char *msg, size_t msgsz)
{
	struct command_ca *cc;
	bool oom = false;
	int rc;

	*out = NULL;
	if (cfg->helper == NULL || cfg->helper[0] == NULL ||
	    cfg->timeout <= 0)
		return cf_error(msg, msgsz, CF_EINVAL, "the command CA needs a "
		    "helper and a timeout");
	if ((cc = calloc(1, sizeof(*cc))) == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	cc->base.ops = &command_ops;
	cc->base.type = "command";
	cc->loop = loop;
	cc->timeout_ms = (unsigned)cfg->timeout * 1000u;
	cc->argv = strv_dup(cfg->helper);
	cc->profile = dup_or_null(cfg->profile, &oom);
	cc->nickname = dup_or_null(cfg->nickname, &oom);
	cc->id = identity(cfg);
	if (oom || cc->argv == NULL || cc->id == NULL) {
		command_free(&cc->base);
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	}
	cc->name = strrchr(cc->argv[0], '/') ? strrchr(cc->argv[0], '/') + 1 :
	    cc->argv[0];
	cc->base.id = cc->id;
	if ((rc = fetch_roots(cc, msg, msgsz)) != 0) {
		command_free(&cc->base);
		return rc;
	}
	*out = &cc->base;
	return 0;
}
