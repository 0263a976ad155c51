/* What every CA driver shares: the reply's lifetime. */
#include "engine/ca/ca.h"
#include "engine/base/strv.h"

#include <stdlib.h>
#include <string.h>

void ca_reply_release(struct ca_reply *r)
{
	free(r->ref);
	free(r->cert_pem);
	free(r->status_text);
	free(r->detail);
	strv_free(r->alt_pem);
	memset(r, 0, sizeof(*r));
}
