/* NULL-ended string arrays: copies and frees. */
#include "engine/base/strv.h"
#include "engine/base/err.h"

#include <stdlib.h>
#include <string.h>

void strv_free(char **v)
{
	size_t i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

char **strv_dup(char *const *v)
{
	size_t n = 0, i;
	char **d;

	if (v == NULL)
		return NULL;
	while (v[n])
		n++;
	if ((d = calloc(n + 1, sizeof(*d))) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if ((d[i] = strdup(v[i])) == NULL) {
			strv_free(d);
			return NULL;
		}
	return d;
}

int strv_append(char ***v, size_t *n, const char *s)
{
	char **w = realloc(*v, (*n + 2) * sizeof(*w));

	if (w == NULL)
		return CF_ENOMEM;
	*v = w;
	if ((w[*n] = strdup(s)) == NULL) {
		w[*n] = NULL;
		return CF_ENOMEM;
	}
	w[++*n] = NULL;
	return 0;
}
