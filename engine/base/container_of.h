/*
 * container_of: the struct that holds a member, found from the member's
 * address. Handles (uv_timer_t, uv_work_t...) and interface structs
 * (struct transport, struct ca_driver) live inside their owner, and the
 * owner is found again this way, never by a cast that needs the member to
 * come first (libuv's src/uv-common.h).
 */
#ifndef CF_CONTAINER_OF_H
#define CF_CONTAINER_OF_H

#include <stddef.h>

#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#endif
