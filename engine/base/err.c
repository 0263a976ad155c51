/*
 * Error texts from the one X-macro table in err.h, cf_error() and the errno
 * mapping. It only formats into the caller's buffer; it never prints.
 */
#include "engine/base/err.h"

#include <errno.h>
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

int cf_errno_code(int e)
{
	switch (e) {
	case ENOENT:
		return CF_ENOENT;
	case ENOMEM:
		return CF_ENOMEM;
	default:
		return CF_EIO;
	}
}
