/*
 * The remote helper the ssh transport feeds to a fixed 'sh -s' on each
 * server: engine/transport/ssh_remote.sh, compiled in by the Makefile.
 */
#ifndef CF_SSH_SCRIPT_H
#define CF_SSH_SCRIPT_H

extern const char ssh_remote_script[];

#endif
