/*
 * Environments of the commands certfleet starts (reload commands, hooks,
 * CA helpers): NULL-ended arrays of "NAME=value" strings, built, checked
 * and merged here. A value is any bytes but NUL; it reaches a command
 * through its environment only, never through a command line or a shell.
 */
#ifndef CF_ENV_H
#define CF_ENV_H

#include <stdbool.h>
#include <stddef.h>

/* A growing environment; { 0 } is an empty one. */
struct env {
	char **v;                   /* NULL-ended, or NULL while empty */
	size_t n, cap;
	bool oom;                   /* an append failed: memory ran out */
};

/* Frees what e holds; e is then empty. */
void env_release(struct env *e);

/* Appends s, which e then owns; NULL (a failed allocation) marks e oom. */
void env_push(struct env *e, char *s);

/* Appends "name=value" (value may be empty). */
void env_set(struct env *e, const char *name, const char *value);

/*
 * Hands over e's array (NULL-ended, never NULL; strv_free) and empties e.
 * NULL when e is oom or memory runs out: e is then released.
 */
char **env_take(struct env *e);

/* True when the len bytes at name fit [A-Z_][A-Z0-9_]*. */
bool env_name_valid(const char *name, size_t len);

/*
 * 0 when env (NULL-ended; NULL: none) holds only "NAME=value" entries with
 * a valid NAME, each name once; CF_EINVAL otherwise.
 */
int env_check(char *const *env);

/*
 * A new environment (strv_free): base's entries whose names add does not
 * set, then add's. base and add may be NULL. NULL when memory runs out.
 */
char **env_merge(char *const *base, char *const *add);

#endif
