/*
 * libconfig 1.5 is handed only files it can read: the top file and each
 * @include are opened and checked here first, line by line as libconfig's
 * scanner sees them (an @include starts a line, outside a block comment).
 * After a failed parse, a "duplicate setting name" is looked up again in
 * the file's text to name the key and where it was first set.
 */
#include "inventory/cfg_read.h"
#include "engine/base/path.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* libconfig's own limit on nested @include. */
#define MAX_DEPTH 10

/* Opens path as a regular file for reading; NULL with errno set. */
static FILE *open_regular(const char *path)
{
	struct stat st;
	FILE *fp = NULL;
	int fd, e;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return NULL;
	if (fstat(fd, &st) != 0)
		e = errno;
	else if (S_ISDIR(st.st_mode))
		e = EISDIR;
	else if (!S_ISREG(st.st_mode))
		e = EINVAL;
	else if ((fp = fdopen(fd, "r")) != NULL)
		return fp;
	else
		e = errno;
	close(fd);
	errno = e;
	return NULL;
}

/* Why open_regular failed, in words. */
static const char *why(int e)
{
	return e == EINVAL ? "not a regular file" : strerror(e);
}

/* The file an @include names, as libconfig opens it. */
static char *include_path(const char *name, const char *include_dir)
{
	if (include_dir && strcmp(include_dir, ".") == 0)
		include_dir = NULL;
	return path_join(name[0] == '/' ? NULL : include_dir, name);
}

/*
 * Steps over what is not code at p: a block comment (open, or opening
 * here), a string, a line comment (to the end of the line). Returns p
 * itself when it is at code; *in_comment tells whether a block comment is
 * still open at the end of the line.
 */
static const char *skip_noise(const char *p, bool *in_comment)
{
	for (;;) {
		if (*in_comment) {
			while (*p != '\0' && !(p[0] == '*' && p[1] == '/'))
				p++;
			if (*p == '\0')
				return p;
			*in_comment = false;
			p += 2;
		} else if (*p == '"') {
			for (p++; *p != '\0' && *p != '"'; p++)
				if (*p == '\\' && p[1] != '\0')
					p++;
			if (*p == '"')
				p++;
		} else if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
			return p + strlen(p);
		} else if (p[0] == '/' && p[1] == '*') {
			*in_comment = true;
			p += 2;
		} else {
			return p;
		}
	}
}

/* Steps over a line, tracking whether a block comment is open at its end
 * (strings and line comments may hold a stray slash-star). */
static void scan_comments(const char *line, bool *in_comment)
{
	const char *p = line;

	while (*(p = skip_noise(p, in_comment)) != '\0')
		p++;
}

/* The name in `@include "name"` at the start of line, copied, or NULL. */
static char *include_name(const char *line)
{
	const char *p = line + strspn(line, " \t"), *end;

	if (strncmp(p, "@include", 8) != 0 || (p[8] != ' ' && p[8] != '\t'))
		return NULL;
	p += 8;
	p += strspn(p, " \t");
	if (*p != '"' || (end = strchr(p + 1, '"')) == NULL)
		return NULL;
	return strndup(p + 1, (size_t)(end - p - 1));
}

/* Checks every @include of the open file fp (called file), recursively.
 * Returns true when each can be read. */
static bool check_includes(FILE *fp, const char *file,
    const char *include_dir, int depth, struct diags *d)
{
	char *line = NULL, *name, *path;
	size_t cap = 0;
	int lineno = 0;
	bool ok = true, in_comment = false;
	FILE *inc;

	while (getline(&line, &cap, fp) > 0) {
		lineno++;
		if (!in_comment && (name = include_name(line)) != NULL) {
			path = include_path(name, include_dir);
			if (path == NULL) {
				ok = false;
			} else if (depth >= MAX_DEPTH) {
				diags_add(d, file, lineno, "@include '%s' nests "
				    "more than %d files deep", name, MAX_DEPTH);
				ok = false;
			} else if ((inc = open_regular(path)) == NULL) {
				diags_add(d, file, lineno, "cannot read included "
				    "file '%s': %s", path, why(errno));
				ok = false;
			} else {
				if (!check_includes(inc, path, include_dir,
				    depth + 1, d))
					ok = false;
				fclose(inc);
			}
			free(path);
			free(name);
			continue;
		}
		scan_comments(line, &in_comment);
	}
	free(line);
	return ok;
}

/* ---- naming a duplicate setting -------------------------------------- */

struct name_line {
	char *name;
	int line;
};

/* The settings of one group, list or array being read. */
struct scope {
	struct name_line *v;
	size_t n, cap;
};

struct dup_scan {
	struct scope stack[64];
	size_t depth;               /* scopes open; stack[0] is the file */
	char *name;                 /* the duplicate found, or NULL */
	int first;                  /* the line that set it first */
};

static void scope_release(struct scope *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i].name);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* Adds name to the innermost scope; true when it was there already. */
static bool scope_add(struct dup_scan *ds, const char *name, size_t len,
    int line)
{
	struct scope *s = &ds->stack[ds->depth - 1];
	struct name_line *v;
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strlen(s->v[i].name) == len &&
		    strncmp(s->v[i].name, name, len) == 0) {
			ds->name = strndup(name, len);
			ds->first = s->v[i].line;
			return true;
		}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;

		if ((v = realloc(s->v, cap * sizeof(*v))) == NULL)
			return false;
		s->v = v;
		s->cap = cap;
	}
	if ((s->v[s->n].name = strndup(name, len)) == NULL)
		return false;
	s->v[s->n++].line = line;
	return false;
}

static bool name_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '*';
}

static bool name_char(char c)
{
	return name_start(c) || (c >= '0' && c <= '9') || c == '-' ||
	    c == '_';
}

/*
 * Reads file's settings scope by scope, as libconfig's grammar nests them,
 * up to the first name set twice in one scope: libconfig stops there.
 * Text from @included files is not seen; their names are not compared.
 */
static void find_duplicate(const char *file, struct dup_scan *ds)
{
	char *line = NULL;
	size_t cap = 0, len;
	int lineno = 0;
	bool in_comment = false;
	FILE *fp = open_regular(file);
	const char *p, *q;

	ds->depth = 1;
	while (fp && ds->name == NULL && getline(&line, &cap, fp) > 0) {
		lineno++;
		if (!in_comment && (p = include_name(line)) != NULL) {
			free((char *)p);
			continue;
		}
		for (p = line; ds->name == NULL &&
		    *(p = skip_noise(p, &in_comment)) != '\0'; ) {
			if (*p == '{' || *p == '(' || *p == '[') {
				if (ds->depth == sizeof(ds->stack) /
				    sizeof(ds->stack[0]))
					goto out;
				ds->depth++;
				p++;
			} else if (*p == '}' || *p == ')' || *p == ']') {
				if (ds->depth > 1)
					scope_release(&ds->stack[--ds->depth]);
				p++;
			} else if (name_start(*p) && (p == line ||
			    !name_char(p[-1]))) {
				for (q = p; name_char(*q); q++)
					;
				len = (size_t)(q - p);
				q += strspn(q, " \t\r\n");
				if ((*q == '=' || *q == ':') &&
				    scope_add(ds, p, len, lineno))
					break;
				p += len;
			} else {
				p++;
			}
		}
	}
out:
	free(line);
	if (fp)
		fclose(fp);
	while (ds->depth > 0)
		scope_release(&ds->stack[--ds->depth]);
}

/* ---- reading ---------------------------------------------------------- */

bool cfg_read(config_t *cfg, const char *path, const char *what,
    const char *ref_file, int ref_line, struct diags *d)
{
	const char *include_dir = config_get_include_dir(cfg), *ef;
	struct dup_scan ds;
	char *where;
	bool ok;
	FILE *fp;

	if ((fp = open_regular(path)) == NULL) {
		if (ref_file == NULL)
			diags_add(d, path, 0, "cannot read %s: %s", what,
			    why(errno));
		else
			diags_add(d, ref_file, ref_line, "cannot read %s '%s': "
			    "%s", what, path, why(errno));
		return false;
	}
	ok = check_includes(fp, path, include_dir, 1, d);
	if (ok) {
		rewind(fp);
		ok = config_read(cfg, fp) == CONFIG_TRUE;
	}
	fclose(fp);
	if (ok || config_error_text(cfg) == NULL)
		return ok;
	/* libconfig names an @included file as the @include line does. */
	ef = config_error_file(cfg);
	where = ef && strcmp(ef, path) != 0 ? include_path(ef, include_dir) :
	    strdup(path);
	memset(&ds, 0, sizeof ds);
	if (strcmp(config_error_text(cfg), "duplicate setting name") == 0)
		find_duplicate(where ? where : path, &ds);
	if (ds.name != NULL)
		diags_add(d, where ? where : path, config_error_line(cfg),
		    "duplicate setting '%s' (first set at line %d)", ds.name,
		    ds.first);
	else
		diags_add(d, where ? where : path, config_error_line(cfg), "%s",
		    config_error_text(cfg));
	free(ds.name);
	free(where);
	return false;
}
