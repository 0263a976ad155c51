/*
 * Variable maps and "{{...}}" expansion. Expansion is plain substitution:
 * no filters, no conditionals, nothing that could run.
 */
#include "inventory/vars.h"
#include "engine/base/err.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void vars_init(struct vars *vs)
{
	vs->v = NULL;
	vs->n = 0;
}

void vars_release(struct vars *vs)
{
	size_t i;

	for (i = 0; i < vs->n; i++) {
		free(vs->v[i].key);
		free(vs->v[i].value);
	}
	free(vs->v);
	vars_init(vs);
}

int vars_set(struct vars *vs, const char *key, const char *value)
{
	char *val = strdup(value);
	struct var *v;
	size_t i;

	if (val == NULL)
		return CF_ENOMEM;
	for (i = 0; i < vs->n; i++) {
		if (strcmp(vs->v[i].key, key) == 0) {
			free(vs->v[i].value);
			vs->v[i].value = val;
			return 0;
		}
	}
	v = realloc(vs->v, (vs->n + 1) * sizeof(*v));
	if (v == NULL || (v[vs->n].key = strdup(key)) == NULL) {
		if (v)
			vs->v = v;
		free(val);
		return CF_ENOMEM;
	}
	v[vs->n].value = val;
	vs->v = v;
	vs->n++;
	return 0;
}

const char *vars_get(const struct vars *vs, const char *key)
{
	size_t i;

	for (i = 0; i < vs->n; i++)
		if (strcmp(vs->v[i].key, key) == 0)
			return vs->v[i].value;
	return NULL;
}

bool vars_key_valid(const char *key)
{
	if (!isalpha((unsigned char)*key) && *key != '_')
		return false;
	for (key++; *key; key++)
		if (!isalnum((unsigned char)*key) && *key != '_')
			return false;
	return true;
}

/* Finds the next "{{name}}": sets the name span (trimmed) and the end. */
static int next_var(const char *in, const char *p, const char **open,
    const char **name, size_t *len, const char **end, char *msg,
    size_t msgsz)
{
	const char *close, *q;

	*open = strstr(p, "{{");
	if (*open == NULL) {
		if (strstr(p, "}}") != NULL)
			return cf_error(msg, msgsz, CF_EINVAL,
			    "unmatched '}}' in '%s'", in);
		return 0;
	}
	close = strstr(*open + 2, "}}");
	if (close == NULL)
		return cf_error(msg, msgsz, CF_EINVAL,
		    "unclosed '{{' in '%s'", in);
	q = *open + 2;
	while (q < close && *q == ' ')
		q++;
	*name = q;
	q = close;
	while (q > *name && q[-1] == ' ')
		q--;
	*len = (size_t)(q - *name);
	*end = close + 2;
	if (*len == 0)
		return cf_error(msg, msgsz, CF_EINVAL,
		    "empty variable '{{}}' in '%s'", in);
	for (q = *name; q < *name + *len; q++)
		if (!isalnum((unsigned char)*q) && *q != '_' && *q != '.')
			return cf_error(msg, msgsz, CF_EINVAL,
			    "malformed variable '{{%.*s}}' in '%s'",
			    (int)*len, *name, in);
	return 0;
}

int vars_check_syntax(const char *in, char *msg, size_t msgsz)
{
	const char *p = in, *open, *name, *end;
	size_t len;
	int rc;

	for (;;) {
		if ((rc = next_var(in, p, &open, &name, &len, &end, msg,
		    msgsz)) != 0)
			return rc;
		if (open == NULL)
			return 0;
		p = end;
	}
}

int vars_expand(const char *in, vars_lookup_fn lookup, void *ctx,
    char **out, char *msg, size_t msgsz)
{
	const char *p = in, *open, *name, *end, *val;
	char key[128], *o = NULL;
	size_t len, olen = 0;
	FILE *fp;
	int rc, bad;

	if ((rc = vars_check_syntax(in, msg, msgsz)) != 0)
		return rc;
	if ((fp = open_memstream(&o, &olen)) == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	while ((rc = next_var(in, p, &open, &name, &len, &end, msg,
	    msgsz)) == 0 && open != NULL) {
		fwrite(p, 1, (size_t)(open - p), fp);
		if (len >= sizeof(key)) {
			rc = cf_error(msg, msgsz, CF_EINVAL, "variable name "
			    "too long in '%s'", in);
			break;
		}
		memcpy(key, name, len);
		key[len] = '\0';
		if ((val = lookup(ctx, key)) == NULL) {
			rc = cf_error(msg, msgsz, CF_ENOENT,
			    "template variable '%s' is not defined", key);
			break;
		}
		fputs(val, fp);
		p = end;
	}
	if (rc == 0)
		fputs(p, fp);
	bad = ferror(fp);
	if ((fclose(fp) != 0 || bad) && rc == 0)
		rc = cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	if (rc != 0) {
		free(o);
		return rc;
	}
	*out = o;
	return 0;
}
