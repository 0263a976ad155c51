/*
 * The rollout group of the fleet file. batch and max_failures take a
 * number or a percentage string ("25%"), as Ansible's serial and
 * max_fail_percentage do between them.
 */
#include "inventory/rollout.h"
#include "engine/base/err.h"
#include "inventory/fleet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const rollout_keys[] = {
	"canary", "batch", "max_failures", "pause", "verify", "verify_timeout",
	NULL
};
static const char *const verify_keys[] = { "usage", "port", NULL };

void fleet_rollout_init(struct fleet_rollout *r)
{
	memset(r, 0, sizeof *r);
	r->verify_timeout = ROLLOUT_VERIFY_TIMEOUT;
}

void fleet_rollout_release(struct fleet_rollout *r)
{
	strv_free(r->canary);
	free(r->canary_lines);
	free(r->verify);
	free(r->file);
	fleet_rollout_init(r);
}

/* batch or max_failures: an integer, or a string "N" or "P%". */
static void parse_amount(const struct cfg *c, config_setting_t *g,
    const char *key, struct rollout_amount *out)
{
	config_setting_t *m = config_setting_get_member(g, key);
	char msg[128], num[32];

	if (m == NULL)
		return;
	if (config_setting_type(m) == CONFIG_TYPE_INT) {
		snprintf(num, sizeof num, "%d", config_setting_get_int(m));
	} else if (config_setting_type(m) == CONFIG_TYPE_STRING) {
		snprintf(num, sizeof num, "%s", config_setting_get_string(m));
	} else {
		cfg_error(c, m, "'%s' in rollout must be a number or a "
		    "percentage such as \"25%%\"", key);
		return;
	}
	if (rollout_amount_parse(num, out, msg, sizeof msg) != 0)
		cfg_error(c, m, "'%s' in rollout: %s", key, msg);
	else if (strcmp(key, "batch") == 0 && out->value == 0)
		cfg_error(c, m, "'batch' in rollout must be at least 1 (or a "
		    "percentage above 0)");
}

bool rollout_verify_parse(const struct cfg *c, config_setting_t *g,
    const struct usage_table *t, const char *what,
    struct rollout_verify **out, size_t *n)
{
	config_setting_t *list = config_setting_get_member(g, "verify");
	const char *uname;
	char where[160], names[USAGE_CAP * (USAGE_NAME_MAX + 4)];
	int i, len, u, port;

	if (list == NULL)
		return false;
	if (!config_setting_is_list(list) && !config_setting_is_array(list)) {
		cfg_error(c, list, "'verify' in %s must be a list ( { usage = "
		    "\"...\"; port = 443; }, ... )", what);
		return false;
	}
	len = config_setting_length(list);
	free(*out);
	*n = 0;
	if ((*out = calloc((size_t)len + 1, sizeof **out)) == NULL)
		return false;
	for (i = 0; i < len; i++) {
		config_setting_t *e = config_setting_get_elem(list,
		    (unsigned)i);

		snprintf(where, sizeof where, "verify entry %d of %s", i + 1,
		    what);
		if (!config_setting_is_group(e)) {
			cfg_error(c, e, "%s must be a group { usage = \"...\"; "
			    "port = 443; }", where);
			continue;
		}
		cfg_check_keys(c, e, where, verify_keys);
		u = -1;
		if (cfg_string(c, e, "usage", true, &uname, where) &&
		    (u = usage_from_name(t, uname)) < 0) {
			usage_names_text(t, names, sizeof names);
			cfg_error(c, config_setting_get_member(e, "usage"),
			    "unknown usage '%s' in %s (use %s)", uname, where,
			    names);
		}
		if (cfg_int(c, e, "port", true, 1, 65535, &port, where) &&
		    u >= 0)
			(*out)[(*n)++] = (struct rollout_verify){
			    (unsigned)u, port };
	}
	return true;
}

void fleet_rollout_parse(struct fleet_rollout *r, const struct cfg *c,
    config_setting_t *root, const struct usage_table *t)
{
	config_setting_t *g = cfg_group(c, root, "rollout", "the fleet file");

	if (g == NULL)
		return;
	r->set = true;
	r->file = strdup(cfg_file(c, g));
	cfg_check_keys(c, g, "rollout", rollout_keys);
	cfg_strings(c, g, "canary", false, &r->canary, &r->ncanary,
	    &r->canary_lines, "rollout");
	parse_amount(c, g, "batch", &r->policy.batch);
	parse_amount(c, g, "max_failures", &r->policy.max_failures);
	cfg_int(c, g, "pause", false, 0, 86400, &r->policy.pause_s,
	    "rollout");
	cfg_int(c, g, "verify_timeout", false, 1, 3600, &r->verify_timeout,
	    "rollout");
	rollout_verify_parse(c, g, t, "rollout", &r->verify, &r->nverify);
}

void fleet_rollout_check(const struct fleet *f, struct diags *d)
{
	const struct fleet_rollout *r = &f->rollout;
	size_t i, k;

	for (i = 0; i < r->ncanary; i++) {
		for (k = 0; k < f->nservers; k++)
			if (server_matches(&f->servers[k], r->canary[i]))
				break;
		if (k == f->nservers)
			diags_add(d, r->file, r->canary_lines ?
			    r->canary_lines[i] : 0, "canary '%s' in rollout "
			    "names no server or group", r->canary[i]);
	}
}
