import Glibc

/// One page-aligned slab of fixed-size packet slots, with a free list of slot indices.
///
/// Every slot has `headroom` bytes in front of where a received packet is placed, so encapsulation
/// writes its headers in place. A pool belongs to one thread at a time (no locks); running out is
/// back-pressure, counted in `exhaustions`, never an allocation.
public final class PacketPool {
    public let slotSize: Int
    public let headroom: Int
    public let capacity: Int
    let base: UnsafeMutableRawPointer
    let mappedBytes: Int
    private let freeList: UnsafeMutablePointer<UInt32>
    private var freeCount: Int
    /// How many times a slot was asked for and none was free.
    public private(set) var exhaustions: UInt64 = 0

    /// - Parameters:
    ///   - slotSize: bytes per slot, headroom included (rounded up to 64 for cache-line alignment).
    ///   - count: number of slots (at most 65536: io_uring buffer ids are 16-bit).
    public init(slotSize: Int = 2048, count: Int = 1024, headroom: Int = 64) throws(IOError) {
        precondition(count > 0 && count <= 65536, "PacketPool count must be 1...65536")
        precondition(headroom >= 0 && headroom < slotSize, "PacketPool headroom must be below the slot size")
        let size = (slotSize + 63) & ~63
        let bytes = (size * count + 4095) & ~4095
        let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let p, p != MAP_FAILED else { throw IOError.last("mmap packet pool") }
        self.base = p
        self.mappedBytes = bytes
        self.slotSize = size
        self.headroom = headroom
        self.capacity = count
        freeList = .allocate(capacity: count)
        for i in 0..<count { freeList[i] = UInt32(count - 1 - i) }
        freeCount = count
    }

    deinit {
        munmap(base, mappedBytes)
        freeList.deallocate()
    }

    /// Slots currently free.
    public var available: Int { freeCount }

    /// Takes a slot, or nil (counted) when none is free.
    @inline(__always)
    public func acquire() -> PacketSlot? {
        guard let i = acquireIndex() else { return nil }
        return PacketSlot(index: i, pool: self)
    }

    @inline(__always)
    func acquireIndex() -> UInt32? {
        guard freeCount > 0 else {
            exhaustions &+= 1
            return nil
        }
        freeCount -= 1
        return freeList[freeCount]
    }

    @inline(__always)
    func releaseIndex(_ index: UInt32) {
        precondition(freeCount < capacity, "PacketPool: a slot was released twice")
        freeList[freeCount] = index
        freeCount += 1
    }

    /// The whole slot's bytes, headroom included.
    @inline(__always)
    public func buffer(of index: UInt32) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: base + Int(index) * slotSize, count: slotSize)
    }

    @inline(__always)
    func address(of index: UInt32) -> UnsafeMutableRawPointer { base + Int(index) * slotSize }
}

/// Ownership of one pool slot. Non-copyable, so a slot goes back to its pool exactly once: when the
/// handle ends, or when it moves into a `PacketBatch`.
public struct PacketSlot: ~Copyable {
    public let index: UInt32
    // unowned(unsafe): no reference counting per packet; the pool outlives its slots by contract.
    unowned(unsafe) let pool: PacketPool

    init(index: UInt32, pool: PacketPool) {
        self.index = index
        self.pool = pool
    }

    public var buffer: UnsafeMutableRawBufferPointer { pool.buffer(of: index) }

    /// Gives up ownership without returning the slot (it moves elsewhere).
    consuming func take() -> UInt32 {
        let i = index
        discard self
        return i
    }

    deinit { pool.releaseIndex(index) }
}
