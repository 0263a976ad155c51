/*
 * Typed access to libconfig settings that records a diagnostic, with file
 * and line, for every missing, mistyped or out-of-range value and every
 * unknown key. Callers go on after a problem so that all are reported.
 */
#ifndef CF_CFG_H
#define CF_CFG_H

#include "engine/base/strv.h"
#include "inventory/diag.h"

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>

/* Names of @included files, joined with the include directory. */
struct cfg_name {
	struct cfg_name *next;
	const char *source;         /* as libconfig reports it */
	char *path;                 /* as a path from the working directory */
};

/* Where settings come from, for settings that do not know their file. */
struct cfg {
	struct diags *diags;
	const char *file;           /* the top file of this config_t */
	const char *include_dir;    /* where @include looks, or NULL */
	struct cfg_name *names;     /* owned; freed by cfg_release */
};

/* Frees the names c has collected. */
void cfg_release(struct cfg *c);

/* The file and line a setting was read from. */
const char *cfg_file(const struct cfg *c, const config_setting_t *s);
int cfg_line(const config_setting_t *s);

/* Records a diagnostic at setting s. */
void cfg_error(const struct cfg *c, const config_setting_t *s,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Flags every member of group whose name is not in allowed (NULL-ended),
 * suggesting the closest allowed name. what names the group in messages. */
void cfg_check_keys(const struct cfg *c, const config_setting_t *group,
    const char *what, const char *const *allowed);

/* Member key of group, or NULL. Checks that it is a group when present. */
config_setting_t *cfg_group(const struct cfg *c, config_setting_t *group,
    const char *key, const char *what);

/*
 * Looks up a string member. Returns true and sets *out (owned by libconfig)
 * when present and a string; records a diagnostic when mistyped, or when
 * missing and required.
 */
bool cfg_string(const struct cfg *c, const config_setting_t *group,
    const char *key, bool required, const char **out, const char *what);

/*
 * A string member that must be one of names (NULL-ended). Returns its
 * index, or -1 when absent, mistyped or none of them ("unknown KEY 'v' in
 * WHAT (use a or b)" is recorded).
 */
int cfg_enum(const struct cfg *c, const config_setting_t *group,
    const char *key, const char *const *names, const char *what);

/* names (NULL-ended) as "a, b or c" in buf, for messages; returns buf. */
const char *cfg_names(const char *const *names, char *buf, size_t bufsz);

/* The same for an integer within [min, max]. */
bool cfg_int(const struct cfg *c, const config_setting_t *group,
    const char *key, bool required, long long min, long long max, int *out,
    const char *what);

/* The same for a boolean. */
bool cfg_bool(const struct cfg *c, const config_setting_t *group,
    const char *key, bool *out, const char *what);

/*
 * An array or list of strings. On success *out is a new NULL-ended array of
 * copies that the caller frees with strv_free, and lines (when not NULL)
 * a new array of each element's line. Mistyped elements are reported and
 * left out.
 */
bool cfg_strings(const struct cfg *c, const config_setting_t *group,
    const char *key, bool required, char ***out, size_t *n, int **lines,
    const char *what);

/*
 * A command at key of group: a list of words, the first the program's
 * path (relative to the file that names it, never looked up in PATH),
 * which must be an executable file. Returns true when the key is there;
 * *argv is then a new NULL-ended array of *n words (strv_free) with
 * argv[0] resolved, and every mistake (no word, control characters, no
 * path, nothing runnable there) is recorded with its line. what names the
 * group ("ca", "hooks").
 */
bool cfg_command(const struct cfg *c, const config_setting_t *group,
    const char *key, bool required, const char *what, char ***argv,
    size_t *n);

/* A resolved copy of path: relative paths are taken from the directory of
 * the file that names them. NULL when out of memory. */
char *cfg_path(const struct cfg *c, const config_setting_t *s,
    const char *path);

#endif
