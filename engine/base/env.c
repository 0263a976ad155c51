/*
 * Environments as "NAME=value" arrays (see env.h). Pure: nothing here
 * reads or changes the process's own environment.
 */
#include "engine/base/env.h"
#include "engine/base/err.h"
#include "engine/base/str.h"
#include "engine/base/strv.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void env_release(struct env *e)
{
	strv_free(e->v);
	memset(e, 0, sizeof *e);
}

void env_push(struct env *e, char *s)
{
	char **nv;
	size_t cap;

	if (s == NULL) {
		e->oom = true;
		return;
	}
	if (e->n + 2 > e->cap) {
		cap = e->cap ? e->cap * 2 : 32;
		if ((nv = realloc(e->v, cap * sizeof(*nv))) == NULL) {
			free(s);
			e->oom = true;
			return;
		}
		e->v = nv;
		e->cap = cap;
	}
	e->v[e->n++] = s;
	e->v[e->n] = NULL;
}

void env_set(struct env *e, const char *name, const char *value)
{
	env_push(e, cf_asprintf("%s=%s", name, value));
}

char **env_take(struct env *e)
{
	char **v;

	if (!e->oom && e->v == NULL)
		e->v = calloc(1, sizeof(*e->v));
	if (e->oom || e->v == NULL) {
		env_release(e);
		return NULL;
	}
	v = e->v;
	memset(e, 0, sizeof *e);
	return v;
}

bool env_name_valid(const char *name, size_t len)
{
	size_t i;

	if (len == 0 || (name[0] >= '0' && name[0] <= '9'))
		return false;
	for (i = 0; i < len; i++)
		if (!((name[i] >= 'A' && name[i] <= 'Z') || name[i] == '_' ||
		    (name[i] >= '0' && name[i] <= '9')))
			return false;
	return true;
}

/* The length of entry s's name, up to its '='. */
static size_t name_len(const char *s)
{
	return strcspn(s, "=");
}

/* True when v (the first n entries) sets the name that s sets. */
static bool sets_name(char *const *v, size_t n, const char *s)
{
	size_t len = name_len(s), i;

	for (i = 0; v != NULL && i < n && v[i] != NULL; i++)
		if (name_len(v[i]) == len && strncmp(v[i], s, len) == 0)
			return true;
	return false;
}

int env_check(char *const *env)
{
	size_t i, len;

	for (i = 0; env != NULL && env[i] != NULL; i++) {
		len = name_len(env[i]);
		if (env[i][len] != '=' || !env_name_valid(env[i], len) ||
		    sets_name(env, i, env[i]))
			return CF_EINVAL;
	}
	return 0;
}

char **env_merge(char *const *base, char *const *add)
{
	struct env e = { 0 };
	size_t i;

	for (i = 0; base != NULL && base[i] != NULL; i++)
		if (!sets_name(add, SIZE_MAX, base[i]))
			env_push(&e, strdup(base[i]));
	for (i = 0; add != NULL && add[i] != NULL; i++)
		env_push(&e, strdup(add[i]));
	return env_take(&e);
}
