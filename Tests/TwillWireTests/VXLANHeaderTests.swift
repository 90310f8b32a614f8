import Testing
@testable import TwillWire

@Suite("VXLANHeader")
struct VXLANHeaderTests {
    // I flag, reserved zero, VNI 42, reserved zero, then two payload bytes.
    static let header: [UInt8] = [0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, 0x00, 0xab, 0xcd]

    @Test func deconstruct() throws {
        try withBytes(Self.header) { b throws(WireError) in
            let v = try VXLANHeader(b)
            #expect(v.flags == 0x08)
            #expect(v.hasValidVNI)
            #expect(v.vni == 42)
            #expect(Array(v.payload) == [0xab, 0xcd])
        }
    }

    @Test("emit writes the I flag, zero reserved bits and the VNI (24 bits)")
    func emit() {
        var out = [UInt8](repeating: 0xee, count: 10)
        out.withUnsafeMutableBytes { VXLANHeader.emit(vni: 42, into: $0.baseAddress!) }
        #expect(out == [0x08, 0, 0, 0, 0, 0, 0x2a, 0, 0xee, 0xee])
        out.withUnsafeMutableBytes { VXLANHeader.emit(vni: 0xff12_3456, into: $0.baseAddress!) }
        #expect(Array(out[0..<8]) == [0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0], "bits above 24 are dropped")
    }

    @Test("reserved bits are ignored on receipt (RFC 7348); other flags do not stand in for I")
    func reservedBits() throws {
        let v = try withBytes([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]) { b throws(WireError) in
            (try VXLANHeader(b).hasValidVNI, try VXLANHeader(b).vni)
        }
        #expect(v == (true, 0xff_ffff))
        let noI = try withBytes([0xf7, 0, 0, 0, 0, 0, 1, 0]) { b throws(WireError) in try VXLANHeader(b).hasValidVNI }
        #expect(!noI)
    }

    @Test func truncated() {
        for n in 0..<8 {
            #expect(withBytes(Array(Self.header[0..<n])) { b in wireError { () throws(WireError) in try VXLANHeader(b) } } == .truncated)
        }
        #expect(VXLANHeader.length == 8)
        #expect(VXLANHeader.validVNIFlag == 0x08)
    }
}
