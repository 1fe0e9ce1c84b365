/*
 * test_socket_opts.c — TCP_CONGESTION through fn_setsockopt / fn_getsockopt with Linux's
 * argument rules (do_tcp_setsockopt / do_tcp_getsockopt): the name in, the name NUL-padded
 * to 16 bytes out, ENOENT for a name no algorithm has, and a listener's choice reaching the
 * connections it accepts.  Where the kernel's own answer can be had without traffic (a
 * setsockopt on an unconnected kernel socket), the test asks the kernel of this machine too
 * and requires the same errno.  Two stacks over the memory link (sock_harness.h).
 */
#include <unistd.h>

#include "sock_harness.h"

#define CA_NAME_MAX 16

/* The algorithm fd reports, as a string; "" with errno set on failure. */
static const char *cc_get(struct fn_stack *st, int fd)
{
    static char name[CA_NAME_MAX + 1];
    socklen_t len = CA_NAME_MAX;

    memset(name, 0, sizeof(name));
    if (fn_getsockopt(st, fd, IPPROTO_TCP, TCP_CONGESTION, name, &len) < 0 ||
        len != CA_NAME_MAX)
        return "";
    return name;
}

/* The stack's default (cfg.tcp_cc of the harness's configuration) and the other one, so a
 * check for a chosen algorithm cannot pass by its being the default anyway. */
static const char *cc_default(void)
{
    struct fn_config c;

    sh_cfg(&c, IP_A);
    return fn_config_cc_name(c.tcp_cc);
}

static const char *cc_other(void)
{
    return strcmp(cc_default(), "cubic") == 0 ? "newreno" : "cubic";
}

static int cc_set(struct fn_stack *st, int fd, const char *name)
{
    return fn_setsockopt(st, fd, IPPROTO_TCP, TCP_CONGESTION, name, (socklen_t)strlen(name));
}

/* errno of the kernel's setsockopt(TCP_CONGESTION) for these bytes, 0 if it accepted. */
static int kernel_cc_errno(const void *val, socklen_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), err = 0;

    if (fd < 0)
        return -1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, val, len) < 0)
        err = errno;
    close(fd);
    return err;
}

FN_TEST(congestion_get_is_the_default_nul_padded_then_what_was_set)
{
    SH_SETUP();
    int fd = sh_socket_nb(t.sa);
    char buf[40];
    socklen_t len;

    FN_CHECK(fd >= 0);
    /* Before any set: the stack's default (cfg.tcp_cc). */
    FN_CHECK(strcmp(cc_get(t.sa, fd), cc_default()) == 0);
    FN_CHECK_EQ(cc_set(t.sa, fd, "newreno"), 0);
    /* Linux copies min(optlen, 16) bytes of the NUL-padded name. */
    memset(buf, 'x', sizeof(buf));
    len = sizeof(buf);
    FN_CHECK_EQ(fn_getsockopt(t.sa, fd, IPPROTO_TCP, TCP_CONGESTION, buf, &len), 0);
    FN_CHECK_EQ(len, CA_NAME_MAX);
    FN_CHECK(memcmp(buf, "newreno\0\0\0\0\0\0\0\0\0", CA_NAME_MAX) == 0);
    FN_CHECK_EQ(buf[CA_NAME_MAX], 'x');
    memset(buf, 'x', sizeof(buf));
    len = 3;
    FN_CHECK_EQ(fn_getsockopt(t.sa, fd, IPPROTO_TCP, TCP_CONGESTION, buf, &len), 0);
    FN_CHECK_EQ(len, 3);
    FN_CHECK(memcmp(buf, "newx", 4) == 0);
    FN_CHECK_EQ(cc_set(t.sa, fd, "cubic"), 0);
    FN_CHECK(strcmp(cc_get(t.sa, fd), "cubic") == 0);
    /* The name ends at a NUL within optlen (strncpy_from_user). */
    FN_CHECK_EQ(fn_setsockopt(t.sa, fd, IPPROTO_TCP, TCP_CONGESTION, "newreno\0zz", 10), 0);
    FN_CHECK(strcmp(cc_get(t.sa, fd), "newreno") == 0);
    FN_CHECK_EQ(fn_close(t.sa, fd), 0);
    SH_TEARDOWN();
}

FN_TEST(congestion_unknown_name_is_enoent_as_the_kernel_says)
{
    SH_SETUP();
    int fd = sh_socket_nb(t.sa);
    /* Unknown names: plain, empty string, one a prefix too long to be read whole (Linux
     * reads 15 bytes: "cubicccccccccccc" becomes "cubiccccccccccc"), and a case variant. */
    static const char *const bad[] = {"nosuch", "cubicccccccccccccc", "CUBIC", "cubic "};

    FN_CHECK(fd >= 0);
    FN_CHECK_EQ(cc_set(t.sa, fd, "newreno"), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        socklen_t len = (socklen_t)strlen(bad[i]);

        FN_CHECK_EQ(fn_setsockopt(t.sa, fd, IPPROTO_TCP, TCP_CONGESTION, bad[i], len), -1);
        FN_CHECK_EQ(errno, ENOENT);
        FN_CHECK_EQ(kernel_cc_errno(bad[i], len), ENOENT);
    }
    /* A lone NUL is the empty name: ENOENT; optlen 0: EINVAL — both as the kernel. */
    FN_CHECK_EQ(fn_setsockopt(t.sa, fd, IPPROTO_TCP, TCP_CONGESTION, "", 1), -1);
    FN_CHECK_EQ(errno, ENOENT);
    FN_CHECK_EQ(kernel_cc_errno("", 1), ENOENT);
    FN_CHECK_EQ(fn_setsockopt(t.sa, fd, IPPROTO_TCP, TCP_CONGESTION, "cubic", 0), -1);
    FN_CHECK_EQ(errno, EINVAL);
    FN_CHECK_EQ(kernel_cc_errno("cubic", 0), EINVAL);
    FN_CHECK_EQ(fn_setsockopt(t.sa, fd, IPPROTO_TCP, TCP_CONGESTION, NULL, 5), -1);
    FN_CHECK_EQ(errno, EFAULT);
    /* A failed set changes nothing. */
    FN_CHECK(strcmp(cc_get(t.sa, fd), "newreno") == 0);
    FN_CHECK_EQ(fn_close(t.sa, fd), 0);
    SH_TEARDOWN();
}

FN_TEST(congestion_set_before_connect_reaches_the_connection_and_can_change_on_it)
{
    SH_SETUP();
    struct sockaddr_in b = sh_addr(IP_B, SH_PORT);
    int l = sh_listen(&t, 8), c = sh_socket_nb(t.sa), s;
    const char *other;

    FN_CHECK(l >= 0 && c >= 0);
    other = cc_other();
    FN_CHECK_EQ(cc_set(t.sa, c, other), 0);
    FN_CHECK_EQ(fn_connect(t.sa, c, SA(b), sizeof(b)), -1);
    FN_CHECK_EQ(errno, EINPROGRESS);
    sh_run(&t);
    s = fn_accept4(t.sb, l, NULL, NULL, SOCK_NONBLOCK);
    FN_CHECK(s >= 0);
    FN_CHECK(strcmp(cc_get(t.sa, c), other) == 0);
    /* The server side kept the default: the choice is per socket. */
    FN_CHECK(strcmp(cc_get(t.sb, s), cc_default()) == 0);
    /* Mid-connection switch (Linux tcp_reinit_congestion_control), data still flows. */
    FN_CHECK_EQ(cc_set(t.sb, s, other), 0);
    FN_CHECK(strcmp(cc_get(t.sb, s), other) == 0);
    FN_CHECK_EQ(fn_send(t.sb, s, "ping", 4, 0), 4);
    sh_run(&t);
    {
        char buf[8];
        FN_CHECK_EQ(fn_recv(t.sa, c, buf, sizeof(buf), 0), 4);
        FN_CHECK(memcmp(buf, "ping", 4) == 0);
    }
    SH_TEARDOWN();
}

/* A listener's choice, made before or after listen(), passes to what it accepts. */
static void listener_passes_cc(int *fn_test_failed, int set_after_listen)
{
    SH_SETUP();
    struct sockaddr_in a = sh_addr(0, SH_PORT);
    int l = sh_socket_nb(t.sb), c, s;
    const char *other = cc_other();

    FN_CHECK(l >= 0);
    FN_CHECK_EQ(fn_bind(t.sb, l, SA(a), sizeof(a)), 0);
    if (!set_after_listen)
        FN_CHECK_EQ(cc_set(t.sb, l, other), 0);
    FN_CHECK_EQ(fn_listen(t.sb, l, 8), 0);
    if (set_after_listen)
        FN_CHECK_EQ(cc_set(t.sb, l, other), 0);
    FN_CHECK(strcmp(cc_get(t.sb, l), other) == 0);
    FN_CHECK_EQ(sh_pair(&t, l, &c, &s), 0);
    FN_CHECK(strcmp(cc_get(t.sb, s), other) == 0);
    /* The client did not choose: the default. */
    FN_CHECK(strcmp(cc_get(t.sa, c), cc_default()) == 0);
    SH_TEARDOWN();
}

FN_TEST(congestion_of_a_listener_set_before_listen_passes_to_accepted)
{
    listener_passes_cc(fn_test_failed, 0);
}

FN_TEST(congestion_of_a_listener_set_after_listen_passes_to_accepted)
{
    listener_passes_cc(fn_test_failed, 1);
}

FN_TEST_MAIN()
