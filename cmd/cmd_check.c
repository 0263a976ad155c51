/*
 * `certfleet check FLEET.cfg`: every problem as FILE:LINE: message and exit
 * 2, or one summary line and exit 0. --json prints the resolved fleet.
 */
#include "cmd/cmd.h"
#include "inventory/fleet.h"
#include "inventory/fleet_json.h"

#include <stdio.h>

int cmd_check(const struct cmd_opts *o)
{
	struct fleet f;
	struct diags d;
	char line[1400], key[32];
	size_t i;
	int u, rc;

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
	if (o->json) {
		cmd_print_json(fleet_to_json(&f));
	} else if (!o->quiet) {
		printf("fleet '%s' is valid: %zu server%s, request %s:%d (%s, "
		    "%d days), CA %s, usages", f.name, f.nservers,
		    f.nservers == 1 ? "" : "s", f.tmpl.file, f.tmpl.line,
		    key_spec_describe(&f.tmpl.key, key, sizeof key),
		    f.tmpl.days, f.ca.type == CA_ACME ? f.ca.acme.directory :
		    f.ca.type == CA_COMMAND ? f.ca.command.helper[0] : "local");
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
