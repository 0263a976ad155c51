/*
 * Safe local file operations: atomic replacement (temporary file, fsync,
 * rename, directory fsync), mkdir -p, bounded whole-file reads, removal and
 * the run lock. Used for the state directory and by the local transport,
 * whose servers are directories on this machine. Plain blocking calls on
 * the calling thread; nothing here prints, and no file is ever written in
 * place, so a crash leaves either the old content or the new, never a mix.
 */
#ifndef CF_FSIO_H
#define CF_FSIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Replaces path with len bytes of data. The bytes go to a new temporary
 * file in the same directory (".NAME.RANDOM.tmp", created with O_EXCL and
 * O_NOFOLLOW, so a planted file or symlink is never written through),
 * whose permissions are set to exactly mode, whatever the umask, before the
 * first byte is written; then fsync, rename over path, fsync the directory.
 * If path itself is a symlink, the link is replaced, not its target.
 * Returns 0, or CF_ENOENT (directory missing), CF_ENOMEM or CF_EIO with
 * "cannot write 'PATH': <strerror>" in msg; on failure the temporary file is
 * removed and the old file is left untouched. One exception: if only the
 * final directory fsync fails, the new file is in place but may not survive
 * a power loss, and CF_EIO is returned all the same.
 */
int fsio_write_atomic(const char *path, const void *data, size_t len,
    mode_t mode, char *msg, size_t msgsz);

/*
 * Like fsio_write_atomic, but path is only ever created, never replaced:
 * the complete temporary file is link(2)ed to path, which fails when
 * path exists. Of processes racing to create one file, exactly one wins,
 * and none ever sees it half written. Returns 0, CF_EEXIST (path exists,
 * left untouched; nothing in msg), or as fsio_write_atomic does.
 */
int fsio_write_new(const char *path, const void *data, size_t len,
    mode_t mode, char *msg, size_t msgsz);

/*
 * Creates path and every missing parent (mkdir -p). Directories it creates
 * get exactly mode, whatever the umask; existing ones are left as they are.
 * Returns 0, or CF_EEXIST when a component exists and is not a directory,
 * CF_ENOMEM or CF_EIO, with the reason in msg.
 */
int fsio_mkdirs(const char *path, mode_t mode, char *msg, size_t msgsz);

/*
 * Reads the whole of path (symlinks are followed) into *data, which is
 * NUL-terminated one byte past *len and which the caller frees. Refuses a
 * file larger than max bytes with CF_EINVAL. Returns 0, or CF_ENOENT when
 * the file is missing, CF_ENOMEM or CF_EIO; on failure *data is NULL and
 * *len is 0.
 */
int fsio_read_file(const char *path, size_t max, char **data, size_t *len,
    char *msg, size_t msgsz);

/*
 * Reads the rest of the file open on fd, at most max bytes, into *data,
 * NUL-terminated one byte past *len; the caller frees it (with
 * crypto_secret_free(*data, *len + 1) when it may hold a key). Returns 0,
 * CF_EINVAL when the file is longer than max, CF_ENOMEM, or CF_EIO with
 * errno set; on failure *data is NULL and what was read is cleansed.
 */
int fsio_read_fd(int fd, size_t max, char **data, size_t *len);

/* Removes the file path; a missing file is fine. Returns 0 or CF_EIO. */
int fsio_remove(const char *path, char *msg, size_t msgsz);

/*
 * Takes the run lock: opens or creates the lock file path (0600, its
 * directory must exist) and takes a non-blocking exclusive flock(2) on it,
 * then writes our pid into it. A kernel lock, not a pid file, because the
 * kernel drops it when the holder dies, even by SIGKILL; flock locks belong
 * to the open file description, so a second fsio_lock in the same process
 * fails too. Returns 0 with the descriptor in *fd (the caller keeps it
 * until fsio_unlock), or CF_ELOCKED with "another run holds the lock 'PATH'
 * (pid N)", or CF_EIO.
 */
int fsio_lock(const char *path, int *fd, char *msg, size_t msgsz);

/*
 * Takes a shared flock(2) on path, as fsio_lock does an exclusive one:
 * any number of shared holders at once, none while an exclusive one holds
 * it, and the other way round. It writes no pid (several hold it).
 * Returns 0 with *fd, CF_ELOCKED ("another run holds the lock 'PATH'
 * (pid N)", N the exclusive holder's) or CF_EIO.
 */
int fsio_lock_shared(const char *path, int *fd, char *msg, size_t msgsz);

/* Releases a lock taken by fsio_lock or fsio_lock_shared and closes fd;
 * fd < 0 is ignored. */
void fsio_unlock(int fd);

/*
 * Creates name in the directory open on dfd (AT_FDCWD: name is a path);
 * it must not exist (O_EXCL | O_NOFOLLOW). It has exactly mode from its
 * first byte, whatever the umask; then data is written and synced.
 * Returns 0, or -1 with errno set and no file left behind.
 */
int fsio_write_new_at(int dfd, const char *name, const void *data,
    size_t len, unsigned mode);

/* fsync(fd), where a file system that cannot sync a directory (EINVAL)
 * is no failure. Returns 0 or -1 with errno set. */
int fsio_sync_fd(int fd);

/* Makes a rename, link or unlink in dir durable (fsio_sync_fd on it).
 * Returns 0 or -1 with errno set. */
int fsio_sync_dir(const char *dir);

/* A random 64-bit value for temporary and version names: not a secret
 * (O_EXCL makes a guessed name harmless), it only avoids retries. */
uint64_t fsio_random64(void);

#endif
