/*
 * Template variables: "{{name}}", "{{address}}", "{{fleet}}" and
 * "{{vars.KEY}}", expanded per server. A variable that does not resolve is
 * an error, never an empty string: a certificate for "CN=.contoso.test" is
 * worse than no certificate.
 */
#ifndef CF_VARS_H
#define CF_VARS_H

#include <stdbool.h>
#include <stddef.h>

struct var {
	char *key;
	char *value;
};

/* A small ordered map of a server's variables. */
struct vars {
	struct var *v;
	size_t n;
};

void vars_init(struct vars *vs);
void vars_release(struct vars *vs);

/* Sets key to a copy of value, replacing an earlier value. 0 or CF_ENOMEM. */
int vars_set(struct vars *vs, const char *key, const char *value);

/* The value of key, or NULL. */
const char *vars_get(const struct vars *vs, const char *key);

/* True when key is a valid variable name: [A-Za-z_][A-Za-z0-9_]*. */
bool vars_key_valid(const char *key);

/* Resolves one variable name (already trimmed), or returns NULL. */
typedef const char *(*vars_lookup_fn)(void *ctx, const char *name);

/*
 * Expands every {{...}} in in. Returns 0 with *out a new string the caller
 * frees; CF_EINVAL for a syntax error, CF_ENOENT for a variable lookup does
 * not know (both with the reason in msg); CF_ENOMEM.
 */
int vars_expand(const char *in, vars_lookup_fn lookup, void *ctx,
    char **out, char *msg, size_t msgsz);

/* Checks the {{...}} syntax of in without resolving anything. */
int vars_check_syntax(const char *in, char *msg, size_t msgsz);

#endif
