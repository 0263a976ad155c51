/*
 * Error texts from the one X-macro table in err.h, and cf_error(). It only
 * formats into the caller's buffer; it never prints.
 */
#include "engine/err.h"

#include <stdarg.h>
#include <stdio.h>

const char *cf_strerror(int code)
{
	switch (code) {
	case CF_OK:
		return "success";
#define XX(c, text) case CF_##c: return text;
	CF_ERRNO_MAP(XX)
#undef XX
	default:
		return "unknown error";
	}
}

int cf_error(char *msg, size_t msgsz, int code, const char *fmt, ...)
{
	va_list ap;

	if (msg != NULL && msgsz > 0) {
		va_start(ap, fmt);
		vsnprintf(msg, msgsz, fmt, ap);
		va_end(ap);
	}
	return code;
}
