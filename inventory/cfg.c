/*
 * libconfig accessors that never stop at the first problem: each records a
 * diagnostic and returns false, and the caller moves on to the next key.
 */
#include "inventory/cfg.h"
#include "engine/base/path.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void cfg_release(struct cfg *c)
{
	struct cfg_name *n, *next;

	for (n = c->names; n; n = next) {
		next = n->next;
		free(n->path);
		free(n);
	}
	c->names = NULL;
}

/* libconfig 1.5 reports an @included file by its name in the @include
 * line; paths must be taken from where the file really is. */
const char *cfg_file(const struct cfg *c, const config_setting_t *s)
{
	const char *f = s ? config_setting_source_file(s) : NULL;
	struct cfg_name *n;

	if (f == NULL || strcmp(f, c->file) == 0)
		return c->file;
	if (f[0] == '/' || c->include_dir == NULL)
		return f;
	for (n = c->names; n; n = n->next)
		if (strcmp(n->source, f) == 0)
			return n->path;
	if ((n = calloc(1, sizeof(*n))) == NULL ||
	    (n->path = path_join(c->include_dir, f)) == NULL) {
		free(n);
		return f;
	}
	n->source = f;
	/* The list is a cache: filling it does not change what c means. */
	n->next = c->names;
	((struct cfg *)c)->names = n;
	return n->path;
}

int cfg_line(const config_setting_t *s)
{
	return s ? (int)config_setting_source_line(s) : 0;
}

void cfg_error(const struct cfg *c, const config_setting_t *s,
    const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	diags_add(c->diags, cfg_file(c, s), cfg_line(s), "%s", buf);
}

/* Levenshtein distance, capped: enough to suggest a fix for a typo. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t row[64], prev, tmp;

	if (la >= 64 || lb >= 64)
		return 99;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			tmp = row[j];
			row[j] = prev + (a[i - 1] != b[j - 1]);
			if (row[j - 1] + 1 < row[j])
				row[j] = row[j - 1] + 1;
			if (tmp + 1 < row[j])
				row[j] = tmp + 1;
			prev = tmp;
		}
	}
	return row[lb];
}

void cfg_check_keys(const struct cfg *c, const config_setting_t *group,
    const char *what, const char *const *allowed)
{
	int i, n = config_setting_length(group);

	for (i = 0; i < n; i++) {
		config_setting_t *m = config_setting_get_elem(group, (unsigned)i);
		const char *name = config_setting_name(m);
		const char *best = NULL;
		size_t k, d, bestd = 3;

		if (name == NULL)
			continue;
		for (k = 0; allowed[k]; k++) {
			if (strcmp(allowed[k], name) == 0)
				break;
			d = distance(allowed[k], name);
			if (d < bestd) {
				bestd = d;
				best = allowed[k];
			}
		}
		if (allowed[k] != NULL)
			continue;
		if (best)
			cfg_error(c, m, "unknown key '%s' in %s (did you mean "
			    "'%s'?)", name, what, best);
		else
			cfg_error(c, m, "unknown key '%s' in %s", name, what);
	}
}

config_setting_t *cfg_group(const struct cfg *c, config_setting_t *group,
    const char *key, const char *what)
{
	config_setting_t *s = config_setting_get_member(group, key);

	if (s != NULL && !config_setting_is_group(s)) {
		cfg_error(c, s, "'%s' in %s must be a group { ... }", key, what);
		return NULL;
	}
	return s;
}

/* Member key of group when it is there and of type t1 or t2, else NULL:
 * missing (when required) or mistyped ("must be KIND") is recorded. */
static config_setting_t *typed(const struct cfg *c,
    const config_setting_t *group, const char *key, bool required,
    const char *what, int t1, int t2, const char *kind)
{
	config_setting_t *s = config_setting_get_member(group, key);

	if (s == NULL && required)
		cfg_error(c, group, "missing '%s' in %s", key, what);
	if (s == NULL || config_setting_type(s) == t1 ||
	    config_setting_type(s) == t2)
		return s;
	cfg_error(c, s, "'%s' in %s must be %s", key, what, kind);
	return NULL;
}

bool cfg_string(const struct cfg *c, const config_setting_t *group,
    const char *key, bool required, const char **out, const char *what)
{
	config_setting_t *s = typed(c, group, key, required, what,
	    CONFIG_TYPE_STRING, CONFIG_TYPE_STRING, "a string");

	if (s != NULL)
		*out = config_setting_get_string(s);
	return s != NULL;
}

const char *cfg_names(const char *const *names, char *buf, size_t bufsz)
{
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; names[i] && n < bufsz; i++)
		n += (size_t)snprintf(buf + n, bufsz - n, "%s%s", i == 0 ? "" :
		    names[i + 1] ? ", " : " or ", names[i]);
	return buf;
}

int cfg_enum(const struct cfg *c, const config_setting_t *group,
    const char *key, const char *const *names, const char *what)
{
	const char *v;
	char list[128];
	int i;

	if (!cfg_string(c, group, key, false, &v, what))
		return -1;
	for (i = 0; names[i]; i++)
		if (strcmp(names[i], v) == 0)
			return i;
	cfg_error(c, config_setting_get_member(group, key), "unknown %s '%s' "
	    "in %s (use %s)", key, v, what, cfg_names(names, list,
	    sizeof list));
	return -1;
}

bool cfg_int(const struct cfg *c, const config_setting_t *group,
    const char *key, bool required, long long min, long long max, int *out,
    const char *what)
{
	config_setting_t *s = typed(c, group, key, required, what,
	    CONFIG_TYPE_INT, CONFIG_TYPE_INT64, "an integer");
	long long v;

	if (s == NULL)
		return false;
	v = config_setting_get_int64(s);
	if (v < min || v > max) {
		cfg_error(c, s, "'%s' in %s must be between %lld and %lld, "
		    "not %lld", key, what, min, max, v);
		return false;
	}
	*out = (int)v;
	return true;
}

bool cfg_bool(const struct cfg *c, const config_setting_t *group,
    const char *key, bool *out, const char *what)
{
	config_setting_t *s = typed(c, group, key, false, what,
	    CONFIG_TYPE_BOOL, CONFIG_TYPE_BOOL, "true or false");

	if (s != NULL)
		*out = config_setting_get_bool(s) != 0;
	return s != NULL;
}

bool cfg_strings(const struct cfg *c, const config_setting_t *group,
    const char *key, bool required, char ***out, size_t *n, int **lines,
    const char *what)
{
	config_setting_t *s = typed(c, group, key, required, what,
	    CONFIG_TYPE_ARRAY, CONFIG_TYPE_LIST,
	    "a list of strings [ \"...\", ... ]");
	int i, len;
	char **v;
	int *l = NULL;

	if (s == NULL)
		return false;
	len = config_setting_length(s);
	v = calloc((size_t)len + 1, sizeof(*v));
	if (lines)
		l = calloc((size_t)len + 1, sizeof(*l));
	if (v == NULL || (lines && l == NULL)) {
		free(v);
		free(l);
		cfg_error(c, s, "out of memory");
		return false;
	}
	*n = 0;
	for (i = 0; i < len; i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);

		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			cfg_error(c, e, "element %d of '%s' in %s must be a "
			    "string", i + 1, key, what);
			continue;
		}
		if ((v[*n] = strdup(config_setting_get_string(e))) == NULL)
			break;
		if (l)
			l[*n] = cfg_line(e) ? cfg_line(e) : cfg_line(s);
		(*n)++;
	}
	*out = v;
	if (lines)
		*lines = l;
	return true;
}

char *cfg_path(const struct cfg *c, const config_setting_t *s,
    const char *path)
{
	char *dir, *p;

	if (path[0] == '/')
		return strdup(path);
	if ((dir = path_dirname(cfg_file(c, s))) == NULL)
		return NULL;
	p = path_join(strcmp(dir, ".") == 0 ? NULL : dir, path);
	free(dir);
	return p;
}

/*
 * The program of a command (*argv0): a path, and check says at once when
 * nothing runnable is there. *argv0 becomes the resolved path.
 */
static void check_program(const struct cfg *c, config_setting_t *m,
    int line, const char *key, const char *what, char **argv0)
{
	const char *file = cfg_file(c, m);
	struct stat st;
	char *p;
	int rc;

	if (strchr(*argv0, '/') == NULL) {
		diags_add(c->diags, file, line, "'%s' in %s must start with "
		    "the program's path (no PATH search), not '%s'", key, what,
		    *argv0);
		return;
	}
	if ((p = cfg_path(c, m, *argv0)) == NULL)
		return;
	rc = stat(p, &st);
	if (rc != 0 && errno == ENOENT)
		diags_add(c->diags, file, line, "%s '%s' in %s does not exist",
		    key, p, what);
	else if (rc != 0)
		diags_add(c->diags, file, line, "cannot use %s '%s' in %s: %s",
		    key, p, what, strerror(errno));
	else if (!S_ISREG(st.st_mode) || access(p, X_OK) != 0)
		diags_add(c->diags, file, line, "%s '%s' in %s is not an "
		    "executable file", key, p, what);
	free(*argv0);
	*argv0 = p;
}

bool cfg_command(const struct cfg *c, const config_setting_t *group,
    const char *key, bool required, const char *what, char ***argv,
    size_t *n)
{
	config_setting_t *m;
	int *lines = NULL;
	bool clean = true;
	size_t i;

	if (!cfg_strings(c, group, key, required, argv, n, &lines, what))
		return false;
	m = config_setting_get_member(group, key);
	for (i = 0; i < *n; i++)
		if (str_has_control((*argv)[i])) {
			diags_add(c->diags, cfg_file(c, m), lines[i], "word %zu "
			    "of '%s' in %s has control characters", i + 1, key,
			    what);
			clean = false;
		}
	if (config_setting_length(m) == 0)
		cfg_error(c, m, "'%s' in %s must name a program: [ \"/path/to/"
		    "program\", \"--option\", ... ]", key, what);
	else if (clean && *n > 0)
		check_program(c, m, lines[0], key, what, &(*argv)[0]);
	free(lines);
	return true;
}
