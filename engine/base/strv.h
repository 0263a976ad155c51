/*
 * NULL-ended arrays of owned strings (argument vectors, name lists): the
 * one place they are copied and freed.
 */
#ifndef CF_STRV_H
#define CF_STRV_H

#include <stddef.h>

/* Frees every string of v, then v; v may be NULL. */
void strv_free(char **v);

/* A deep copy of v, to be freed with strv_free. NULL when v is NULL or
 * memory runs out (the caller tells them apart by v). */
char **strv_dup(char *const *v);

/* Appends a copy of s to *v, which holds *n strings and a NULL; *v may be
 * NULL when *n is 0. Returns 0, or CF_ENOMEM with *v still valid. */
int strv_append(char ***v, size_t *n, const char *s);

#endif
