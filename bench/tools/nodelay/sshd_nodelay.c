/* LD_PRELOAD shim for the benchmark's "what each SSH setting costs": makes
 * sshd set TCP_NODELAY on its connections (sshd re-execs itself for every
 * connection with the socket on fd 0, so a constructor is enough; accept()
 * covers -r). Only ever loaded into the benchmark's own loopback sshd. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

static void nodelay(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

__attribute__((constructor)) static void init(void) { nodelay(0); }

int accept(int fd, struct sockaddr *addr, socklen_t *len) {
    static int (*real)(int, struct sockaddr *, socklen_t *);
    if (!real)
        real = (int (*)(int, struct sockaddr *, socklen_t *))dlsym(RTLD_NEXT, "accept");
    int s = real(fd, addr, len);
    if (s >= 0)
        nodelay(s);
    return s;
}
