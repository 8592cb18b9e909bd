# SPDX-License-Identifier: MIT
"""Minimal, independent pcap reader for the integration tests (stdlib only).

It is deliberately NOT the agent's code: the checker uses it to derive the
facts that follow from the packets alone (which TCP flows exist, in which
order they started, their first/last timestamps, payload bytes and packet
counts per direction), so that the agent's numbers are compared with a second
implementation rather than with themselves.

Handles classic pcap (both byte orders, micro- and nanosecond), link types
Ethernet (with 802.1Q/802.1ad tags), Linux cooked (SLL) and raw IP; IPv4
(without fragments) and IPv6 (skipping the common extension headers).
"""
import struct

LINK_ETHERNET = 1
LINK_RAW = 101
LINK_SLL = 113
LINK_IPV4 = 228
LINK_IPV6 = 229

VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)


def read_pcap(path):
    """Yield (ts_us, linktype, frame_bytes, orig_len) for every record."""
    with open(path, "rb") as f:
        hdr = f.read(24)
        if len(hdr) < 24:
            return
        magic = struct.unpack("<I", hdr[:4])[0]
        if magic in (0xA1B2C3D4, 0xA1B23C4D):
            endian = "<"
        elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
            endian = ">"
            magic = struct.unpack(">I", hdr[:4])[0]
        else:
            raise ValueError("%s: not a classic pcap file" % path)
        nano = magic == 0xA1B23C4D
        linktype = struct.unpack(endian + "I", hdr[20:24])[0] & 0x0FFFFFFF
        rec = struct.Struct(endian + "IIII")
        while True:
            rh = f.read(16)
            if len(rh) < 16:
                return
            sec, frac, caplen, origlen = rec.unpack(rh)
            data = f.read(caplen)
            if len(data) < caplen:
                return
            us = frac // 1000 if nano else frac
            yield sec * 1000000 + us, linktype, data, origlen


def _l3(linktype, frame):
    """Return (ethertype, payload, vlans) or None."""
    vlans = []
    if linktype == LINK_ETHERNET:
        if len(frame) < 14:
            return None
        et = struct.unpack("!H", frame[12:14])[0]
        off = 14
        while et in VLAN_TPIDS:
            if len(frame) < off + 4:
                return None
            tci, et = struct.unpack("!HH", frame[off:off + 4])
            vlans.append(tci & 0x0FFF)
            off += 4
        return et, frame[off:], vlans
    if linktype == LINK_SLL:
        if len(frame) < 16:
            return None
        return struct.unpack("!H", frame[14:16])[0], frame[16:], vlans
    if linktype in (LINK_RAW, LINK_IPV4, LINK_IPV6):
        if not frame:
            return None
        v = frame[0] >> 4
        return (0x0800 if v == 4 else 0x86DD), frame, vlans
    return None


def _ip_str6(b):
    import ipaddress
    return str(ipaddress.IPv6Address(b))


def parse_tcp(linktype, frame):
    """Return a dict for a TCP segment, or None for anything else."""
    r = _l3(linktype, frame)
    if r is None:
        return None
    et, p, vlans = r
    if et == 0x0800:
        if len(p) < 20 or p[0] >> 4 != 4:
            return None
        ihl = (p[0] & 0x0F) * 4
        total = struct.unpack("!H", p[2:4])[0]
        frag = struct.unpack("!H", p[6:8])[0]
        if p[9] != 6 or frag & 0x3FFF:
            return None
        src = "%d.%d.%d.%d" % tuple(p[12:16])
        dst = "%d.%d.%d.%d" % tuple(p[16:20])
        seg = p[ihl:total] if total >= ihl else b""
        fam = 4
    elif et == 0x86DD:
        if len(p) < 40 or p[0] >> 4 != 6:
            return None
        plen = struct.unpack("!H", p[4:6])[0]
        nxt = p[6]
        src = _ip_str6(p[8:24])
        dst = _ip_str6(p[24:40])
        rest = p[40:40 + plen]
        # hop-by-hop, routing, destination options
        for _ in range(8):
            if nxt in (0, 43, 60) and len(rest) >= 8:
                nxt, hl = rest[0], (rest[1] + 1) * 8
                rest = rest[hl:]
            else:
                break
        if nxt != 6:
            return None
        seg = rest
        fam = 6
    else:
        return None
    if len(seg) < 20:
        return None
    sport, dport, seq, ack, offflags = struct.unpack("!HHIIH", seg[:14])
    doff = (offflags >> 12) * 4
    flags = offflags & 0x1FF
    payload = seg[doff:] if doff >= 20 else b""
    return {
        "fam": fam, "src": src, "dst": dst, "sport": sport, "dport": dport,
        "seq": seq, "ack": ack, "flags": flags, "payload": payload,
        "vlans": vlans,
    }


FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def endpoint(fam, ip, port):
    return ("[%s]:%d" % (ip, port)) if fam == 6 else ("%s:%d" % (ip, port))


class Flow:
    """One TCP connection as the capture shows it.

    A session's packets end where the connection closed: at the packet that
    completes FIN in both directions, or at the first RST.  Later packets of
    the same 4-tuple (the final ACK, RSTs answering data sent after close)
    are counted in .late only; that is where the agent ends a session too
    (its flow table treats them as late packets of a closed flow)."""

    def __init__(self, fam, cip, cport, sip, sport, ts):
        self.fam, self.cip, self.cport, self.sip, self.sport = fam, cip, cport, sip, sport
        self.first_us = ts
        self.last_us = ts
        self.syn = False
        self.packets = [0, 0]
        self.bytes = [0, 0]
        self.late = 0
        self.closed = False
        self.rst = False
        self._fin = [False, False]
        self._base = [None, None]   # first sequence number of the stream
        self._cover = [[], []]      # merged [start, end) stream intervals seen
        self.streams = [bytearray(), bytearray()]  # in-order prefix of each stream
        self.vlans = []

    @property
    def client(self):
        return endpoint(self.fam, self.cip, self.cport)

    @property
    def server(self):
        return endpoint(self.fam, self.sip, self.sport)

    def holes(self, d):
        """Stream bytes of direction d the capture never saw (lost packets)."""
        cov = self._cover[d]
        if not cov:
            return 0
        return cov[-1][1] - sum(e - s for s, e in cov)

    def add(self, d, t, ts, keep_streams):
        if self.closed:
            self.late += 1
            return
        self.last_us = ts
        self.packets[d] += 1
        flags, seq, pl = t["flags"], t["seq"], t["payload"]
        if flags & RST:
            self.closed = self.rst = True
            return
        if flags & SYN:
            self._base[d] = (seq + 1) & 0xFFFFFFFF
            if d == 0:
                self.syn = True
        elif pl:
            if self._base[d] is None:
                self._base[d] = seq
            rel = (seq - self._base[d]) & 0xFFFFFFFF
            self._add_cover(d, rel, rel + len(pl), pl, keep_streams)
        if flags & FIN:
            self._fin[d] = True
            if self._fin[1 - d]:
                self.closed = True

    def _add_cover(self, d, s, e, pl, keep_streams):
        cov = self._cover[d]
        new = e - s
        for a, b in cov:
            new -= max(0, min(b, e) - max(a, s))
        self.bytes[d] += max(0, new)
        if keep_streams and s <= len(self.streams[d]) < e:
            self.streams[d] += pl[len(self.streams[d]) - s:]
        cov.append([s, e])
        cov.sort()
        merged = []
        for a, b in cov:
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        self._cover[d] = merged


def flows(path, server_port=25, keep_streams=False):
    """TCP flows with server_port on one side, ordered by their first packet.

    The client is the side that sent the SYN; without a SYN, the side whose
    port is not server_port."""
    table = {}
    order = []
    for ts, lt, frame, _ in read_pcap(path):
        t = parse_tcp(lt, frame)
        if t is None or server_port not in (t["sport"], t["dport"]):
            continue
        a = (t["src"], t["sport"])
        b = (t["dst"], t["dport"])
        key = (a, b) if a < b else (b, a)
        fl = table.get(key)
        if fl is not None and fl.closed and (t["flags"] & (SYN | ACK)) == SYN:
            fl = None               # the 4-tuple is reused by a new connection
        if fl is None:
            syn_only = (t["flags"] & (SYN | ACK)) == SYN
            if syn_only or t["dport"] == server_port:
                fl = Flow(t["fam"], t["src"], t["sport"], t["dst"], t["dport"], ts)
            else:
                fl = Flow(t["fam"], t["dst"], t["dport"], t["src"], t["sport"], ts)
            fl.vlans = t["vlans"]
            table[key] = fl
            order.append(fl)
        d = 0 if (t["src"], t["sport"]) == (fl.cip, fl.cport) else 1
        fl.add(d, t, ts, keep_streams)
    order.sort(key=lambda f: f.first_us)
    return order
