/*
 * Template parsing and per-server expansion. Parsing checks what can be
 * checked once (types, key, EKUs, variable syntax, SANs without variables);
 * expansion checks what depends on the server.
 */
#include "inventory/template.h"
#include "engine/base/dn.h"
#include "engine/base/err.h"
#include "engine/base/san.h"
#include "inventory/cfg_read.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const request_keys[] = {
	"subject", "san", "key", "eku", "days", NULL
};
static const char *const key_keys[] = { "type", "curve", "size", NULL };

void template_init(struct template *t)
{
	memset(t, 0, sizeof(*t));
	t->key.type = KEY_EC;
	t->key.bits = 256;
	t->key.curve = "P-256";
	t->eku = EKU_SERVER_AUTH | EKU_CLIENT_AUTH;
	t->days = 90;
}

void template_release(struct template *t)
{
	free(t->file);
	free(t->subject);
	strv_free(t->san);
	free(t->san_line);
	template_init(t);
}

/* Checks a string with no variables now, so a plain typo is reported once
 * at its line instead of once per server. */
static void check_fixed(const struct cfg *c, config_setting_t *at, int line,
    const char *s, bool is_san)
{
	char msg[512];
	struct san san;
	struct dn dn;

	if (vars_check_syntax(s, msg, sizeof msg) != 0) {
		diags_add(c->diags, cfg_file(c, at), line, "%s", msg);
		return;
	}
	if (strstr(s, "{{") != NULL)
		return;
	if (is_san) {
		if (san_parse(s, &san, msg, sizeof msg) != 0)
			diags_add(c->diags, cfg_file(c, at), line, "%s", msg);
	} else if (dn_parse(&dn, s, msg, sizeof msg) != 0) {
		diags_add(c->diags, cfg_file(c, at), line, "%s", msg);
	} else {
		dn_release(&dn);
	}
}

static bool parse_key(struct template *t, const struct cfg *c,
    config_setting_t *req)
{
	config_setting_t *k = cfg_group(c, req, "key", "request");
	const char *type = "ec", *curve = NULL;
	int size = 0;
	char msg[256];
	size_t before = c->diags->n;

	if (k == NULL)
		return config_setting_get_member(req, "key") == NULL;
	t->key_line = cfg_line(k);
	cfg_check_keys(c, k, "key", key_keys);
	cfg_string(c, k, "type", true, &type, "key");
	cfg_string(c, k, "curve", false, &curve, "key");
	cfg_int(c, k, "size", false, 1, 16384, &size, "key");
	if (c->diags->n != before)
		return false;
	if (key_spec_set(&t->key, type, curve, size, msg, sizeof msg) != 0) {
		cfg_error(c, k, "%s", msg);
		return false;
	}
	return true;
}

static void parse_eku(struct template *t, const struct cfg *c,
    config_setting_t *req)
{
	char **eku = NULL;
	int *lines = NULL;
	size_t n = 0, i;
	unsigned f;

	if (!cfg_strings(c, req, "eku", false, &eku, &n, &lines, "request"))
		return;
	t->eku = 0;
	t->eku_line = cfg_line(config_setting_get_member(req, "eku"));
	for (i = 0; i < n; i++) {
		if ((f = eku_from_name(eku[i])) == 0)
			diags_add(c->diags, cfg_file(c, req), lines[i],
			    "unknown EKU '%s' (use serverAuth, clientAuth, "
			    "codeSigning, emailProtection or timeStamping)",
			    eku[i]);
		t->eku |= f;
	}
	if (n == 0)
		cfg_error(c, config_setting_get_member(req, "eku"),
		    "'eku' in request must name at least one EKU");
	strv_free(eku);
	free(lines);
}

bool template_parse(struct template *t, const struct cfg *c,
    config_setting_t *req)
{
	const char *subject = NULL;
	size_t before = c->diags->n, i;

	free(t->file);
	t->file = strdup(cfg_file(c, req));
	t->line = cfg_line(req);
	cfg_check_keys(c, req, "request", request_keys);
	if (cfg_string(c, req, "subject", true, &subject, "request")) {
		t->subject = strdup(subject);
		t->subject_line = cfg_line(
		    config_setting_get_member(req, "subject"));
		check_fixed(c, req, t->subject_line, subject, false);
	}
	if (cfg_strings(c, req, "san", true, &t->san, &t->nsan, &t->san_line,
	    "request")) {
		if (t->nsan == 0)
			cfg_error(c, config_setting_get_member(req, "san"),
			    "'san' in request must name at least one SAN");
		for (i = 0; i < t->nsan; i++)
			check_fixed(c, req, t->san_line[i], t->san[i], true);
	}
	parse_key(t, c, req);
	parse_eku(t, c, req);
	if (cfg_int(c, req, "days", false, 1, 3650, &t->days, "request"))
		t->days_line = cfg_line(config_setting_get_member(req, "days"));
	return c->diags->n == before && t->file && t->subject;
}

bool template_load(struct template *t, const char *path, struct diags *d,
    const char *ref_file, int ref_line)
{
	struct cfg c = { d, path, NULL, NULL };
	config_setting_t *req;
	config_t cfg;
	bool ok = false;

	config_init(&cfg);
	if (!cfg_read(&cfg, path, "request template", ref_file, ref_line, d))
		goto out;
	req = config_lookup(&cfg, "request");
	if (req == NULL || !config_setting_is_group(req)) {
		diags_add(d, path, req ? cfg_line(req) : 0, "a request "
		    "template needs a group 'request = { ... };'");
		goto out;
	}
	ok = template_parse(t, &c, req);
	cfg_release(&c);
out:
	config_destroy(&cfg);
	return ok;
}

int template_expand(const struct template *t, vars_lookup_fn lookup,
    void *ctx, struct req_spec *out, int *line, char *msg, size_t msgsz)
{
	char *s = NULL;
	struct dn dn;
	struct san san;
	size_t i;
	int rc;

	*line = t->subject_line;
	if ((rc = vars_expand(t->subject, lookup, ctx, &s, msg, msgsz)) != 0)
		return rc;
	if ((rc = dn_parse(&dn, s, msg, msgsz)) != 0) {
		free(s);
		return rc;
	}
	dn_release(&dn);
	out->subject = s;
	for (i = 0; i < t->nsan; i++) {
		*line = t->san_line[i];
		if ((rc = vars_expand(t->san[i], lookup, ctx, &s, msg,
		    msgsz)) != 0)
			return rc;
		if ((rc = san_parse(s, &san, msg, msgsz)) != 0 ||
		    (rc = req_spec_add_san(out, s)) != 0) {
			free(s);
			return rc;
		}
		free(s);
	}
	out->key = t->key;
	out->eku = t->eku;
	out->days = t->days;
	return 0;
}
