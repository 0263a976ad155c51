/*
 * Groups with settings and named request templates: a server's effective
 * settings are the fleet's defaults, then its groups in the order it lists
 * them, then its own keys; check --explain says which line set each.
 */
#include "tests/unit/unit.h"
#include "engine/base/err.h"
#include "engine/base/usage.h"
#include "inventory/explain.h"
#include "inventory/fleet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIR FIXTURES "/good/groups"
#define FLEET DIR "/fleet.cfg"

static int setup(void **state)
{
	struct fleet *f = calloc(1, sizeof(*f));
	struct diags d;
	char line[1400];
	size_t i;

	diags_init(&d);
	if (f == NULL || fleet_load(f, FLEET, &d) != 0) {
		for (i = 0; i < d.n; i++)
			print_error("%s\n", diag_format(&d.v[i], line,
			    sizeof line));
		diags_release(&d);
		if (f)
			fleet_release(f);
		free(f);
		return -1;
	}
	diags_release(&d);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fleet_release(*state);
	free(*state);
	return 0;
}

static const struct server *server(void **state, const char *name)
{
	const struct server *s = fleet_server_find(*state, name);

	assert_non_null(s);
	return s;
}

/* A later group wins over an earlier one; a label without settings is
 * only a label. */
static void test_group_order(void **state)
{
	assert_string_equal(vars_get(&server(state, "mx01")->vars, "dc"),
	    "edge");
	/* mx01 lists edge then mail: mail's request wins. */
	assert_string_equal(server(state, "mx01")->request, "mail");
	/* mx02 lists mail then edge: edge's request wins. */
	assert_string_equal(server(state, "mx02")->request, "web");
	assert_string_equal(vars_get(&server(state, "mx02")->vars, "tier"),
	    "1");
	assert_string_equal(server(state, "web01")->request, "web");
	assert_int_equal(server(state, "web01")->ngroups, 2);
}

/* The server's own keys win over every group; vars and store merge. */
static void test_own_keys_and_merge(void **state)
{
	const struct server *mx01 = server(state, "mx01");
	const struct server *mx02 = server(state, "mx02");

	assert_string_equal(vars_get(&mx01->vars, "tier"), "3");
	assert_string_equal(vars_get(&mx01->vars, "zone"), "contoso.test");
	assert_int_equal(mx02->ssh.port, 22);
	assert_int_equal(mx01->ssh.port, 2222);
	assert_string_equal(mx01->ssh.user, "deploy");
	/* store: certs from edge, roots from mail, intermediates default. */
	assert_string_equal(mx01->store.certs, "edge-certs");
	assert_string_equal(mx01->store.roots, "mail-roots");
	assert_string_equal(mx01->store.intermediates, "trust/intermediates");
	assert_string_equal(server(state, "web01")->store.roots,
	    "trust/roots");
}

/* Server name's request: its template's subject, second SAN and days. */
static void request_is(void **state, const char *name, const char *subject,
    const char *san1, int days)
{
	struct req_spec rs;
	char msg[256];

	req_spec_init(&rs);
	assert_int_equal(fleet_server_request(*state, server(state, name), &rs,
	    msg, sizeof msg), 0);
	assert_string_equal(rs.subject, subject);
	assert_string_equal(rs.san[1], san1);
	assert_int_equal(rs.days, days);
	req_spec_release(&rs);
}

/* Each server gets its own template, and its approval. */
static void test_templates_and_approval(void **state)
{
	request_is(state, "mx01", "CN=smtp.contoso.test",
	    "DNS:smtp.contoso.test", 60);
	request_is(state, "web01", "CN=web01.contoso.test",
	    "DNS:www.contoso.test", 90);
	assert_true(server(state, "mx01")->manual_approval);
	assert_true(server(state, "mx02")->manual_approval);
	assert_false(server(state, "web01")->manual_approval);
}

/* Explains key of server: the value as JSON text and the origins. */
static void explain(void **state, const char *srv, const char *key,
    const char *value, const char *from0, const char *from1)
{
	struct explain e;
	char msg[256], *v;

	explain_init(&e);
	assert_int_equal(fleet_explain(*state, srv, key, &e, msg, sizeof msg),
	    0);
	v = json_dumps(e.value, JSON_ENCODE_ANY | JSON_COMPACT);
	assert_string_equal(v, value);
	free(v);
	assert_true(e.nfrom >= 1);
	assert_string_equal(e.from[0], from0);
	if (from1)
		assert_string_equal(e.from[1], from1);
	else
		assert_int_equal(e.nfrom, 1);
	explain_release(&e);
}

static void test_explain(void **state)
{
	explain(state, "mx01", "vars.tier", "\"3\"", FLEET ":21 (server mx01)",
	    NULL);
	explain(state, "mx02", "vars.tier", "\"1\"", FLEET ":13 (group edge)",
	    NULL);
	/* A group in an @include'd file is named at its own file and line. */
	explain(state, "mx01", "request", "\"mail\"",
	    DIR "/mailgroup.cfg:1 (group mail)", NULL);
	explain(state, "mx01", "approval", "\"manual\"",
	    DIR "/mailgroup.cfg:1 (group mail)", NULL);
	explain(state, "web01", "approval", "\"auto\"",
	    FLEET ":3 (fleet default)", NULL);
	explain(state, "web01", "user", "\"deploy\"",
	    FLEET ":6 (fleet default)", NULL);
	explain(state, "web01", "transport", "\"local\"", "built-in default",
	    NULL);
	explain(state, "mx02", "port", "22", FLEET ":23 (server mx02)", NULL);
	explain(state, "web01", "store.certs", "\"edge-certs\"",
	    FLEET ":14 (group edge)", NULL);
	/* A merged key names every layer that sets part of it. */
	explain(state, "web01", "vars", "{\"zone\":\"contoso.test\","
	    "\"dc\":\"edge\",\"tier\":\"1\"}", FLEET ":13 (group edge)",
	    FLEET ":5 (fleet default)");
	explain(state, "web01", "name", "\"web01\"", FLEET ":18 (server web01)",
	    NULL);
}

static void test_explain_unknown(void **state)
{
	struct explain e;
	char msg[256];

	explain_init(&e);
	assert_int_equal(fleet_explain(*state, "nope", "port", &e, msg,
	    sizeof msg), CF_ENOENT);
	assert_string_equal(msg, "no server 'nope' in '" FLEET "'");
	assert_int_equal(fleet_explain(*state, "mx01", "prot", &e, msg,
	    sizeof msg), CF_ENOENT);
	assert_non_null(strstr(msg, "unknown key 'prot'"));
	assert_int_equal(fleet_explain(*state, "mx01", "vars.nope", &e, msg,
	    sizeof msg), CF_ENOENT);
	assert_string_equal(msg, "server 'mx01' has no 'vars.nope'");
	explain_release(&e);
}

/* A usage with a template of its own gives its server a second
 * certificate, an entry "SERVER.TEMPLATE" right after the server's. */
static void test_split_certificates(void **state)
{
	struct fleet f;
	struct diags d;
	const struct server *s;
	int https, smtp, webmail;

	(void)state;
	diags_init(&d);
	assert_int_equal(fleet_load(&f, FIXTURES "/good/split.cfg", &d), 0);
	https = usage_from_name(&f.utab, "https");
	smtp = usage_from_name(&f.utab, "smtp");
	webmail = usage_from_name(&f.utab, "webmail");
	assert_int_equal(f.nservers, 4);
	assert_string_equal(f.servers[0].name, "web01");
	assert_int_equal(f.servers[0].usages, (1u << https) | (1u << webmail));
	assert_string_equal(f.servers[1].name, "mx01");
	assert_int_equal(f.servers[1].usages, 1u << smtp);
	assert_string_equal(f.servers[1].request, "mail");
	s = &f.servers[2];
	assert_string_equal(s->name, "mx01.web");
	assert_int_equal(s->usages, 1u << webmail);
	assert_string_equal(s->request, "web");
	assert_string_equal(s->address, "mx01.test");
	assert_int_equal(s->split_of, 1);
	assert_ptr_equal(s->tmpl, &f.requests[0].tmpl);
	/* Its only usage's template becomes api01's own. */
	assert_string_equal(f.servers[3].name, "api01");
	assert_string_equal(f.servers[3].request, "web");
	assert_int_equal(f.servers[3].split_of, -1);
	fleet_release(&f);
	diags_release(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_group_order),
		cmocka_unit_test(test_own_keys_and_merge),
		cmocka_unit_test(test_templates_and_approval),
		cmocka_unit_test(test_explain),
		cmocka_unit_test(test_explain_unknown),
		cmocka_unit_test(test_split_certificates),
	};

	return cmocka_run_group_tests_name("groups", tests, setup, teardown);
}
