/*
 * The fleet file check. Every file in tests/fixtures/bad/ carries the exact
 * diagnostics it must produce as "# expect: LINE: text" comments ("-" for
 * no line, or a path relative to the fixture for an @included file); each
 * file is one test, and no other diagnostic may appear.
 */
#include "tests/unit/unit.h"
#include "engine/base/err.h"
#include "engine/report/report.h"
#include "inventory/fleet.h"
#include "inventory/fleet_json.h"
#include "inventory/select.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BAD FIXTURES "/bad"

static void expect_file(void **state)
{
	const char *path = *state;
	char line[1024], want[1400], got[1400];
	char *expects[32];
	size_t nexp = 0, i, j;
	struct fleet f;
	struct diags d;
	FILE *fp = fopen(path, "r");

	assert_non_null(fp);
	while (fgets(line, sizeof line, fp) && nexp < 32) {
		char *e;

		if (strncmp(line, "# expect: ", 10) != 0)
			continue;
		e = line + 10;
		e[strcspn(e, "\n")] = '\0';
		if (e[0] == '-')
			snprintf(want, sizeof want, "%s:%s", path, e + 2);
		else if (e[0] >= '0' && e[0] <= '9')
			snprintf(want, sizeof want, "%s:%s", path, e);
		else
			snprintf(want, sizeof want, "%s/%s", BAD, e);
		expects[nexp++] = strdup(want);
	}
	fclose(fp);
	assert_true(nexp > 0);

	diags_init(&d);
	assert_int_equal(fleet_load(&f, path, &d), CF_ECONFIG);
	for (i = 0; i < nexp; i++) {
		for (j = 0; j < d.n; j++)
			if (strcmp(diag_format(&d.v[j], got, sizeof got),
			    expects[i]) == 0)
				break;
		if (j == d.n) {
			for (j = 0; j < d.n; j++)
				print_error("  got: %s\n", diag_format(&d.v[j],
				    got, sizeof got));
			fail_msg("missing diagnostic: %s", expects[i]);
		}
	}
	if (d.n != nexp) {
		for (j = 0; j < d.n; j++)
			print_error("  got: %s\n", diag_format(&d.v[j], got,
			    sizeof got));
		fail_msg("%zu diagnostics, expected %zu", d.n, nexp);
	}
	for (i = 0; i < nexp; i++)
		free(expects[i]);
	fleet_release(&f);
	diags_release(&d);
}

static void test_example_fleet(void **state)
{
	struct fleet f;
	struct diags d;
	struct req_spec rs;
	const struct server *s;
	char msg[256];

	(void)state;
	diags_init(&d);
	assert_int_equal(fleet_load(&f, "examples/fleet.cfg", &d), 0);
	assert_int_equal(d.n, 0);
	assert_string_equal(f.name, "contoso-pool");
	assert_int_equal(f.nservers, 8);
	assert_int_equal(f.concurrency, 64);
	assert_int_equal(f.renew_before_days, 30);
	assert_true(f.assign);
	assert_int_equal(f.usages, USAGE_ALL_PREDEFINED);
	assert_string_equal(f.state_dir, "examples/../build/demo/state");
	assert_string_equal(f.ca.issuing_key,
	    "examples/../build/demo/state/ca/issuing.key");
	assert_int_equal(f.ca.ndomains, 1);
	s = fleet_server_find(&f, "fe04");
	assert_non_null(s);
	/* A path in an @included file is taken from that file's directory. */
	assert_string_equal(s->root,
	    "examples/inventory/../../build/demo/servers/fe04");
	assert_string_equal(s->store.roots, "trust/roots");
	assert_true(server_matches(s, "pool-a"));
	assert_false(server_matches(s, "pool-b"));
	req_spec_init(&rs);
	assert_int_equal(fleet_server_request(&f, s, &rs, msg, sizeof msg), 0);
	assert_string_equal(rs.subject, "CN=fe04.pool.contoso.test, O=Contoso");
	assert_int_equal(rs.nsan, 4);
	assert_string_equal(rs.san[1], "DNS:fe04.fra.contoso.test");
	assert_int_equal(rs.eku, EKU_SERVER_AUTH | EKU_CLIENT_AUTH);
	assert_int_equal(rs.days, 90);
	assert_int_equal(rs.key.type, KEY_EC);
	req_spec_release(&rs);
	fleet_release(&f);
	diags_release(&d);
}

static void test_overrides(void **state)
{
	struct fleet f;
	struct diags d;
	const struct server *s;
	struct req_spec rs;
	char msg[256];

	(void)state;
	diags_init(&d);
	assert_int_equal(fleet_load(&f, FIXTURES "/good/overrides.cfg", &d), 0);
	assert_false(f.assign);
	assert_true(f.ca.manual_approval);
	assert_int_equal(f.ca.nips, 2);
	assert_int_equal(f.ca.ntrusted, 1);
	assert_string_equal(f.ca.trusted_roots[0],
	    "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF");
	assert_int_equal(f.tmpl.key.type, KEY_RSA);
	assert_int_equal(f.tmpl.key.bits, 3072);
	s = fleet_server_find(&f, "web01");
	assert_non_null(s);
	assert_int_equal(s->usages, 1u << USAGE_WS_EXTERNAL);
	assert_string_equal(s->store.roots, "etc/ssl/roots.pem");
	assert_string_equal(s->store.intermediates, "trust/intermediates");
	assert_string_equal(s->bindings[USAGE_WS_EXTERNAL].cert,
	    "etc/nginx/ext.pem");
	assert_string_equal(s->bindings[USAGE_WS_EXTERNAL].reload[0],
	    "/usr/sbin/nginx");
	assert_string_equal(s->bindings[USAGE_WS_EXTERNAL].reload[2], "reload");
	assert_null(s->bindings[USAGE_WS_EXTERNAL].reload[3]);
	assert_int_equal(s->bindings[USAGE_WS_EXTERNAL].reload_timeout, 10);
	assert_int_equal(s->bindings[USAGE_DEFAULT].reload_timeout, 30);
	/* Server vars override fleet vars; numbers become strings. */
	assert_string_equal(vars_get(&s->vars, "site"), "lon");
	assert_string_equal(vars_get(&s->vars, "rack"), "12");
	req_spec_init(&rs);
	assert_int_equal(fleet_server_request(&f, s, &rs, msg, sizeof msg), 0);
	assert_string_equal(rs.subject, "CN=web01.lon.contoso.test, O=overrides");
	assert_string_equal(rs.san[1], "IP:10.1.2.3");
	req_spec_release(&rs);
	s = fleet_server_find(&f, "web02");
	assert_string_equal(vars_get(&s->vars, "site"), "ams");
	assert_int_equal(s->usages, USAGE_ALL_PREDEFINED);
	assert_string_equal(s->root, FIXTURES "/good/servers/web02");
	assert_string_equal(s->bindings[USAGE_WS_EXTERNAL].cert,
	    "etc/ext.pem");
	fleet_release(&f);
	diags_release(&d);
}

/* usages = { NAME = { ... } }: the table, the bindings, the selection,
 * and the rollout's verify list fed by a usage's port. */
static void test_usages(void **state)
{
	struct fleet f;
	struct diags d;
	const struct server *s;
	int smtp, ldap;

	(void)state;
	diags_init(&d);
	assert_int_equal(fleet_load(&f, FIXTURES "/good/usages.cfg", &d), 0);
	assert_int_equal(f.utab.n, USAGE_PREDEFINED + 2);
	smtp = usage_from_name(&f.utab, "smtp");
	ldap = usage_from_name(&f.utab, "ldap");
	assert_int_equal(smtp, USAGE_PREDEFINED);
	assert_int_equal(ldap, USAGE_PREDEFINED + 1);
	assert_int_equal(usage_eku_needed(&f.utab, (unsigned)smtp),
	    EKU_SERVER_AUTH);
	assert_int_equal(f.uinfo[smtp].port, 465);
	assert_int_equal(f.uinfo[smtp].line, 7);
	/* Only what the group names is selected fleet-wide. */
	assert_int_equal(f.usages, 1u << USAGE_DEFAULT | 1u << smtp |
	    1u << ldap);
	s = fleet_server_find(&f, "mx01");
	assert_int_equal(s->usages, f.usages);
	assert_string_equal(s->bindings[smtp].cert, "etc/postfix/smtp.pem");
	assert_string_equal(s->bindings[smtp].chain, "etc/postfix/chain.pem");
	assert_string_equal(s->bindings[smtp].fullchain,
	    "etc/postfix/fullchain.pem");
	assert_string_equal(s->bindings[smtp].reload[0], "/usr/sbin/postfix");
	assert_int_equal(s->bindings[smtp].reload_timeout, 20);
	assert_string_equal(s->bindings[ldap].pkcs12, "etc/ldap/ldap.p12");
	assert_string_equal(s->bindings[ldap].pkcs12_passphrase_file,
	    FIXTURES "/good/ldap.pass");
	assert_null(s->bindings[USAGE_DEFAULT].cert);
	s = fleet_server_find(&f, "mx02");
	assert_int_equal(s->usages, 1u << smtp | 1u << USAGE_WS_INTERNAL);
	assert_string_equal(s->bindings[smtp].chain, "etc/exim/chain.pem");
	assert_string_equal(s->bindings[smtp].cert, "etc/postfix/smtp.pem");
	/* The rollout's own entry first, then the usage's port. */
	assert_int_equal(f.rollout.nverify, 2);
	assert_int_equal(f.rollout.verify[0].usage, USAGE_DEFAULT);
	assert_int_equal(f.rollout.verify[0].port, 8443);
	assert_int_equal(f.rollout.verify[1].usage, (unsigned)smtp);
	assert_int_equal(f.rollout.verify[1].port, 465);
	fleet_release(&f);
	diags_release(&d);
}

static void test_acme(void **state)
{
	struct fleet f;
	struct diags d;

	(void)state;
	diags_init(&d);
	assert_int_equal(fleet_load(&f, FIXTURES "/good/acme.cfg", &d), 0);
	assert_int_equal(f.ca.type, CA_ACME);
	assert_string_equal(f.ca.acme.directory,
	    "https://acme.contoso.test/directory");
	assert_int_equal(f.ca.acme.ncontact, 2);
	assert_string_equal(f.ca.acme.contact[1], "mailto:pki@contoso.test");
	assert_string_equal(f.ca.acme.tls_ca_file, FIXTURES "/good/tls/ca.pem");
	assert_string_equal(f.ca.acme.account_key,
	    FIXTURES "/good/st/acme/account.key");
	assert_string_equal(f.ca.acme.eab_kid, "kid-1");
	assert_non_null(f.ca.acme.eab_hmac_key);
	assert_string_equal(f.ca.acme.preferred_chain, "ISRG Root X1");
	assert_int_equal(f.ca.max_wait, 300);
	assert_string_equal(fleet_server_find(&f, "web01")->webroot, "var/www");
	assert_string_equal(fleet_server_find(&f, "web02")->webroot, "srv/http");
	fleet_release(&f);
	diags_release(&d);
}

static void test_command(void **state)
{
	struct fleet f;
	struct diags d;
	json_t *j;
	char *text;

	(void)state;
	diags_init(&d);
	assert_int_equal(fleet_load(&f, FIXTURES "/good/command.cfg", &d), 0);
	assert_int_equal(f.ca.type, CA_COMMAND);
	assert_int_equal(f.ca.command.nhelper, 3);
	assert_string_equal(f.ca.command.helper[0],
	    FIXTURES "/good/bin/ca-helper");
	assert_string_equal(f.ca.command.helper[2], "--auth=Kerberos");
	assert_null(f.ca.command.helper[3]);
	assert_string_equal(f.ca.command.profile, "WebServer");
	assert_string_equal(f.ca.command.nickname, "corp-ca");
	assert_int_equal(f.ca.command.timeout, 120);
	assert_int_equal(f.ca.max_wait, 300);
	assert_int_equal(f.ca.ntrusted, 1);
	j = fleet_to_json(&f);
	assert_int_equal(json_integer_value(json_object_get(j,
	    "schema_version")), REPORT_SCHEMA_VERSION);
	text = json_dumps(json_object_get(j, "ca"), JSON_COMPACT |
	    JSON_SORT_KEYS);
	assert_string_equal(text, "{\"helper\":[\"" FIXTURES
	    "/good/bin/ca-helper\",\"--server=ca.contoso.test\","
	    "\"--auth=Kerberos\"],\"max_wait\":300,\"nickname\":\"corp-ca\","
	    "\"profile\":\"WebServer\",\"timeout\":120,\"type\":\"command\"}");
	free(text);
	json_decref(j);
	fleet_release(&f);
	diags_release(&d);
}

static void test_hooks(void **state)
{
	struct fleet f;
	struct diags d;

	(void)state;
	diags_init(&d);
	assert_int_equal(fleet_load(&f, FIXTURES "/good/hooks.cfg", &d), 0);
	assert_int_equal(f.hooks.nafter_run, 3);
	assert_string_equal(f.hooks.after_run[0],
	    FIXTURES "/good/bin/ca-helper");
	assert_string_equal(f.hooks.after_run[1], "--room");
	assert_string_equal(f.hooks.after_run[2], "#certs; $(id)");
	assert_null(f.hooks.after_run[3]);
	assert_int_equal(f.hooks.after_run_timeout, 120);
	fleet_release(&f);
	/* None: no hook, and the default timeout. */
	assert_int_equal(fleet_load(&f, FIXTURES "/good/command.cfg", &d), 0);
	assert_null(f.hooks.after_run);
	assert_int_equal(f.hooks.after_run_timeout, HOOKS_AFTER_RUN_TIMEOUT);
	fleet_release(&f);
	diags_release(&d);
}

static void test_shipped_templates(void **state)
{
	static const char *const files[] = {
		FIXTURES "/good/pool-server.cfg",
		FIXTURES "/good/web-server.cfg",
		FIXTURES "/good/internal-service.cfg",
	};
	struct fleet f;
	struct diags d;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		diags_init(&d);
		if (fleet_load(&f, files[i], &d) != 0)
			fail_msg("%s: %s", files[i], d.n ? d.v[0].text : "?");
		fleet_release(&f);
		diags_release(&d);
	}
}

/* Runs fleet_select on the example fleet; the chosen names joined by ','
 * into names, or the message when it fails. Returns fleet_select's code. */
static int select_names(const struct fleet *f, const char **lim, size_t nl,
    const char **exc, size_t ne, char *names, size_t namesz)
{
	struct fleet_selection sel = { lim, nl, exc, ne, { 0, 0 } };
	const struct server *out[16];
	char msg[256];
	size_t n = 0, i, o = 0;
	int rc;

	rc = fleet_select(f, &sel, out, &n, msg, sizeof msg);
	names[0] = '\0';
	if (rc != 0) {
		snprintf(names, namesz, "%s", msg);
		return rc;
	}
	for (i = 0; i < n; i++)
		o += (size_t)snprintf(names + o, namesz - o, "%s%s",
		    i ? "," : "", out[i]->name);
	return 0;
}

static void test_select(void **state)
{
	const char *l1[] = { "fe01", "fe03" }, *l2[] = { "fe0[7-8],fe02" };
	const char *l3[] = { "pool-b, fe01" }, *l4[] = { "pool-*" };
	const char *e1[] = { "fe0[1-4]", "pool-b" };
	const char *bad1[] = { "fe01", "fe99" }, *bad2[] = { "db*" };
	const char *bad3[] = { "fe01,,fe02" }, *all[] = { "*" };
	struct fleet f;
	struct diags d;
	char names[256];

	(void)state;
	diags_init(&d);
	assert_int_equal(fleet_load(&f, "examples/fleet.cfg", &d), 0);
	/* No --limit: every server, in inventory order. */
	assert_int_equal(select_names(&f, NULL, 0, NULL, 0, names,
	    sizeof names), 0);
	assert_string_equal(names, "fe01,fe02,fe03,fe04,fe05,fe06,fe07,fe08");
	/* --limit given twice: both count (it used to keep the last). */
	assert_int_equal(select_names(&f, l1, 2, NULL, 0, names,
	    sizeof names), 0);
	assert_string_equal(names, "fe01,fe03");
	/* Comma lists and globs; the result stays in inventory order. */
	assert_int_equal(select_names(&f, l2, 1, NULL, 0, names,
	    sizeof names), 0);
	assert_string_equal(names, "fe02,fe07,fe08");
	/* Group names, blanks around a pattern, globs over groups. */
	assert_int_equal(select_names(&f, l3, 1, NULL, 0, names,
	    sizeof names), 0);
	assert_string_equal(names, "fe01,fe06,fe07,fe08");
	assert_int_equal(select_names(&f, l4, 1, e1, 2, names,
	    sizeof names), 0);
	assert_string_equal(names, "fe05");
	/* --exclude alone, and exclude wins over limit. */
	assert_int_equal(select_names(&f, NULL, 0, e1, 2, names,
	    sizeof names), 0);
	assert_string_equal(names, "fe05");
	assert_int_equal(select_names(&f, l1, 2, l1, 1, names,
	    sizeof names), 0);
	assert_string_equal(names, "fe03");
	/* A plain name that matches nothing: named, as before. */
	assert_int_equal(select_names(&f, bad1, 2, NULL, 0, names,
	    sizeof names), CF_ENOENT);
	assert_string_equal(names, "--limit 'fe99' names no server or group "
	    "in 'examples/fleet.cfg'");
	/* A glob that matches nothing is refused too, in either option. */
	assert_int_equal(select_names(&f, bad2, 1, NULL, 0, names,
	    sizeof names), CF_ENOENT);
	assert_string_equal(names, "--limit 'db*' matches no server or group "
	    "name in 'examples/fleet.cfg'");
	assert_int_equal(select_names(&f, NULL, 0, bad2, 1, names,
	    sizeof names), CF_ENOENT);
	assert_string_equal(names, "--exclude 'db*' matches no server or "
	    "group name in 'examples/fleet.cfg'");
	assert_int_equal(select_names(&f, bad3, 1, NULL, 0, names,
	    sizeof names), CF_EINVAL);
	assert_string_equal(names, "--limit 'fe01,,fe02' holds an empty name");
	assert_int_equal(select_names(&f, NULL, 0, all, 1, names,
	    sizeof names), CF_ENOENT);
	assert_string_equal(names, "--exclude leaves no server of "
	    "'examples/fleet.cfg'");
	fleet_release(&f);
	diags_release(&d);
}

/* A fleet path that is a directory: libconfig 1.5 exited the process. */
static void test_fleet_is_directory(void **state)
{
	struct fleet f;
	struct diags d;
	char got[512];

	(void)state;
	diags_init(&d);
	assert_int_equal(fleet_load(&f, BAD "/inventory", &d), CF_ECONFIG);
	assert_int_equal(d.n, 1);
	assert_string_equal(diag_format(&d.v[0], got, sizeof got),
	    BAD "/inventory: cannot read fleet file: Is a directory");
	fleet_release(&f);
	diags_release(&d);
}

/* 300 servers sharing one template mistake: one message each, not 300. */
static void test_one_message_per_mistake(void **state)
{
	char dir[] = "/tmp/certfleet-fleet-XXXXXX", path[64], got[1400];
	struct fleet f;
	struct diags d;
	FILE *fp;
	int i;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/fleet.cfg", dir);
	assert_non_null(fp = fopen(path, "w"));
	fprintf(fp, "fleet = { name = \"t\"; };\n"
	    "request = { subject = \"CN={{name}}\";\n"
	    "  san = [ \"DNS:{{name}}.{{vars.zone}}\" ];\n"
	    "  eku = [ \"serverAuth\" ]; };\nservers = (\n");
	for (i = 0; i < 300; i++)
		fprintf(fp, "%s{ name = \"s%03d\"; address = \"s%03d.test\"; "
		    "root = \"s/%03d\"; }\n", i ? "," : "", i, i, i);
	fprintf(fp, ");\n");
	fclose(fp);
	diags_init(&d);
	assert_int_equal(fleet_load(&f, path, &d), CF_ECONFIG);
	assert_int_equal(d.n, 2);
	snprintf(got, sizeof got, "%s:3: template variable 'vars.zone' is not "
	    "defined (servers 's000' at %s:6, 's001' at %s:7 and 298 more)",
	    path, path, path);
	assert_string_equal(diag_format(&d.v[0], got + 700, 700), got);
	snprintf(got, sizeof got, "%s:4: usage 'default' needs EKU "
	    "'clientAuth', which the request template lacks (servers 's000' "
	    "at %s:6, 's001' at %s:7 and 298 more)", path, path, path);
	assert_string_equal(diag_format(&d.v[1], got + 700, 700), got);
	fleet_release(&f);
	diags_release(&d);
	unlink(path);
	rmdir(dir);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
	struct CMUnitTest tests[128];
	char *names[120];
	size_t n = 0, nbad, i;
	struct dirent *e;
	DIR *dir = opendir(BAD);
	int rc;

	if (dir == NULL) {
		fprintf(stderr, "cannot open %s: run from the top directory\n",
		    BAD);
		return 1;
	}
	while ((e = readdir(dir)) != NULL && n < 120) {
		size_t l = strlen(e->d_name);
		char path[512];

		if (l < 5 || strcmp(e->d_name + l - 4, ".cfg") != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", BAD, e->d_name);
		names[n++] = strdup(path);
	}
	closedir(dir);
	qsort(names, n, sizeof(*names), by_name);
	nbad = n;
	for (i = 0; i < n; i++)
		tests[i] = (struct CMUnitTest){ names[i] + strlen(BAD) + 1,
		    expect_file, NULL, NULL, names[i] };
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_example_fleet);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_overrides);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_usages);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_acme);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_command);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_hooks);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_shipped_templates);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_select);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_fleet_is_directory);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(
	    test_one_message_per_mistake);
	rc = _cmocka_run_group_tests("fleet", tests, n, NULL, NULL);
	for (i = 0; i < nbad; i++)
		free(names[i]);
	return rc;
}
