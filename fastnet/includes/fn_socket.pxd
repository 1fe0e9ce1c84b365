# Mirror of stack/include/fastnet/fn_socket.h and fn_event.h (the parts the bindings use).
from libc.stdint cimport uint32_t, uint64_t

from fastnet.includes.fn_stack cimport fn_stack


cdef extern from "<sys/socket.h>" nogil:
    ctypedef unsigned int socklen_t
    struct sockaddr:
        pass


cdef extern from "<netinet/in.h>" nogil:
    struct in_addr:
        uint32_t s_addr
    struct sockaddr_in:
        unsigned short sin_family
        unsigned short sin_port
        in_addr sin_addr


cdef extern from "<sys/epoll.h>" nogil:
    union epoll_data_t "epoll_data":
        uint64_t u64
    struct epoll_event:
        uint32_t events
        epoll_data_t data


cdef extern from "fastnet/fn_socket.h" nogil:
    int fn_socket(fn_stack *st, int domain, int type, int protocol)
    int fn_bind(fn_stack *st, int fd, const sockaddr *addr, socklen_t addrlen)
    int fn_listen(fn_stack *st, int fd, int backlog)
    int fn_accept4(fn_stack *st, int fd, sockaddr *addr, socklen_t *addrlen, int flags)
    int fn_connect(fn_stack *st, int fd, const sockaddr *addr, socklen_t addrlen)
    ssize_t fn_recv(fn_stack *st, int fd, void *buf, size_t len, int flags)
    ssize_t fn_send(fn_stack *st, int fd, const void *buf, size_t len, int flags)
    int fn_shutdown(fn_stack *st, int fd, int how)
    int fn_close(fn_stack *st, int fd)
    int fn_getsockname(fn_stack *st, int fd, sockaddr *addr, socklen_t *addrlen)
    int fn_getpeername(fn_stack *st, int fd, sockaddr *addr, socklen_t *addrlen)
    int fn_getsockopt(fn_stack *st, int fd, int level, int optname, void *optval,
                      socklen_t *optlen)
    int fn_setsockopt(fn_stack *st, int fd, int level, int optname, const void *optval,
                      socklen_t optlen)
    int fn_ioctl(fn_stack *st, int fd, unsigned long request, void *arg)
    unsigned fn_socket_count(const fn_stack *st)
    struct fn_zc_iov:
        const void *base
        size_t len
    ssize_t fn_zc_recv(fn_stack *st, int fd, fn_zc_iov *iov, int max, int flags)
    int fn_zc_release(fn_stack *st, int fd, int count)
    void *fn_zc_alloc(fn_stack *st, int fd, size_t *cap)
    ssize_t fn_zc_send(fn_stack *st, int fd, void *buf, size_t len, int flags)
    int fn_zc_free(fn_stack *st, int fd, void *buf)
    ctypedef void (*fn_block_hook)(void *arg, uint64_t now_ns) noexcept
    void fn_socket_set_block_hook(fn_stack *st, fn_block_hook fn, void *arg)


cdef extern from "fastnet/fn_event.h" nogil:
    int fn_epoll_create1(fn_stack *st, int flags)
    int fn_epoll_ctl(fn_stack *st, int epfd, int op, int fd, epoll_event *event)
    int fn_epoll_wait(fn_stack *st, int epfd, epoll_event *events, int maxevents,
                      int timeout_ms)
