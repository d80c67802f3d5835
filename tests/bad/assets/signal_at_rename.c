/* signal_at_rename.c — an LD_PRELOAD shim of the bad-input corpus: the Nth rename(2) to a final
 * name (a destination outside every hidden folder, i.e. not inside a writer's temporary folder)
 * sends SIGTERM to its own process and waits half a second before it renames, so that the signal
 * is taken while outputs are being renamed into place. HSI_SIGNAL_AT_RENAME=N; unset: no signal.
 *   cc -shared -fPIC -o k.so signal_at_rename.c -ldl */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int rename(const char *from, const char *to)
{
    static int (*real)(const char *, const char *);
    static int seen;
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "rename");
    const char *n = getenv("HSI_SIGNAL_AT_RENAME");
    if (n && !strstr(to, "/.") && ++seen == atoi(n)) {
        fprintf(stderr, "signal_at_rename: SIGTERM at the rename to %s\n", to);
        kill(getpid(), SIGTERM);   /* to the process: its signal thread takes it */
        usleep(500000);
    }
    return real(from, to);
}
