/// ICMP types and codes Twill sends.
public enum ICMPv4Type {
    public static let echoReply: UInt8 = 0
    public static let destinationUnreachable: UInt8 = 3
    public static let echoRequest: UInt8 = 8
    public static let timeExceeded: UInt8 = 11
    public static let codeNetUnreachable: UInt8 = 0
    public static let codeTTLExceeded: UInt8 = 0
}

public enum ICMPv6Type {
    public static let destinationUnreachable: UInt8 = 1
    public static let timeExceeded: UInt8 = 3
    public static let echoRequest: UInt8 = 128
    public static let redirect: UInt8 = 137
    public static let codeNoRoute: UInt8 = 0
    public static let codeHopLimitExceeded: UInt8 = 0
}

/// A view of an ICMP (v4 or v6) header: type, code, checksum and the 4-byte rest of header.
public struct ICMPMessage {
    public static let headerLength = 8
    public let bytes: UnsafeMutableRawBufferPointer

    public init(_ bytes: UnsafeMutableRawBufferPointer) throws(WireError) {
        guard bytes.count >= ICMPMessage.headerLength, bytes.baseAddress != nil else { throw .truncated }
        self.bytes = bytes
    }

    @inline(__always) var base: UnsafeMutableRawPointer { bytes.baseAddress.unsafelyUnwrapped }
    public var type: UInt8 { load8(base, 0) }
    public var code: UInt8 { load8(base, 1) }
    public var checksum: UInt16 { load16(base, 2) }
    public var restOfHeader: UInt32 { load32(base, 4) }
    public var body: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: bytes[ICMPMessage.headerLength...])
    }
}

/// Builds ICMP error replies (destination unreachable, time exceeded) for a packet the datapath
/// cannot forward, following RFC 1122/4443: never about an ICMP error, a non-first fragment, or a
/// multicast/broadcast destination.
public enum ICMPError {
    /// Largest IPv4 error (RFC 1812: as much of the original as fits in 576 bytes).
    public static let maximumIPv4Length = 576
    /// Largest IPv6 error (RFC 4443: the minimum MTU).
    public static let maximumIPv6Length = 1280

    /// Writes an ICMPv4 error about `original` into `out`, from `source`. Returns its length, or 0 when
    /// no error may be sent about this packet.
    public static func buildIPv4(type: UInt8, code: UInt8, original: UnsafeMutableRawBufferPointer,
                                 source: IPv4Address, into out: UnsafeMutableRawBufferPointer) -> Int {
        guard let ip = try? IPv4Packet(original) else { return 0 }
        if ip.isFragment && ip.flagsAndFragmentOffset & 0x1fff != 0 { return 0 }
        if ip.destination.isMulticast || ip.destination.value == 0xffff_ffff { return 0 }
        // RFC 1122 3.2.2: the source must name one host (not zero, loopback, multicast, class E or
        // the limited broadcast, which is class E too).
        let src = ip.source.value
        if src == 0 || src >> 24 == 127 || ip.source.isMulticast || src >> 28 == 0xF { return 0 }
        if ip.proto == IPProtocol.icmp {
            let hl = ip.headerLength
            guard ip.totalLength > hl else { return 0 }
            let t = ip.packet[hl]
            // Only queries (echo, timestamp, ...) may trigger an error, never another error.
            if t != ICMPv4Type.echoRequest && t != ICMPv4Type.echoReply && t != 13 && t != 14 { return 0 }
        }
        let quoted = min(ip.totalLength, maximumIPv4Length - IPv4Repr.headerLength - ICMPMessage.headerLength)
        let total = IPv4Repr.headerLength + ICMPMessage.headerLength + quoted
        guard out.count >= total, let o = out.baseAddress else { return 0 }
        let repr = IPv4Repr(source: source, destination: ip.source, proto: IPProtocol.icmp,
                            payloadLength: ICMPMessage.headerLength + quoted, ttl: 64, dontFragment: false)
        do { try repr.emit(into: out) } catch { return 0 }
        let icmp = o + IPv4Repr.headerLength
        // The original may overlap nothing of `out`: callers pass separate buffers.
        icmp.advanced(by: ICMPMessage.headerLength).copyMemory(from: original.baseAddress!, byteCount: quoted)
        store8(icmp, 0, type)
        store8(icmp, 1, code)
        store16(icmp, 2, 0)
        store32(icmp, 4, 0)
        let sum = InternetChecksum.sum(UnsafeRawBufferPointer(start: icmp, count: ICMPMessage.headerLength + quoted))
        store16(icmp, 2, InternetChecksum.finish(sum))
        return total
    }

    /// Writes an ICMPv6 error about `original` into `out`, from `source`; 0 when none may be sent.
    public static func buildIPv6(type: UInt8, code: UInt8, original: UnsafeMutableRawBufferPointer,
                                 source: IPv6Address, into out: UnsafeMutableRawBufferPointer) -> Int {
        guard let ip = try? IPv6Packet(original) else { return 0 }
        if ip.destination.isMulticast || ip.source.isMulticast { return 0 }
        if ip.source == IPv6Address(high: 0, low: 0) { return 0 }
        // A chain that cannot be walked may hide an ICMPv6 error: send nothing about it.
        guard let t = try? ip.walkExtensionHeaders() else { return 0 }
        // The fragment header may stand behind other extension headers, so the walk decides.
        if t.nonFirstFragment { return 0 }
        if t.proto == IPProtocol.icmpv6 {
            guard t.offset < ip.totalLength else { return 0 }
            // RFC 4443 2.4 (e): never about an error message (type < 128) or a redirect.
            let icmpType = ip.packet[t.offset]
            if icmpType < 128 || icmpType == ICMPv6Type.redirect { return 0 }
        }
        let quoted = min(ip.totalLength, maximumIPv6Length - IPv6Packet.headerLength - ICMPMessage.headerLength)
        let icmpLength = ICMPMessage.headerLength + quoted
        let total = IPv6Packet.headerLength + icmpLength
        guard out.count >= total, let o = out.baseAddress else { return 0 }
        let repr = IPv6Repr(source: source, destination: ip.source, nextHeader: IPProtocol.icmpv6,
                            payloadLength: icmpLength, hopLimit: 64)
        do { try repr.emit(into: out) } catch { return 0 }
        let icmp = o + IPv6Packet.headerLength
        icmp.advanced(by: ICMPMessage.headerLength).copyMemory(from: original.baseAddress!, byteCount: quoted)
        store8(icmp, 0, type)
        store8(icmp, 1, code)
        store16(icmp, 2, 0)
        store32(icmp, 4, 0)
        let pseudo = InternetChecksum.pseudoHeaderSum(source: source, destination: ip.source,
                                                      proto: IPProtocol.icmpv6, length: icmpLength)
        let sum = InternetChecksum.sum(UnsafeRawBufferPointer(start: icmp, count: icmpLength), initial: pseudo)
        store16(icmp, 2, InternetChecksum.finish(sum))
        return total
    }
}
