/// Fixed-size slots for headers written per segment or per run (the payloads stay in pool slots).
/// Allocated once; handed out in order and reset after each send or write.
struct HeaderArena: ~Copyable {
    let base: UnsafeMutableRawPointer
    let stride: Int
    let capacity: Int
    private(set) var used = 0

    init(entries: Int, stride: Int) {
        base = .allocate(byteCount: entries * stride, alignment: 64)
        self.stride = stride
        capacity = entries
    }

    deinit { base.deallocate() }

    @inline(__always) func hasRoom(_ n: Int) -> Bool { used + n <= capacity }

    @inline(__always)
    mutating func next() -> UnsafeMutableRawPointer {
        defer { used += 1 }
        return base + used * stride
    }

    @inline(__always) mutating func reset() { used = 0 }
}
