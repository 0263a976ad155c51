/*
 * Request templates: subject, SANs, key, EKUs and validity, with variables
 * filled per server. A template is read from its own file (templates/) or
 * inline in the fleet file; either way it is a `request = { ... }` group.
 */
#ifndef CF_TEMPLATE_H
#define CF_TEMPLATE_H

#include "engine/base/reqspec.h"
#include "inventory/cfg.h"
#include "inventory/vars.h"

struct template {
	char *file;                 /* the file holding the request group */
	int line;
	char *subject;              /* unexpanded */
	int subject_line;
	char **san;                 /* unexpanded, NULL-ended */
	int *san_line;
	size_t nsan;
	struct key_spec key;
	unsigned eku;               /* enum eku_flags */
	int eku_line;               /* 0: the default EKUs */
	int days;
	int days_line;              /* 0: the default validity */
	int key_line;               /* 0: the default key */
};

void template_init(struct template *t);
void template_release(struct template *t);

/* Reads a request group into t, recording every problem in c->diags.
 * Returns true when the template is usable. */
bool template_parse(struct template *t, const struct cfg *c,
    config_setting_t *group);

/*
 * Reads the template file at path (its top-level `request` group). A file
 * that cannot be read or parsed is reported at ref_file:ref_line, where the
 * fleet file names it. Returns true when usable.
 */
bool template_load(struct template *t, const char *path, struct diags *d,
    const char *ref_file, int ref_line);

/*
 * Expands t for one server into out (which the caller has initialised and
 * later releases) and checks the result: subject syntax and every SAN.
 * Returns 0; CF_ENOENT or CF_EINVAL with the reason in msg, and *line set to
 * the template line at fault.
 */
int template_expand(const struct template *t, vars_lookup_fn lookup,
    void *ctx, struct req_spec *out, int *line, char *msg, size_t msgsz);

#endif
