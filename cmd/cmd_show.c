/*
 * `show SERVER`: what the server holds for each usage, read from the
 * server itself through its transport (like the wizard's "View
 * Certificate Details"), its status as `status` gives it, and the latest
 * request below when that is not what the server holds. Text or --json;
 * it writes nothing anywhere.
 */
#include "cmd/cmd.h"
#include "cmd/drivers.h"
#include "engine/journal/status_row.h"
#include "engine/assign/assign.h"
#include "engine/base/crypto.h"
#include "engine/base/err.h"
#include "engine/journal/journal_set.h"
#include "engine/report/report.h"
#include "inventory/fleet.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest certificate file show reads. */
#define SHOW_FILE_MAX (1024 * 1024)

struct usage_read {
	struct show *sh;
	int u;
};

/* What one show reads from the server, on its own loop. */
struct show {
	char *pem[USAGE_CAP];       /* what each usage holds, or NULL */
	char *error[USAGE_CAP];     /* why a usage could not be read */
	struct usage_read reads[USAGE_CAP];
};

static void on_read(void *arg, int status, const char *data, size_t len,
    const char *msg)
{
	struct usage_read *r = arg;

	if (status == 0)
		r->sh->pem[r->u] = strndup(data, len);
	else if (status != CF_ENOENT)
		r->sh->error[r->u] = strdup(msg ? msg : cf_strerror(status));
}

static void on_closed(void *arg)
{
	(void)arg;
}

/* Reads every usage of s from the server. 0, or an error with msg. */
static int read_usages(const struct server *s, struct show *sh, char *msg,
    size_t msgsz)
{
	struct transport *t = NULL;
	uv_loop_t loop;
	char *path;
	int u, rc;

	if (uv_loop_init(&loop) != 0)
		return cf_error(msg, msgsz, CF_EINTERNAL, "cannot start the "
		    "event loop");
	rc = cmd_transport_open(s, &loop, &t, msg, msgsz);
	for (u = 0; rc == 0 && u < USAGE_CAP; u++) {
		if (!(s->usages & (1u << u)))
			continue;
		sh->reads[u].sh = sh;
		sh->reads[u].u = u;
		path = assign_cert_path(s->store.certs, &s->bindings[u],
		    usage_name(s->utab, (unsigned)u));
		if (path == NULL) {
			rc = cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
			break;
		}
		if (t->ops->read_file(t, path, SHOW_FILE_MAX, on_read,
		    &sh->reads[u]) != 0)
			sh->error[u] = strdup("cannot start the read");
		free(path);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	if (t != NULL)
		t->ops->close(t, on_closed, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	return rc;
}

static void show_release(struct show *sh)
{
	int u;

	for (u = 0; u < USAGE_CAP; u++) {
		free(sh->pem[u]);
		free(sh->error[u]);
	}
}

static char *iso8601(time_t t, char buf[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

/* A certificate (leaf, then its chain) as show prints it. */
static json_t *cert_json(const char *pem)
{
	STACK_OF(X509) *certs = NULL;
	json_t *o, *sans, *ekus, *chain;
	char msg[256], subject[512], issuer[512], serial[128], key[128];
	char sha1[41], sha256[65], from[32], to[32], **v = NULL;
	time_t nb = 0, na = 0;
	size_t n = 0, i;
	unsigned eku, flag;
	X509 *leaf;

	if (pem == NULL || crypto_certs_from_pem(pem, "the certificate", &certs,
	    msg, sizeof msg) != 0)
		return json_pack("{s:s}", "error", pem ? msg : "none");
	sans = json_array();
	ekus = json_array();
	chain = json_array();
	leaf = sk_X509_value(certs, 0);
	crypto_cert_subject(leaf, subject, sizeof subject);
	crypto_cert_issuer(leaf, issuer, sizeof issuer);
	crypto_cert_serial(leaf, serial, sizeof serial);
	crypto_cert_not_before(leaf, &nb);
	crypto_cert_not_after(leaf, &na);
	crypto_key_describe(X509_get0_pubkey(leaf), key, sizeof key);
	crypto_thumbprint(leaf, sha1);
	crypto_fingerprint_sha256(leaf, sha256);
	if (crypto_cert_sans(leaf, &v, &n) == 0)
		for (i = 0; i < n; i++)
			json_array_append_new(sans, json_string(v[i]));
	crypto_strings_free(v, n);
	eku = crypto_cert_eku(leaf);
	for (flag = 1; flag <= EKU_ALL; flag <<= 1)
		if (eku & flag)
			json_array_append_new(ekus, json_string(eku_name(flag)));
	for (i = 1; i < (size_t)sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, (int)i);
		char s[512], h[41];

		crypto_cert_subject(x, s, sizeof s);
		crypto_thumbprint(x, h);
		json_array_append_new(chain, json_pack("{s:s, s:s}",
		    "subject", s, "thumbprint", h));
	}
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:s, "
	    "s:o}", "subject", subject, "issuer", issuer, "serial", serial,
	    "not_before", iso8601(nb, from), "not_after", iso8601(na, to),
	    "sans", sans, "ekus", ekus, "key", key, "thumbprint", sha1,
	    "sha256", sha256, "chain", chain);
	sk_X509_pop_free(certs, X509_free);
	return o;
}

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static void print_list(json_t *a)
{
	json_t *v;
	size_t i;

	json_array_foreach(a, i, v)
		printf(" %s", json_string_value(v));
	printf("\n");
}

/* The details of cert_json's object, each line behind indent. */
static void print_cert(json_t *c, const char *in)
{
	json_t *x;
	size_t i;

	if (json_object_get(c, "error")) {
		printf("%serror       %s\n", in, jstr(c, "error"));
		return;
	}
	printf("%ssubject     %s\n", in, jstr(c, "subject"));
	printf("%sissuer      %s\n", in, jstr(c, "issuer"));
	printf("%sserial      %s\n", in, jstr(c, "serial"));
	printf("%svalid       %s to %s\n", in, jstr(c, "not_before"),
	    jstr(c, "not_after"));
	printf("%sSANs       ", in);
	print_list(json_object_get(c, "sans"));
	printf("%sEKUs       ", in);
	print_list(json_object_get(c, "ekus"));
	printf("%skey         %s\n", in, jstr(c, "key"));
	printf("%sthumbprint  %s\n", in, jstr(c, "thumbprint"));
	printf("%ssha256      %s\n", in, jstr(c, "sha256"));
	printf("%schain\n", in);
	json_array_foreach(json_object_get(c, "chain"), i, x)
		printf("%s  %s\n%s    thumbprint %s\n", in, jstr(x, "subject"),
		    in, jstr(x, "thumbprint"));
}

/* The usages holding the same certificate, grouped, in usage order. */
static json_t *installed_json(const struct server *s, const struct show *sh)
{
	json_t *groups = json_array(), *g, *names;
	bool seen[USAGE_CAP] = { false };
	int u, v;

	for (u = 0; u < USAGE_CAP; u++) {
		if (!(s->usages & (1u << u)) || sh->pem[u] == NULL || seen[u])
			continue;
		names = json_array();
		for (v = u; v < USAGE_CAP; v++)
			if (sh->pem[v] && strcmp(sh->pem[v], sh->pem[u]) == 0) {
				seen[v] = true;
				json_array_append_new(names, json_string(
				    usage_name(s->utab, (unsigned)v)));
			}
		g = json_pack("{s:o, s:o}", "usages", names,
		    "certificate", cert_json(sh->pem[u]));
		json_array_append_new(groups, g);
	}
	return groups;
}

/* True when one of the groups holds the certificate whose SHA-1 is hex. */
static bool is_installed(json_t *groups, const char *hex)
{
	json_t *g;
	size_t i;

	json_array_foreach(groups, i, g)
		if (strcmp(jstr(json_object_get(g, "certificate"),
		    "thumbprint"), hex) == 0)
			return true;
	return false;
}

static json_t *request_json(const struct journal_request *rq, json_t *groups)
{
	char c[32], u[32];

	if (rq->id == 0)
		return json_null();
	return json_pack("{s:I, s:s, s:o, s:o, s:o, s:s, s:s, s:b, s:o}",
	    "id", (json_int_t)rq->id, "state", rq->state,
	    "ca_status", rq->ca_status ? json_string(rq->ca_status) :
	    json_null(), "ca_ref", rq->ca_ref ? json_string(rq->ca_ref) :
	    json_null(), "error", rq->error ? json_string(rq->error) :
	    json_null(), "created_at", iso8601((time_t)rq->created_at, c),
	    "updated_at", iso8601((time_t)rq->updated_at, u),
	    "installed", rq->thumbprint && is_installed(groups,
	    rq->thumbprint), "certificate", rq->cert_pem ?
	    cert_json(rq->cert_pem) : json_null());
}

static void print_text(json_t *o)
{
	json_t *st = json_object_get(o, "status"), *g, *rq, *x;
	size_t i, k;

	printf("server      %s\n", jstr(o, "server"));
	printf("status      %s\n", jstr(st, "status"));
	if (*jstr(st, "reason"))
		printf("reason      %s\n", jstr(st, "reason"));
	if (*jstr(st, "error"))
		printf("error       %s\n", jstr(st, "error"));
	json_array_foreach(json_object_get(o, "read_errors"), i, x)
		printf("unreadable  %s: %s\n", jstr(x, "usage"),
		    jstr(x, "error"));
	json_array_foreach(json_object_get(o, "installed"), i, g) {
		printf("installed  ");
		json_array_foreach(json_object_get(g, "usages"), k, x)
			printf(" %s", json_string_value(x));
		printf("\n");
		print_cert(json_object_get(g, "certificate"), "");
	}
	if (json_array_size(json_object_get(o, "installed")) == 0)
		printf("installed   nothing\n");
	if (json_array_size(json_object_get(o, "not_installed")) > 0) {
		printf("missing    ");
		print_list(json_object_get(o, "not_installed"));
	}
	x = json_object_get(json_object_get(st, "chain"), "status");
	if (x)
		printf("chain check %s%s%s\n", json_string_value(x),
		    *jstr(json_object_get(st, "chain"), "detail") ? ": " : "",
		    jstr(json_object_get(st, "chain"), "detail"));
	rq = json_object_get(o, "latest_request");
	if (!json_is_object(rq))
		return;
	if (json_is_true(json_object_get(rq, "installed"))) {
		/* Where to look the request up at the CA (an ACME order). */
		if (*jstr(rq, "ca_status"))
			printf("ca status   %s\n", jstr(rq, "ca_status"));
		if (*jstr(rq, "ca_ref"))
			printf("ca ref      %s\n", jstr(rq, "ca_ref"));
		return;
	}
	printf("latest request %lld: %s, not installed (%s)\n",
	    (long long)json_integer_value(json_object_get(rq, "id")),
	    jstr(rq, "state"), jstr(rq, "updated_at"));
	if (json_is_object(json_object_get(rq, "certificate")))
		print_cert(json_object_get(rq, "certificate"), "  ");
	if (*jstr(rq, "ca_status"))
		printf("  ca status   %s\n", jstr(rq, "ca_status"));
	if (*jstr(rq, "ca_ref"))
		printf("  ca ref      %s\n", jstr(rq, "ca_ref"));
	if (*jstr(rq, "error"))
		printf("  error       %s\n", jstr(rq, "error"));
}

int cmd_show(const struct cmd_opts *o)
{
	struct fleet f;
	struct journal_set js;
	struct journal *jr = NULL;
	struct journal_request rq;
	struct report_row row;
	struct show sh;
	const struct server *s;
	json_t *out = NULL, *groups, *missing, *errors;
	char msg[512];
	int rc, u;

	journal_set_init(&js);
	memset(&sh, 0, sizeof sh);
	memset(&row, 0, sizeof row);
	chain_verdict_init(&row.chain);
	journal_request_init(&rq);
	if ((rc = cmd_fleet_load(&f, o->fleet)) != CMD_EXIT_OK)
		goto out;
	if (o->nargs != 1 || (s = fleet_server_find(&f, o->args[0])) == NULL) {
		fprintf(stderr, "certfleet: show needs one server of '%s'\n",
		    o->fleet);
		rc = CMD_EXIT_USAGE;
		goto out;
	}
	if ((rc = cmd_journals_of(&f, o, &js)) != CMD_EXIT_OK)
		goto out;
	row.name = strdup(s->name);
	row.status = REPORT_NOT_RUN;
	if (journal_set_pick(&js, s->name, &jr, msg, sizeof msg) != 0 ||
	    (jr != NULL && status_row_fill(s->utab, jr, s->name, &row, &rq, msg,
	    sizeof msg) != 0)) {
		fprintf(stderr, "certfleet: %s\n", msg);
		rc = CMD_EXIT_FAILED;
		goto out;
	}
	if (read_usages(s, &sh, msg, sizeof msg) != 0) {
		fprintf(stderr, "certfleet: cannot read '%s': %s\n", s->name,
		    msg);
		rc = CMD_EXIT_FAILED;
		goto out;
	}
	groups = installed_json(s, &sh);
	missing = json_array();
	errors = json_array();
	for (u = 0; u < USAGE_CAP; u++) {
		if (!(s->usages & (1u << u)) || sh.pem[u] != NULL)
			continue;
		if (sh.error[u])
			json_array_append_new(errors, json_pack("{s:s, s:s}",
			    "usage", usage_name(s->utab, (unsigned)u),
			    "error", sh.error[u]));
		else
			json_array_append_new(missing, json_string(
			    usage_name(s->utab, (unsigned)u)));
	}
	out = json_pack("{s:i, s:s, s:o, s:O, s:o, s:o, s:o}",
	    "schema_version", REPORT_SCHEMA_VERSION, "server", s->name,
	    "status", report_row_to_json(s->utab, &row), "installed", groups,
	    "not_installed", missing, "read_errors", errors,
	    "latest_request", request_json(&rq, groups));
	json_decref(groups);
	if (out == NULL) {
		fprintf(stderr, "certfleet: out of memory\n");
		rc = CMD_EXIT_FAILED;
		goto out;
	}
	if (o->json) {
		json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
	} else {
		print_text(out);
	}
	/* Nothing to show at all, or a usage that could not be read. */
	rc = json_array_size(errors) > 0 || (json_array_size(
	    json_object_get(out, "installed")) == 0 && rq.cert_pem == NULL) ?
	    CMD_EXIT_FAILED : CMD_EXIT_OK;
out:
	json_decref(out);
	show_release(&sh);
	report_row_release(&row);
	journal_request_release(&rq);
	journal_set_release(&js);
	fleet_release(&f);
	return rc;
}
