/*
 * tcp_icmp.c — ICMP errors about segments we sent (RFC 1122 §4.2.3.9, RFC 5927, RFC 1191).
 *
 * Contract: tcp_ctlinput() is IP's ctlinput for protocol 6; icmp.c has checked that the
 * quote holds our IPv4 header and 8 bytes of TCP header (ports and sequence number).  An
 * error counts only for a connection whose quoted sequence number is in flight,
 * SND.UNA <= SEG.SEQ < SND.MAX (RFC 5927 §4.1: a blind attacker cannot guess it); others are
 * counted and ignored.  Then:
 *   - fragmentation needed (type 3 code 4): t_maxseg drops to next-hop MTU − 40 (RFC 1191
 *     §3; a plateau below the quoted length when the router gave no MTU, §5 / §7), never
 *     below cfg.tcp_min_mss and never up, and what is in flight goes again at once; ten
 *     minutes after the last such message the MSS it lowered is tried again (§6.3, at the
 *     next tcp_output: tcp_pmtu_check), and a router still too small says so again;
 *   - port / protocol unreachable and administratively prohibited while connecting
 *     (SYN_SENT): the attempt fails at once with ECONNREFUSED;
 *   - anything else (and every unreachable once synchronized, RFC 5927 §4.2 — a hard error
 *     would let an attacker reset connections): a soft error in t_softerror, reported instead
 *     of ETIMEDOUT if the connection later times out (as Linux).
 * May free the tcpcb (refused).  Stack-owner core only; never allocates.
 */
#include <errno.h>

#include "core/fn_stack_impl.h"
#include "net/fn_ip.h"
#include "tcp/tcp_var.h"
#include "wire/fn_wire.h"

#define ICMP_UNREACH_NET_UNKNOWN 6u    /* RFC 1122 §3.2.2.1 codes */
#define ICMP_UNREACH_NET_PROHIB  9u
#define ICMP_UNREACH_HOST_PROHIB 10u
#define ICMP_UNREACH_TOSNET      11u
#define ICMP_UNREACH_ADMIN       13u   /* RFC 1812 §5.2.7.1: communication prohibited */
#define IP_MIN_MTU 68u                 /* RFC 791: every host takes 68-byte datagrams */
/* RFC 1191 §6.3: not less than 5 minutes after a Datagram Too Big, 10 recommended. */
#define PMTU_RAISE_NS (600ull * 1000000000ull)

/* RFC 1191 §7, table 7-1: the MTU plateaus, largest first. */
static const uint16_t mtu_plateaus[] = {65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006,
                                        508, 296, IP_MIN_MTU};

/* The path MTU to assume when the router did not say (RFC 1191 §5): the largest plateau
 * below the length of the datagram it could not forward. */
static uint32_t plateau_below(uint32_t len)
{
    for (unsigned i = 0; i < sizeof(mtu_plateaus) / sizeof(mtu_plateaus[0]); i++) {
        if (mtu_plateaus[i] < len)
            return mtu_plateaus[i];
    }
    return IP_MIN_MTU;
}

/* RFC 1191 §6.1 / RFC 6691: a smaller path MTU; resend what is in flight in segments that
 * fit, without waiting for the retransmission timer. */
static void pmtu_update(struct tcpcb *tp, const struct fn_icmp_err *e, uint64_t now)
{
    const struct fn_config *c = tcp_cfg(tp);
    uint32_t mtu = e->next_mtu, mss;

    if (!TCPS_HAVEESTABLISHED(tp->t_state))
        return;         /* a SYN is far below any MTU; the data phase will learn it */
    if (mtu < IP_MIN_MTU) {
        /* No (or an impossible) next-hop MTU: guess from the datagram's own length, or
         * failing that from the segments we send now. */
        uint32_t len = e->qip.total_len > IP_MIN_MTU ? e->qip.total_len
                                                      : (uint32_t)tp->t_maxseg + FN_IPV4_HLEN +
                                                            FN_TCP_HLEN;
        mtu = plateau_below(len);
    }
    mss = mtu - FN_IPV4_HLEN - FN_TCP_HLEN;
    if (mss < c->tcp_min_mss)
        mss = c->tcp_min_mss;   /* a floor against an MSS shrunk to nothing */
    if (tp->t_pmtu_mss != 0)
        tp->t_pmtu_raise = now + PMTU_RAISE_NS;     /* §6.3: the path is still small */
    if (mss >= tp->t_maxseg)
        return;                 /* RFC 1191 §6.3: a Datagram Too Big never raises the PMTU */
    if (tp->t_pmtu_mss == 0) {
        tp->t_pmtu_mss = tp->t_maxseg;
        tp->t_pmtu_raise = now + PMTU_RAISE_NS;
    }
    tp->t_maxseg = (uint16_t)mss;
    tp->t_stack->stats.tcp_pmtu_changes++;
    tp->snd_nxt = tp->snd_una;
    tp->t_rtttime = 0;          /* Karn: the timed segment is sent again */
    tcp_output(tp, now);
}

/* RFC 1191 §6.3: the path may have grown; send the MSS it had before it was lowered (the
 * peer's MSS and our MTU bounded that already; TCP_MAXSEG may have shrunk since).  If the
 * path is still small, a new Datagram Too Big lowers it again. */
void tcp_pmtu_raise(struct tcpcb *tp)
{
    uint32_t mss = tp->t_pmtu_mss;

    tp->t_pmtu_mss = 0;
    if (tp->t_user_mss && mss > tp->t_user_mss)
        mss = tp->t_user_mss;
    if (mss > tp->t_maxseg)
        tp->t_maxseg = (uint16_t)mss;
}

/* The errno an error stands for (as Linux reports them). */
static int icmp_errno(const struct fn_icmp_err *e)
{
    if (e->type == FN_ICMP_PARAM_PROB)
        return EPROTO;
    if (e->type != FN_ICMP_UNREACH)
        return EHOSTUNREACH;    /* time exceeded: the path loops or is too long */
    switch (e->code) {
    case FN_ICMP_UNREACH_NET:
    case ICMP_UNREACH_NET_UNKNOWN:
    case ICMP_UNREACH_NET_PROHIB:
    case ICMP_UNREACH_TOSNET:
        return ENETUNREACH;
    case FN_ICMP_UNREACH_PROTO:
    case FN_ICMP_UNREACH_PORT:
        return ECONNREFUSED;
    default:
        return EHOSTUNREACH;
    }
}

/* RFC 1122 §4.2.3.9: the codes that say "nobody will take this connection". */
static int refuses(const struct fn_icmp_err *e)
{
    return e->type == FN_ICMP_UNREACH &&
           (e->code == FN_ICMP_UNREACH_PROTO || e->code == FN_ICMP_UNREACH_PORT ||
            e->code == ICMP_UNREACH_NET_PROHIB || e->code == ICMP_UNREACH_HOST_PROHIB ||
            e->code == ICMP_UNREACH_ADMIN);
}

void tcp_ctlinput(struct fn_stack *st, void *arg, const struct fn_icmp_err *e, uint64_t now)
{
    struct fn_tcp *tcp = arg;
    struct tcpcb *tp;
    uint16_t lport, fport;
    uint32_t seq;

    if (e->ql4_len < 8) {
        st->stats.tcp_icmp_noconn++;    /* icmp.c never passes one; a quote names no port */
        return;
    }
    lport = (uint16_t)(e->ql4[0] << 8 | e->ql4[1]);
    fport = (uint16_t)(e->ql4[2] << 8 | e->ql4[3]);
    seq = (uint32_t)e->ql4[4] << 24 | (uint32_t)e->ql4[5] << 16 | (uint32_t)e->ql4[6] << 8 |
          e->ql4[7];
    tp = tcp_lookup(tcp, e->qip.dst, fport, lport);
    if (!tp) {
        st->stats.tcp_icmp_noconn++;
        return;
    }
    /* RFC 5927 §4.1: believe it only if it quotes a sequence number in flight. */
    if (SEQ_LT(seq, tp->snd_una) || SEQ_GEQ(seq, tp->snd_max)) {
        st->stats.tcp_icmp_bad_seq++;
        return;
    }
    st->stats.tcp_icmp_accepted++;
    if (e->type == FN_ICMP_UNREACH && e->code == FN_ICMP_UNREACH_NEEDFRAG) {
        pmtu_update(tp, e, now);
        return;
    }
    if (tp->t_state == TCPS_SYN_SENT && refuses(e)) {
        st->stats.tcp_conn_refused++;
        tcp_drop(tp, ECONNREFUSED);
        return;
    }
    st->stats.tcp_icmp_soft++;
    tp->t_softerror = icmp_errno(e);
}
