/* JSON views of a fleet and of its diagnostics; building only, no output. */
#include "inventory/fleet_json.h"
#include "engine/report/report.h"

#include <stdlib.h>

json_t *strv_json(char *const *v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a && i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *usages_json(const struct usage_table *t, unsigned usages)
{
	json_t *a = json_array();
	unsigned u;

	for (u = 0; a && u < USAGE_CAP; u++)
		if (usages & (1u << u))
			json_array_append_new(a,
			    json_string(usage_name(t, u)));
	return a;
}

static json_t *eku_json(unsigned eku)
{
	json_t *a = json_array();
	unsigned f;

	for (f = 1; a && f <= EKU_ALL; f <<= 1)
		if (eku & f)
			json_array_append_new(a, json_string(eku_name(f)));
	return a;
}

static json_t *vars_json(const struct vars *v)
{
	json_t *o = json_object();
	size_t i;

	for (i = 0; o && i < v->n; i++)
		json_object_set_new(o, v->v[i].key, json_string(v->v[i].value));
	return o;
}

static json_t *bindings_json(const struct server *s)
{
	const struct usage_binding *b = s->bindings;
	json_t *o = json_object();
	unsigned u;

	for (u = 0; o && u < s->nbindings; u++) {
		size_t n = 0;

		while (b[u].reload && b[u].reload[n])
			n++;
		json_object_set_new(o, usage_name(s->utab, u), json_pack(
		    "{s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:o, s:i}", "cert",
		    b[u].cert, "key", b[u].key, "chain", b[u].chain,
		    "fullchain", b[u].fullchain, "pkcs12", b[u].pkcs12,
		    "pkcs12_passphrase_file", b[u].pkcs12_passphrase_file,
		    "reload", b[u].reload ? strv_json(b[u].reload, n) :
		    json_null(), "reload_timeout", b[u].reload_timeout));
	}
	return o;
}

static json_t *verify_json(const struct server *s)
{
	json_t *a = json_array();
	size_t i;

	if (!s->verify_set) {
		json_decref(a);
		return json_null();
	}
	for (i = 0; a && i < s->nverify; i++)
		json_array_append_new(a, json_pack("{s:s, s:i}", "usage",
		    usage_name(s->utab, s->verify[i].usage), "port", s->verify[i].port));
	return a;
}

json_t *server_settings_json(const struct server *s)
{
	char before[32], jitter[32];
	json_t *o = json_pack("{s:s, s:s, s:o, s:s, s:s?, s:s?, s:o, s:s?, s:i, s:i, "
	    "s:s?, s:s?, s:s?, s:s, s:s, s:o, s:o}",
	    "name", s->name, "address", s->address,
	    "groups", strv_json(s->groups, s->ngroups),
	    "transport", transport_type_names[s->transport],
	    "root", s->root, "verify_address", s->verify_address,
	    "verify", verify_json(s), "user", s->ssh.user,
	    "port", s->ssh.port, "connect_timeout", s->ssh.connect_timeout,
	    "identity_file", s->ssh.identity_file,
	    "ssh_config", s->ssh.ssh_config, "known_hosts", s->ssh.known_hosts,
	    "host_key_policy", s->ssh.accept_new ? "accept-new" : "strict",
	    "keygen", s->keygen_server ? "server" : "controller",
	    "vars", vars_json(&s->vars), "usages", usages_json(s->utab,
	    s->usages));
	if (o == NULL)
		return NULL;
	json_object_set_new(o, "store", json_pack("{s:s, s:s, s:s}", "roots",
	    s->store.roots, "intermediates", s->store.intermediates, "certs",
	    s->store.certs));
	json_object_set_new(o, "webroot", s->webroot ? json_string(s->webroot) :
	    json_null());
	json_object_set_new(o, "usage_bindings", bindings_json(s));
	json_object_set_new(o, "request", s->request ? json_string(s->request) :
	    json_null());
	json_object_set_new(o, "approval", json_string(s->manual_approval ?
	    "manual" : "auto"));
	json_object_set_new(o, "renew_before", json_string(renew_before_text(
	    &s->renew, before, sizeof before)));
	json_object_set_new(o, "renew_before_days", s->renew.days >= 0 ?
	    json_integer(s->renew.days) : json_null());
	json_object_set_new(o, "renew_jitter", renew_jitter_text(&s->renew,
	    jitter, sizeof jitter) ? json_string(jitter) : json_null());
	json_object_set_new(o, "reuse_key", json_boolean(s->renew.reuse_key));
	return o;
}

/* The renewal policy as resolved; a server's with its jitter offset. */
static json_t *renewal_json(const struct renew_policy *p, bool server)
{
	char before[32], jitter[32];
	json_t *o = json_pack("{s:s, s:s?, s:b}", "renew_before",
	    renew_before_text(p, before, sizeof before), "renew_jitter",
	    renew_jitter_text(p, jitter, sizeof jitter), "reuse_key",
	    p->reuse_key);

	if (o != NULL && server)
		json_object_set_new(o, "jitter_days",
		    json_real((double)p->offset_s / RENEW_DAY));
	return o;
}

static json_t *server_json(const struct fleet *f, const struct server *s)
{
	struct req_spec rs;
	json_t *o, *vars;
	char msg[512], key[32];

	req_spec_init(&rs);
	vars = vars_json(&s->vars);
	o = json_pack("{s:s, s:s, s:s, s:s?, s:o, s:o, s:o, s:{s:s, s:s, s:s}, "
	    "s:s?}",
	    "name", s->name, "address", s->address, "transport",
	    transport_type_names[s->transport], "root", s->root,
	    "groups", strv_json(s->groups, s->ngroups),
	    "vars", vars, "usages", usages_json(s->utab, s->usages),
	    "store", "roots", s->store.roots, "intermediates",
	    s->store.intermediates, "certs", s->store.certs,
	    "webroot", s->webroot);
	if (o == NULL)
		return NULL;
	json_object_set_new(o, "renewal", renewal_json(&s->renew, true));
	if (o != NULL && s->transport == TRANSPORT_SSH)
		json_object_set_new(o, "ssh", json_pack("{s:s?, s:i, s:s?, s:b, "
		    "s:s}", "user", s->ssh.user, "port", s->ssh.port,
		    "identity_file", s->ssh.identity_file,
		    "accept_new_host_keys", s->ssh.accept_new, "keygen",
		    s->keygen_server ? "server" : "controller"));
	json_object_set_new(o, "settings", server_settings_json(s));
	if (s->tmpl != NULL)
		json_object_set_new(o, "template", json_pack("{s:s?, s:i}",
		    "file", s->tmpl->file, "line", s->tmpl->line));
	if (fleet_server_request(f, s, &rs, msg, sizeof msg) == 0) {
		json_object_set_new(o, "subject", json_string(rs.subject));
		json_object_set_new(o, "san", strv_json(rs.san, rs.nsan));
		json_object_set_new(o, "key", json_string(
		    key_spec_describe(&rs.key, key, sizeof key)));
		json_object_set_new(o, "eku", eku_json(rs.eku));
		json_object_set_new(o, "days", json_integer(rs.days));
	} else {
		json_object_set_new(o, "error", json_string(msg));
	}
	req_spec_release(&rs);
	return o;
}

static json_t *ca_json(const struct fleet *f);

/* Named templates: where each is. */
static json_t *requests_json(const struct fleet *f)
{
	json_t *o = json_object();
	size_t i;

	for (i = 0; o && i < f->nrequests; i++)
		json_object_set_new(o, f->requests[i].name, json_pack(
		    "{s:s?, s:i}", "file", f->requests[i].tmpl.file, "line",
		    f->requests[i].tmpl.line));
	return o;
}

json_t *fleet_to_json(const struct fleet *f)
{
	json_t *o, *servers = json_array();
	size_t i;

	for (i = 0; servers && i < f->nservers; i++)
		json_array_append_new(servers, server_json(f, &f->servers[i]));
	o = json_pack("{s:i, s:s, s:s, s:s, s:i, s:o, s:o, s:b, s:o, "
	    "s:{s:s?, s:i}, s:o, s:o}", "schema_version", REPORT_SCHEMA_VERSION,
	    "fleet", f->name, "file", f->path, "state_dir", f->state_dir,
	    "concurrency", f->concurrency, "renew_before_days",
	    f->renew.days >= 0 ? json_integer(f->renew.days) : json_null(),
	    "renewal", renewal_json(&f->renew, false), "assign", f->assign,
	    "ca", ca_json(f),
	    "template", "file", f->tmpl.file, "line", f->tmpl.line,
	    "usages", usages_json(&f->utab, f->usages), "servers", servers);
	if (o != NULL && f->nrequests > 0)
		json_object_set_new(o, "requests", requests_json(f));
	return o;
}

/* The CA as resolved; the EAB MAC key is a secret and never shown. */
static json_t *ca_json(const struct fleet *f)
{
	if (f->ca.type == CA_LOCAL)
		return json_pack("{s:s, s:s, s:s, s:b, s:i}", "type", "local",
		    "root_cert", f->ca.root_cert,
		    "issuing_cert", f->ca.issuing_cert,
		    "manual_approval", f->ca.manual_approval,
		    "max_wait", f->ca.max_wait);
	if (f->ca.type == CA_COMMAND)
		return json_pack("{s:s, s:o, s:s?, s:s?, s:i, s:i}", "type",
		    "command", "helper", strv_json(f->ca.command.helper,
		    f->ca.command.nhelper), "profile", f->ca.command.profile,
		    "nickname", f->ca.command.nickname,
		    "timeout", f->ca.command.timeout,
		    "max_wait", f->ca.max_wait);
	return json_pack("{s:s, s:s?, s:o, s:s?, s:s?, s:s?, s:s?, s:i}",
	    "type", "acme", "directory", f->ca.acme.directory,
	    "contact", strv_json(f->ca.acme.contact, f->ca.acme.ncontact),
	    "tls_ca_file", f->ca.acme.tls_ca_file,
	    "account_key", f->ca.acme.account_key,
	    "eab_kid", f->ca.acme.eab_kid,
	    "preferred_chain", f->ca.acme.preferred_chain,
	    "max_wait", f->ca.max_wait);
}

json_t *diags_to_json(const struct diags *d)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a && i < d->n; i++)
		json_array_append_new(a, json_pack("{s:s, s:i, s:s}",
		    "file", d->v[i].file ? d->v[i].file : "",
		    "line", d->v[i].line,
		    "message", d->v[i].text ? d->v[i].text : "out of memory"));
	return json_pack("{s:i, s:o}", "schema_version", REPORT_SCHEMA_VERSION,
	    "errors", a);
}
