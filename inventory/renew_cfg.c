/*
 * Renewal keys to struct renew_policy. renew_before_days is the old
 * spelling of renew_before = "Nd" and stays; a group sets one or the other.
 */
#include "inventory/renew_cfg.h"

#include <stdio.h>

void renew_cfg_before(struct renew_policy *p, struct renew_at *at,
    const struct cfg *c, config_setting_t *g, const char *what)
{
	config_setting_t *rb = config_setting_get_member(g, "renew_before"),
	    *rd = config_setting_get_member(g, "renew_before_days");
	const char *v;
	char msg[256];
	int days;

	if (rb != NULL && rd != NULL)
		cfg_error(c, cfg_line(rb) > cfg_line(rd) ? rb : rd, "set "
		    "either renew_before or renew_before_days in %s, not both "
		    "(renew_before_days = N is renew_before = \"Nd\")", what);
	else if (rd != NULL && cfg_int(c, g, "renew_before_days", false, 0,
	    3650, &days, what)) {
		p->days = days;
		p->num = p->den = 0;
		p->legacy = true;
		snprintf(p->text, sizeof p->text, "%d", days);
		at->before = cfg_line(rd);
		at->before_file = cfg_file(c, rd);
	} else if (rb != NULL && cfg_string(c, g, "renew_before", false, &v,
	    what)) {
		if (renew_parse_before(p, v, msg, sizeof msg) != 0) {
			cfg_error(c, rb, "%s in %s", msg, what);
		} else {
			at->before = cfg_line(rb);
			at->before_file = cfg_file(c, rb);
		}
	}
}

void renew_cfg_jitter(struct renew_policy *p, struct renew_at *at,
    const struct cfg *c, config_setting_t *g, const char *what)
{
	config_setting_t *rj = config_setting_get_member(g, "renew_jitter");
	const char *v;
	char msg[256];

	if (rj == NULL || !cfg_string(c, g, "renew_jitter", false, &v, what))
		return;
	if (renew_parse_jitter(v, &p->jitter_s, msg, sizeof msg) != 0) {
		cfg_error(c, rj, "%s in %s", msg, what);
		return;
	}
	at->jitter = cfg_line(rj);
	at->jitter_file = cfg_file(c, rj);
}

void renew_cfg_reuse(struct renew_policy *p, struct renew_at *at,
    const struct cfg *c, config_setting_t *g, const char *what)
{
	if (cfg_bool(c, g, "reuse_key", &p->reuse_key, what))
		at->reuse = cfg_line(config_setting_get_member(g, "reuse_key"));
}

void renew_cfg_parse(struct renew_policy *p, struct renew_at *at,
    const struct cfg *c, config_setting_t *g, const char *what)
{
	renew_cfg_before(p, at, c, g, what);
	renew_cfg_jitter(p, at, c, g, what);
	renew_cfg_reuse(p, at, c, g, what);
}

bool renew_cfg_check(const struct renew_policy *p, const struct renew_at *at,
    const struct template *t, struct diags *d, const char *of)
{
	long long life = (long long)t->days * RENEW_DAY, window;
	char policy[64];

	renew_describe(p, policy, sizeof policy);
	if (p->days >= t->days) {
		if (at->before == 0)
			return true;
		diags_add(d, at->before_file, at->before, "%s must be less "
		    "than the request's days (%d)%s, or every run renews",
		    policy, t->days, of);
		return false;
	}
	window = p->days >= 0 ? (long long)p->days * RENEW_DAY :
	    life * p->num / p->den;
	if (p->jitter_s == 0 || window + p->jitter_s < life ||
	    (at->jitter == 0 && at->before == 0))
		return true;
	diags_add(d, at->jitter ? at->jitter_file : at->before_file,
	    at->jitter ? at->jitter : at->before, "renew_jitter (%.1f days) "
	    "plus %s must be less than the request's days (%d)%s, or every "
	    "run renews", (double)p->jitter_s / RENEW_DAY, policy, t->days, of);
	return false;
}
