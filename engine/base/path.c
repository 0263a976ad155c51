/*
 * Path string helpers. The fleet check uses path_is_confined on every path
 * that a server's files are written under, so that no inventory value can
 * walk out of the directory it is meant for.
 */
#include "engine/base/path.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *path_join(const char *dir, const char *name)
{
	size_t dl, nl;
	char *p;

	if (dir == NULL || *dir == '\0' || name[0] == '/')
		return strdup(name);
	dl = strlen(dir);
	nl = strlen(name);
	while (dl > 1 && dir[dl - 1] == '/')
		dl--;
	if ((p = malloc(dl + nl + 2)) == NULL)
		return NULL;
	memcpy(p, dir, dl);
	p[dl] = '/';
	memcpy(p + dl + 1, name, nl + 1);
	return p;
}

char *path_absolute(const char *path)
{
	char *cwd, *p;

	if (path[0] == '/' || (cwd = getcwd(NULL, 0)) == NULL)
		return strdup(path);
	p = path_join(cwd, path);
	free(cwd);
	return p;
}

char *path_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *p;

	if (slash == NULL)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	if ((p = malloc((size_t)(slash - path) + 1)) == NULL)
		return NULL;
	memcpy(p, path, (size_t)(slash - path));
	p[slash - path] = '\0';
	return p;
}

bool str_has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

bool path_is_confined(const char *path)
{
	const char *p = path;

	if (*path == '\0' || str_has_control(path))
		return false;
	while (*p) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return false;
		if (e == NULL)
			break;
		p = e + 1;
	}
	return true;
}
