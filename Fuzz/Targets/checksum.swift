// The fast Internet checksum against the byte-pair reference, at both byte alignments, with a
// fuzzer-chosen initial sum; and the RFC 1624 update against a recompute.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzChecksum(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size >= 2 else { return 0 }
    let initial = UInt32(data[0]) << 8 | UInt32(data[1])
    let body = UnsafeRawBufferPointer(start: data + 2, count: size - 2)
    for shift in 0..<2 {
        // Copy to an odd or even address: the fast sum must not care.
        let b = UnsafeMutableRawBufferPointer.allocate(byteCount: body.count + shift, alignment: 16)
        defer { b.deallocate() }
        let piece = UnsafeMutableRawBufferPointer(rebasing: b[shift...])
        if body.count > 0 { piece.copyMemory(from: body) }
        let fast = InternetChecksum.sum(UnsafeRawBufferPointer(piece), initial: initial)
        let slow = referenceSum(UnsafeRawBufferPointer(piece), initial: initial)
        fuzzCheck(fast <= 0xffff, "unfolded sum")
        fuzzCheck(InternetChecksum.finish(fast) == ~UInt16(slow) || (fast == 0 && slow == 0xffff) || (fast == 0xffff && slow == 0),
                  "sum \(fast) vs reference \(slow) over \(body.count) bytes at +\(shift)")
    }
    // Change the first word and update the checksum of the even part incrementally.
    let even = body.count & ~1
    guard even >= 2 else { return 0 }
    let words = UnsafeMutableRawBufferPointer.allocate(byteCount: even, alignment: 2)
    defer { words.deallocate() }
    words.copyMemory(from: UnsafeRawBufferPointer(rebasing: body[0..<even]))
    let before = InternetChecksum.finish(InternetChecksum.sum(UnsafeRawBufferPointer(words)))
    let old = UInt16(words[0]) << 8 | UInt16(words[1])
    let new = UInt16(truncatingIfNeeded: initial)
    words[0] = UInt8(new >> 8)
    words[1] = UInt8(new & 0xff)
    let updated = InternetChecksum.update(before, oldWord: old, newWord: new)
    let recomputed = ~UInt16(referenceSum(UnsafeRawBufferPointer(words)))
    fuzzCheck(updated == recomputed || (updated | recomputed == 0xffff && (updated == 0 || recomputed == 0)),
              "update \(updated) vs recompute \(recomputed)")
    return 0
}
