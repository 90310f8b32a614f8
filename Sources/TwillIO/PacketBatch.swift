import Glibc

/// A batch of packets in pool slots: per packet the slot, where the packet starts and how long it
/// is, and a peer address. The batch owns its slots and returns them to the pool when cleared or
/// destroyed. All storage is allocated once, at creation.
public struct PacketBatch: ~Copyable {
    public let capacity: Int
    public private(set) var count: Int = 0
    unowned(unsafe) public let pool: PacketPool
    let slots: UnsafeMutablePointer<UInt32>
    let offsets: UnsafeMutablePointer<Int>
    let lengths: UnsafeMutablePointer<Int>
    let addresses: UnsafeMutablePointer<SocketAddress>
    let segmentSizes: UnsafeMutablePointer<Int>

    public init(capacity: Int, pool: PacketPool) {
        precondition(capacity > 0, "PacketBatch capacity must be positive")
        self.capacity = capacity
        self.pool = pool
        slots = .allocate(capacity: capacity)
        offsets = .allocate(capacity: capacity)
        lengths = .allocate(capacity: capacity)
        addresses = .allocate(capacity: capacity)
        addresses.initialize(repeating: SocketAddress(), count: capacity)
        segmentSizes = .allocate(capacity: capacity)
    }

    deinit {
        for i in 0..<count { pool.releaseIndex(slots[i]) }
        slots.deallocate()
        offsets.deallocate()
        lengths.deallocate()
        addresses.deinitialize(count: capacity)
        addresses.deallocate()
        segmentSizes.deallocate()
    }

    public var isFull: Bool { count == capacity }
    public var isEmpty: Bool { count == 0 }

    /// Moves a slot into the batch with the packet at `offset..<offset+length`.
    @inline(__always)
    public mutating func append(_ slot: consuming PacketSlot, offset: Int, length: Int) {
        precondition(count < capacity, "PacketBatch is full")
        appendIndex(slot.take(), offset: offset, length: length)
    }

    @inline(__always)
    mutating func appendIndex(_ index: UInt32, offset: Int, length: Int) {
        slots[count] = index
        offsets[count] = offset
        lengths[count] = length
        segmentSizes[count] = 0
        count += 1
    }

    /// Takes a fresh slot from the pool into the batch; false when the pool is empty.
    @inline(__always)
    public mutating func appendFromPool(offset: Int, length: Int = 0) -> Bool {
        guard count < capacity, let i = pool.acquireIndex() else { return false }
        appendIndex(i, offset: offset, length: length)
        return true
    }

    /// The whole slot of packet `i`, headroom included.
    @inline(__always)
    public func slot(_ i: Int) -> UnsafeMutableRawBufferPointer { pool.buffer(of: slots[i]) }

    /// The packet bytes of entry `i`.
    @inline(__always)
    public func packet(_ i: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: pool.address(of: slots[i]) + offsets[i], count: lengths[i])
    }

    @inline(__always) public func offset(_ i: Int) -> Int { offsets[i] }
    @inline(__always) public func length(_ i: Int) -> Int { lengths[i] }

    /// Moves packet `i` to a new place in its slot; a length of 0 marks it as dropped (writers skip it).
    @inline(__always)
    public func setPacket(_ i: Int, offset: Int, length: Int) {
        offsets[i] = offset
        lengths[i] = length
    }

    /// For a UDP receive with GRO: the size of each datagram the kernel coalesced into entry `i`
    /// (all but the last are this long), or 0 when the entry is one datagram.
    @inline(__always) public func segmentSize(_ i: Int) -> Int { segmentSizes[i] }
    @inline(__always) func setSegmentSize(_ i: Int, _ size: Int) { segmentSizes[i] = size }

    @inline(__always) public func drop(_ i: Int) { lengths[i] = 0 }

    @inline(__always) public func address(_ i: Int) -> SocketAddress { addresses[i] }
    @inline(__always) public func setAddress(_ i: Int, _ a: SocketAddress) { addresses[i] = a }
    @inline(__always) func addressPointer(_ i: Int) -> UnsafeMutablePointer<SocketAddress> { addresses + i }

    /// Returns every slot to the pool and empties the batch.
    @inline(__always)
    public mutating func removeAll() {
        for i in 0..<count { pool.releaseIndex(slots[i]) }
        count = 0
    }

    /// Drops entries from `newCount` on, returning their slots.
    @inline(__always)
    mutating func truncate(to newCount: Int) {
        guard newCount < count else { return }
        for i in newCount..<count { pool.releaseIndex(slots[i]) }
        count = newCount
    }

    /// Takes entry `i`'s slot out as its own handle, leaving the entry marked dropped without a slot;
    /// only the last entry can be taken (order of the rest is kept).
    public mutating func removeLast() -> PacketSlot {
        precondition(count > 0, "PacketBatch is empty")
        count -= 1
        return PacketSlot(index: slots[count], pool: pool)
    }
}
