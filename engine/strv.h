/*
 * NULL-ended arrays of owned strings (argument vectors, name lists): the
 * one place they are freed.
 */
#ifndef CF_STRV_H
#define CF_STRV_H

/* Frees every string of v, then v; v may be NULL. */
void strv_free(char **v);

#endif
