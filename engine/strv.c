/* NULL-ended string arrays. */
#include "engine/strv.h"

#include <stdlib.h>

void strv_free(char **v)
{
	size_t i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}
