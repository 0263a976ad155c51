/*
 * The work of three states, on one server's stores read through its
 * transport: chain_check (the issued certificate's verdict, computed on
 * the threadpool, the CA's alternate chains tried, pinned CAs imported
 * with --import-ca), check_current (the same for what an up-to-date server
 * holds) and preflight (plan: would the CA's chain verify here).
 */
#include "engine/job/job.h"
#include "engine/base/err.h"
#include "engine/base/crypto.h"
#include "engine/base/str.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void chain_decide(struct job *j);

/* The server path of store which (0 roots, 1 intermediates). */
static const char *store_path(const struct job *j, int which)
{
	return which ? j->tg->store->intermediates : j->tg->store->roots;
}

/* Fills store which (0 roots, 1 intermediates) from a store read. A store
 * that is a single file keeps its bytes, so an import can append to it. */
static void add_entries(struct job *j, int which, const char *path,
    const struct transport_entry *e, size_t n)
{
	struct cert_store *s = which ? &j->inters : &j->roots;
	const char *base = strrchr(path, '/');
	char msg[256];
	size_t i;

	base = base ? base + 1 : path;
	free(j->bundle[which]);
	j->bundle[which] = NULL;
	if (n == 1 && strcmp(e[0].name, base) == 0)
		j->bundle[which] = strndup(e[0].data, e[0].len);
	/* A stray file that holds no certificate does not make the store
	 * unusable; the CAs that are there still count. */
	for (i = 0; i < n; i++)
		cert_store_add_pem(s, e[i].data, e[i].len, e[i].name, msg,
		    sizeof msg);
}

/* Both stores are read at once (a transport may serve them in one round
 * trip); the verdict waits for the second answer, and a failure is the
 * root store's first, as when they were read one after the other. */
static void chain_read_back(struct job *j)
{
	if (job_reads_done(j))
		chain_decide(j);
}

static void on_store(struct job *j, int which, int status,
    const struct transport_entry *e, size_t n, const char *msg)
{
	j->reads--;
	if (status != 0)
		job_read_failed(j, which, "%s", msg);
	else
		add_entries(j, which, store_path(j, which), e, n);
	chain_read_back(j);
}

static void on_roots(void *arg, int status, const struct transport_entry *e,
    size_t n, const char *msg)
{
	on_store(arg, 0, status, e, n, msg);
}

static void on_inters(void *arg, int status,
    const struct transport_entry *e, size_t n, const char *msg)
{
	on_store(arg, 1, status, e, n, msg);
}

static void read_stores(struct job *j)
{
	static const transport_store_cb on_read[2] = { on_roots, on_inters };
	static const char *const kind[2] = { "root", "intermediate" };
	int which, rc;

	/* Read afresh: after an import the stores have changed. */
	cert_store_release(&j->roots);
	cert_store_release(&j->inters);
	j->read_failed = 0;
	for (which = 0; which < 2; which++) {
		j->reads++;
		rc = j->t->ops->read_store(j->t, store_path(j, which),
		    JOB_FILE_MAX, on_read[which], j);
		if (rc != 0) {
			/* The intermediates could not come first: not read. */
			j->reads--;
			job_read_failed(j, which, "cannot read the %s store of "
			    "'%s': %s", kind[which], j->tg->name,
			    cf_strerror(rc));
			break;
		}
	}
	/* Callbacks never run from inside read_store: the decision waits
	 * for the answers still to come, or goes on now when none is. */
	chain_read_back(j);
}

static unsigned ekus_needed(const struct usage_table *utab,
    unsigned usages)
{
	unsigned eku = 0;
	int u;

	for (u = 0; u < USAGE_CAP; u++)
		if (usages & (1u << u))
			eku |= usage_eku_needed(utab, (unsigned)u);
	return eku;
}

static char *missing_json(const struct chain_verdict *v)
{
	json_t *a = report_missing_json(v);
	char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;

	json_decref(a);
	return s;
}

/* Plan: would a leaf from this CA verify here? */
static void preflight_done(struct job *j)
{
	const struct engine_config *cfg = j->cfg;
	STACK_OF(X509) *chain = NULL;
	char msg[256], why[600];

	if (cfg->ca_chain_pem == NULL ||
	    crypto_certs_from_pem(cfg->ca_chain_pem, "the CA chain", &chain,
	    msg, sizeof msg) != 0 ||
	    chain_preflight(chain, &j->roots, &j->inters, cfg->now,
	    &j->verdict, msg, sizeof msg) != 0)
		chain_verdict_init(&j->verdict);
	sk_X509_pop_free(chain, X509_free);
	if (j->verdict.status == CHAIN_MISSING_CA) {
		snprintf(why, sizeof why, "%s; a CA is missing on the server",
		    j->row->reason ? j->row->reason : "due");
		report_row_set(&j->row->reason, why);
	}
	job_back(j);
}

/* ---- importing pinned CAs ---- */

static void import_next(struct job *j);

static bool pinned(const struct engine_config *cfg, const char *sha256)
{
	size_t i;

	for (i = 0; i < cfg->npins; i++)
		if (strcmp(cfg->trusted_pins[i], sha256) == 0)
			return true;
	return false;
}

static void note(struct job *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void note(struct job *j, const char *fmt, ...)
{
	size_t len = strlen(j->import_note);
	va_list ap;

	if (len > 0 && len + 2 < sizeof j->import_note) {
		strcpy(j->import_note + len, "; ");
		len += 2;
	}
	va_start(ap, fmt);
	vsnprintf(j->import_note + len, sizeof j->import_note - len, fmt, ap);
	va_end(ap);
}

static void on_imported(void *arg, int status, const char *msg)
{
	struct job *j = arg;

	if (status != 0)
		note(j, "%s", msg);
	else
		/* The import is part of this job's history. */
		job_note(j, "imported a pinned CA");
	import_next(j);
}

/* The CA certificate the CA sent with the leaf whose SHA-1 is sha1. */
static X509 *sent_ca(struct job *j, const char *sha1)
{
	char hex[41];
	int i;

	for (i = 1; i < sk_X509_num(j->certs); i++)
		if (crypto_thumbprint(sk_X509_value(j->certs, i), hex) == 0 &&
		    strcmp(hex, sha1) == 0)
			return sk_X509_value(j->certs, i);
	return NULL;
}

/*
 * Imports the next missing CA that the fleet file pins into the store its
 * kind belongs in: a new file "certfleet-<SHA1>.pem" in a store directory,
 * or the bundle rewritten with the CA appended. When none is left, reads
 * the stores again and decides afresh.
 */
static void import_next(struct job *j)
{
	const struct engine_config *cfg = j->cfg;
	const struct chain_missing *m;
	char sha256[65], *pem = NULL, *data, *path, msg[256];
	const char *store;
	int which, rc;
	X509 *ca;

	while (j->import_next < j->verdict.nmissing) {
		m = &j->verdict.missing[j->import_next++];
		if (m->why != CHAIN_WHY_ABSENT && m->why != CHAIN_WHY_MISPLACED)
			continue;
		if ((ca = sent_ca(j, m->sha1)) == NULL) {
			note(j, "'%s' not imported: the CA did not send it",
			    m->subject);
			continue;
		}
		crypto_fingerprint_sha256(ca, sha256);
		if (!pinned(cfg, sha256)) {
			note(j, "'%s' not imported: its SHA-256 %s is not in "
			    "ca.trusted_roots", m->subject, sha256);
			continue;
		}
		which = m->kind == CHAIN_KIND_ROOT ? 0 : 1;
		store = store_path(j, which);
		if (crypto_cert_to_pem(ca, &pem, msg, sizeof msg) != 0) {
			note(j, "'%s' not imported: %s", m->subject, msg);
			continue;
		}
		if (j->bundle[which] != NULL) {
			path = strdup(store);
			data = cf_asprintf("%s%s%s", j->bundle[which],
			    *j->bundle[which] && j->bundle[which][
			    strlen(j->bundle[which]) - 1] != '\n' ? "\n" : "",
			    pem);
		} else {
			path = cf_asprintf("%s/certfleet-%s.pem", store,
			    m->sha1);
			data = strdup(pem);
		}
		free(pem);
		rc = path && data ? j->t->ops->write_file(j->t, path, data,
		    strlen(data), 0644, on_imported, j) : CF_ENOMEM;
		free(path);
		free(data);
		if (rc == 0)
			return;
		note(j, "'%s' not imported: %s", m->subject, cf_strerror(rc));
	}
	read_stores(j);
}

/*
 * Chain building and verification for one server, on the threadpool. The
 * job is parked while it runs (its stores, certificates and verdict are
 * touched by nothing on the loop), so they are handed over, not copied.
 */
struct chain_work {
	uv_work_t work;
	struct job *j;
	unsigned eku;
	time_t now;
	int rc;
	char msg[256];
};

/* The verdict on one chain (leaf first) against the job's stores. */
static int diagnose(struct job *j, struct chain_work *cw,
    STACK_OF(X509) *certs, struct chain_verdict *v)
{
	STACK_OF(X509) *above = sk_X509_dup(certs);
	int rc;

	if (above == NULL)
		return cf_error(cw->msg, sizeof cw->msg, CF_ENOMEM,
		    "out of memory");
	(void)sk_X509_shift(above);
	rc = chain_diagnose(sk_X509_value(certs, 0), above, &j->roots,
	    &j->inters, cw->eku, cw->now, v, cw->msg, sizeof cw->msg);
	sk_X509_free(above);
	return rc;
}

/* When the CA's first chain does not fit here, the first alternate that
 * does replaces it (ACME's Link rel="alternate"). */
static void try_alternates(struct job *j, struct chain_work *cw)
{
	json_t *o = json_loads(j->rq.alt_chains, 0, NULL);
	json_t *a = json_object_get(o, "chains");
	STACK_OF(X509) *certs;
	struct chain_verdict v;
	char msg[256];
	size_t i;

	for (i = 0; i < json_array_size(a); i++) {
		certs = NULL;
		if (!json_is_string(json_array_get(a, i)) ||
		    crypto_certs_from_pem(json_string_value(json_array_get(a,
		    i)), "an alternate chain", &certs, msg, sizeof msg) != 0)
			continue;
		chain_verdict_init(&v);
		if (diagnose(j, cw, certs, &v) == 0 && v.status == CHAIN_OK &&
		    chain_sent_reaches(certs, &j->roots)) {
			chain_verdict_release(&j->verdict);
			j->verdict = v;
			sk_X509_pop_free(j->certs, X509_free);
			j->certs = certs;
			j->chain_pick = (int)i + 1;
			break;
		}
		chain_verdict_release(&v);
		sk_X509_pop_free(certs, X509_free);
	}
	json_decref(o);
}

static void chain_run(uv_work_t *w)
{
	struct chain_work *cw = container_of(w, struct chain_work, work);
	struct job *j = cw->j;

	cw->rc = diagnose(j, cw, j->certs, &j->verdict);
	/* A chain "fits" when the stores verify the leaf and the chain as
	 * sent reaches one of the server's roots. */
	if (cw->rc == 0 && j->rq.alt_chains != NULL &&
	    (j->verdict.status != CHAIN_OK ||
	    !chain_sent_reaches(j->certs, &j->roots)))
		try_alternates(j, cw);
}

/* Which chain the CA offered this server gets, for the report. */
static void chain_choice(struct job *j)
{
	X509 *top = sk_X509_value(j->certs, sk_X509_num(j->certs) - 1);
	json_t *o = json_loads(j->rq.alt_chains, 0, NULL);
	json_t *chains = json_object_get(o, "chains");
	json_t *alt = json_array_get(chains, (size_t)j->chain_pick - 1);
	const char *kept = json_string_value(json_object_get(o, "choice"));
	char cn[256] = "?", text[600], *s;

	if (o == NULL)
		return;
	X509_NAME_get_text_by_NID(X509_get_issuer_name(top), NID_commonName,
	    cn, sizeof cn);
	if (j->chain_pick > 0 && json_is_string(alt) && j->rq.cert_pem) {
		/* The chosen chain becomes the certificate's; the one it
		 * replaces joins the alternates, so a rerun sees the same set. */
		json_t *old = json_string(j->rq.cert_pem);

		free(j->rq.cert_pem);
		j->rq.cert_pem = strdup(json_string_value(alt));
		json_array_set_new(chains, (size_t)j->chain_pick - 1, old);
		json_object_set_new(o, "preferred", json_false());
		snprintf(text, sizeof text, "alternate chain %d, to '%s': the "
		    "one this server's stores verify", j->chain_pick, cn);
	} else if (kept != NULL && strncmp(kept, "alternate", 9) == 0 &&
	    j->verdict.status == CHAIN_OK) {
		/* Checked again (a rerun): the alternate chosen then has
		 * become the certificate's chain and still fits. */
		snprintf(text, sizeof text, "%s", kept);
	} else {
		snprintf(text, sizeof text, "%s chain, to '%s'%s",
		    json_is_true(json_object_get(o, "preferred")) ?
		    "preferred" : "the CA's default", cn,
		    j->verdict.status == CHAIN_OK ? "" : " (no chain the CA "
		    "offered verifies here)");
	}
	json_object_set_new(o, "choice", json_string(text));
	if ((s = json_dumps(o, JSON_COMPACT)) != NULL) {
		free(j->rq.alt_chains);
		j->rq.alt_chains = s;
	}
	report_row_set(&j->row->chain_choice, text);
	json_decref(o);
}

static void chain_verdict_ready(struct job *j);

static void chain_after(uv_work_t *w, int status)
{
	struct chain_work *cw = container_of(w, struct chain_work, work);
	struct job *j = cw->j;

	if (status != 0 || cw->rc != 0)
		job_failed(j, false, "%s", status ? uv_strerror(status) :
		    cw->msg);
	else
		chain_verdict_ready(j);
	free(cw);
}

static void chain_decide(struct job *j)
{
	struct chain_work *cw;

	if (j->state == JOB_PREFLIGHT) {
		preflight_done(j);
		return;
	}
	if ((cw = calloc(1, sizeof(*cw))) == NULL) {
		job_failed(j, false, "out of memory");
		return;
	}
	cw->j = j;
	cw->eku = ekus_needed(j->tg->utab, j->tg->usages);
	/* The time of the check, not of the run's start: a long run checks
	 * certificates signed after it began. */
	cw->now = time(NULL);
	if (!job_queue(j, &cw->work, chain_run, chain_after,
	    "the chain check"))
		free(cw);
}

static void chain_verdict_ready(struct job *j)
{
	const struct engine_config *cfg = j->cfg;

	if (j->state == JOB_CHECK_CURRENT) {
		job_back(j);
		return;
	}
	if (j->rq.alt_chains != NULL)
		chain_choice(j);
	if (j->verdict.status == CHAIN_MISSING_CA && cfg->import_ca &&
	    !j->imported) {
		j->imported = true;
		j->import_next = 0;
		import_next(j);
		return;
	}
	if (j->import_note[0] && j->verdict.status != CHAIN_OK) {
		char both[1100];

		snprintf(both, sizeof both, "%s%s%s",
		    chain_verdict_detail(&j->verdict),
		    j->verdict.detail ? "; " : "", j->import_note);
		chain_verdict_set_detail(&j->verdict, both);
	}
	journal_strset(&j->rq.chain_status,
	    chain_status_name(j->verdict.status));
	journal_strset(&j->rq.chain_detail, j->verdict.detail);
	free(j->rq.missing_json);
	j->rq.missing_json = missing_json(&j->verdict);
	job_back(j);
}

void job_chain_enter(struct job *j)
{
	char msg[256];
	int u;

	if (j->state == JOB_CHECK_CURRENT) {
		/* Stores change under us: check what the server holds. One
		 * that cannot be read as certificates has no chain to check. */
		for (u = 0; u < USAGE_CAP && j->current[u] == NULL; u++)
			;
		if (u == USAGE_CAP || crypto_certs_from_pem(j->current[u],
		    "the assigned certificate", &j->certs, msg,
		    sizeof msg) != 0) {
			job_back(j);
			return;
		}
	}
	read_stores(j);
}
