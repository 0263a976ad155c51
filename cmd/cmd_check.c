/*
 * `certfleet check FLEET.cfg`: every problem as FILE:LINE: message and exit
 * 2, or one summary line and exit 0. --json prints the resolved fleet.
 */
#include "cmd/cmd.h"
#include "inventory/fleet.h"
#include "inventory/explain.h"
#include "engine/report/report.h"
#include "inventory/fleet_json.h"

#include <stdio.h>
#include <stdlib.h>

/* --explain SERVER KEY: the value, then where each part of it is set. */
static int explain(const struct fleet *f, const struct cmd_opts *o)
{
	struct explain e;
	char msg[512], *v;
	size_t i;
	int rc = CMD_EXIT_OK;

	explain_init(&e);
	if (fleet_explain(f, o->explain, o->args[0], &e, msg,
	    sizeof msg) != 0) {
		fprintf(stderr, "certfleet: %s\n", msg);
		rc = CMD_EXIT_USAGE;
	} else if (o->json) {
		cmd_print_json(json_pack("{s:i, s:s, s:s, s:O, s:o}",
		    "schema_version", REPORT_SCHEMA_VERSION, "server",
		    o->explain, "key", o->args[0], "value", e.value,
		    "from", strv_json(e.from, e.nfrom)));
	} else {
		v = json_dumps(e.value, JSON_ENCODE_ANY | JSON_COMPACT);
		printf("%s = %s\n", o->args[0], v ? v : "?");
		free(v);
		for (i = 0; i < e.nfrom; i++)
			printf("  %s %s\n", i == 0 ? "from" : "over", e.from[i]);
	}
	explain_release(&e);
	return rc;
}

int cmd_check(const struct cmd_opts *o)
{
	struct fleet f;
	struct diags d;
	char line[1400], key[32];
	size_t i;
	int u, rc;

	if (o->explain != NULL && o->nargs != 1) {
		fprintf(stderr, "certfleet: --explain %s needs a KEY after the "
		    "fleet file (usage: certfleet check FLEET.cfg --explain "
		    "SERVER KEY)\n", o->explain);
		return CMD_EXIT_USAGE;
	}
	if (o->explain == NULL && o->nargs != 0) {
		fprintf(stderr, "certfleet: unexpected argument '%s' for "
		    "'check' (usage: certfleet check [options] FLEET.cfg)\n",
		    o->args[0]);
		return CMD_EXIT_USAGE;
	}
	diags_init(&d);
	if (fleet_load(&f, o->fleet, &d) != 0) {
		for (i = 0; i < d.n; i++)
			fprintf(stderr, "%s\n", diag_format(&d.v[i], line,
			    sizeof line));
		fprintf(stderr, "%zu problem%s in '%s'\n", d.n,
		    d.n == 1 ? "" : "s", o->fleet);
		if (o->json)
			cmd_print_json(diags_to_json(&d));
		rc = CMD_EXIT_USAGE;
		goto out;
	}
	if (o->explain != NULL) {
		rc = explain(&f, o);
		goto out;
	} else if (o->json) {
		cmd_print_json(fleet_to_json(&f));
	} else if (!o->quiet) {
		printf("fleet '%s' is valid: %zu server%s, ", f.name,
		    f.nservers, f.nservers == 1 ? "" : "s");
		if (f.tmpl.file != NULL)
			printf("request %s:%d (%s, %d days), ", f.tmpl.file,
			    f.tmpl.line, key_spec_describe(&f.tmpl.key, key,
			    sizeof key), f.tmpl.days);
		for (i = 0; i < f.nrequests; i++)
			printf("%s%s, ", i == 0 ? "requests " : "",
			    f.requests[i].name);
		printf("CA %s, usages", f.ca.type == CA_ACME ?
		    f.ca.acme.directory : f.ca.type == CA_COMMAND ?
		    f.ca.command.helper[0] : "local");
		for (u = 0; u < USAGE_CAP; u++)
			if (f.usages & (1u << u))
				printf(" %s", usage_name(&f.utab, (unsigned)u));
		printf("\n");
	}
	rc = CMD_EXIT_OK;
out:
	fleet_release(&f);
	diags_release(&d);
	return rc;
}
