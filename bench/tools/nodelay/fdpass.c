/* ProxyCommand helper for the benchmark's "what each SSH setting costs":
 * connects to HOST PORT, sets TCP_NODELAY, and hands the socket to ssh
 * (`-o ProxyCommand='fdpass %h %p' -o ProxyUseFdpass=yes`), so ssh runs on
 * a socket without Nagle's algorithm, which OpenSSH does not turn off for
 * non-interactive connections. */
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv) {
    struct addrinfo hints = {0}, *res; hints.ai_socktype = SOCK_STREAM;
    if (argc < 3 || getaddrinfo(argv[1], argv[2], &hints, &res)) return 1;
    int s = socket(res->ai_family, SOCK_STREAM, 0);
    int one = 1; setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(s, res->ai_addr, res->ai_addrlen)) return 1;
    char c = 0; struct iovec iov = {&c, 1};
    char buf[CMSG_SPACE(sizeof(int))]; memset(buf, 0, sizeof buf);
    struct msghdr m = {0}; m.msg_iov = &iov; m.msg_iovlen = 1; m.msg_control = buf; m.msg_controllen = sizeof buf;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m); cm->cmsg_level = SOL_SOCKET; cm->cmsg_type = SCM_RIGHTS; cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &s, sizeof(int));
    return sendmsg(1, &m, 0) == 1 ? 0 : 1;
}
