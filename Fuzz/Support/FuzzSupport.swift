// Compiled into every fuzz target together with Sources/TwillWire/*.swift (one module, so internal
// helpers are visible). A broken property calls `fuzzFail`, which traps: libFuzzer then saves the
// input as a crash artifact.

/// Copies the input into an allocation of exactly its size, so AddressSanitizer sees any read past it.
@inline(never)
func withFuzzBuffer<R>(_ data: UnsafePointer<UInt8>, _ size: Int, _ body: (UnsafeMutableRawBufferPointer) -> R) -> R {
    let b = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 1)
    defer { b.deallocate() }
    if size > 0 { b.copyMemory(from: UnsafeRawBufferPointer(start: data, count: size)) }
    return body(b)
}

func fuzzFail(_ message: @autoclosure () -> String, file: StaticString = #file, line: UInt = #line) -> Never {
    fatalError("property broken: \(message())", file: file, line: line)
}

func fuzzCheck(_ ok: Bool, _ message: @autoclosure () -> String, file: StaticString = #file, line: UInt = #line) {
    if !ok { fuzzFail(message(), file: file, line: line) }
}

/// RFC 1071 by big-endian byte pairs: the slow reference the fast sum must agree with.
func referenceSum(_ b: UnsafeRawBufferPointer, initial: UInt32 = 0) -> UInt32 {
    var s = UInt64(initial)
    var i = 0
    while i + 1 < b.count {
        s += UInt64(b[i]) << 8 | UInt64(b[i + 1])
        i += 2
    }
    if i < b.count { s += UInt64(b[i]) << 8 }
    while s > 0xffff { s = (s >> 16) + (s & 0xffff) }
    return UInt32(s)
}

/// Reads whatever the input offers as fuzzer-chosen parameters, zero past its end.
struct ParameterReader {
    let bytes: UnsafeRawBufferPointer
    var index = 0
    init(_ b: UnsafeRawBufferPointer) { bytes = b }
    mutating func byte() -> UInt8 {
        defer { index += 1 }
        return index < bytes.count ? bytes[index] : 0
    }
    mutating func u16() -> UInt16 { UInt16(byte()) << 8 | UInt16(byte()) }
    mutating func u32() -> UInt32 { UInt32(u16()) << 16 | UInt32(u16()) }
}
