/*
 * The hooks group of the fleet file. A hook is an argument vector, never
 * a shell line, and its program a path like ca.helper's, so that `check`
 * finds a missing or unrunnable hook before a run needs it.
 */
#include "inventory/hooks.h"

#include <string.h>

static const char *const hooks_keys[] = {
	"after_run", "after_run_timeout", NULL
};

void fleet_hooks_init(struct fleet_hooks *h)
{
	memset(h, 0, sizeof *h);
	h->after_run_timeout = HOOKS_AFTER_RUN_TIMEOUT;
}

void fleet_hooks_release(struct fleet_hooks *h)
{
	strv_free(h->after_run);
	fleet_hooks_init(h);
}

void fleet_hooks_parse(struct fleet_hooks *h, const struct cfg *c,
    config_setting_t *root)
{
	config_setting_t *g = cfg_group(c, root, "hooks", "the fleet file");

	if (g == NULL)
		return;
	cfg_check_keys(c, g, "hooks", hooks_keys);
	cfg_command(c, g, "after_run", false, "hooks", &h->after_run,
	    &h->nafter_run);
	cfg_int(c, g, "after_run_timeout", false, 1, 3600,
	    &h->after_run_timeout, "hooks");
}
