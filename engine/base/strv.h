/*
 * NULL-ended arrays of owned strings (argument vectors, name lists): the
 * one place they are copied and freed.
 */
#ifndef CF_STRV_H
#define CF_STRV_H

/* Frees every string of v, then v; v may be NULL. */
void strv_free(char **v);

/* A deep copy of v, to be freed with strv_free. NULL when v is NULL or
 * memory runs out (the caller tells them apart by v). */
char **strv_dup(char *const *v);

#endif
