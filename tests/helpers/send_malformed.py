"""Send malformed frames at the stack with scapy (run inside the peer's namespace).

Each category is built from a well-formed frame and broken in one way; the script prints one
JSON object: category -> frames sent.  The test then asserts that the stack dropped and
counted them and still answers ping.
"""
import argparse
import json

from scapy.all import ARP, ICMP, IP, Ether, Raw, conf, sendp  # noqa: E402

conf.verb = 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iface", required=True)
    ap.add_argument("--src-mac", required=True)
    ap.add_argument("--dst-mac", required=True)
    ap.add_argument("--src-ip", required=True)
    ap.add_argument("--dst-ip", required=True)
    a = ap.parse_args()

    eth = Ether(src=a.src_mac, dst=a.dst_mac, type=0x0800)
    good = eth / IP(src=a.src_ip, dst=a.dst_ip, id=1) / ICMP(id=7, seq=1) / Raw(b"x" * 16)
    good_bytes = bytes(good)
    frames = {}

    # Truncated at every offset past the Ethernet header: the IP total length claims more
    # than arrives (offsets inside the first 14 bytes are padded by the kernel on send).
    frames["truncated"] = [good_bytes[:n] for n in range(15, len(good_bytes))]

    ip = IP(src=a.src_ip, dst=a.dst_ip) / ICMP() / Raw(b"y" * 16)
    raw = bytearray(bytes(ip))
    bad_ihl_small = bytearray(raw)
    bad_ihl_small[0] = 0x44
    bad_ihl_big = bytearray(raw)
    bad_ihl_big[0] = 0x4F                          # 60-byte header in a 44-byte packet
    frames["bad_ihl"] = [bytes(eth) + bytes(bad_ihl_small), bytes(eth) + bytes(bad_ihl_big)]

    frames["bad_total_length"] = [
        bytes(eth / IP(src=a.src_ip, dst=a.dst_ip, len=12) / ICMP() / Raw(b"z" * 16)),
        bytes(eth / IP(src=a.src_ip, dst=a.dst_ip, len=1400) / ICMP() / Raw(b"z" * 16)),
    ]
    frames["bad_ip_checksum"] = [
        bytes(eth / IP(src=a.src_ip, dst=a.dst_ip, chksum=0x1234) / ICMP() / Raw(b"c" * 8))]
    frames["bad_version"] = [
        bytes(eth / IP(version=6, src=a.src_ip, dst=a.dst_ip) / ICMP())]

    # Overlapping fragments of one datagram: the datagram is discarded whole.
    payload = bytes(ICMP(id=9, seq=9) / Raw(b"o" * 40))
    ipf = dict(src=a.src_ip, dst=a.dst_ip, id=0x4242, proto=1)
    frames["overlapping_fragments"] = [
        bytes(eth / IP(flags="MF", frag=0, **ipf) / Raw(payload[:24])),
        bytes(eth / IP(flags="MF", frag=2, **ipf) / Raw(payload[16:40])),
        bytes(eth / IP(frag=5, **ipf) / Raw(payload[40:])),
    ]
    # A fragment whose end lies beyond 65535 bytes.
    frames["oversized_fragment"] = [
        bytes(eth / IP(src=a.src_ip, dst=a.dst_ip, id=0x4343, proto=1, frag=8180)
              / Raw(b"b" * 200))]

    arp = ARP(op=1, hwsrc=a.src_mac, psrc=a.src_ip, pdst=a.dst_ip)
    arp_b = bytearray(bytes(arp))
    variants = []
    for off, val in ((4, 8), (5, 6), (2, 0x86), (7, 7), (1, 6)):   # hlen, plen, ptype, op, htype
        v = bytearray(arp_b)
        v[off] = val
        variants.append(bytes(v))
    variants.append(bytes(arp_b[:20]))                           # truncated ARP
    bcast = Ether(src=a.src_mac, dst="ff:ff:ff:ff:ff:ff", type=0x0806)
    frames["bad_arp"] = [bytes(bcast) + v for v in variants]

    sent = {}
    for name, lst in frames.items():
        for f in lst:
            sendp(f, iface=a.iface)
        sent[name] = len(lst)
    print(json.dumps(sent))


if __name__ == "__main__":
    main()
