import CLiburing
import Glibc

/// A provided-buffer ring (io_uring buffer group) stocked with pool slots. The kernel picks a slot
/// per received packet and reports its id (= slot index) in the completion.
final class ProvidedBufferRing {
    let group: UInt16
    let entries: UInt32
    let mask: Int32
    let memory: UnsafeMutableRawPointer
    let memoryBytes: Int
    let ringPointer: UnsafeMutablePointer<io_uring_buf_ring>
    /// Where in each slot the kernel may write, and how much.
    let bufferOffset: Int
    let bufferLength: Int
    /// Slots the kernel holds now.
    var lent = 0

    init(ring: UnsafeMutablePointer<io_uring>, group: UInt16, entries: UInt32, bufferOffset: Int,
         bufferLength: Int) throws(IOError) {
        precondition(entries > 0 && entries & (entries - 1) == 0, "buffer ring entries must be a power of two")
        let bytes = (Int(entries) * MemoryLayout<io_uring_buf>.stride + 4095) & ~4095
        guard let mem = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              mem != MAP_FAILED else { throw IOError.last("mmap buffer ring") }
        var reg = io_uring_buf_reg()
        reg.ring_addr = UInt64(UInt(bitPattern: mem))
        reg.ring_entries = entries
        reg.bgid = group
        let rc = io_uring_register_buf_ring(ring, &reg, 0)
        guard rc == 0 else {
            munmap(mem, bytes)
            throw IOError("io_uring_register_buf_ring", errno: -rc)
        }
        self.group = group
        self.entries = entries
        self.mask = io_uring_buf_ring_mask(entries)
        self.memory = mem
        self.memoryBytes = bytes
        self.ringPointer = mem.assumingMemoryBound(to: io_uring_buf_ring.self)
        io_uring_buf_ring_init(ringPointer)
        self.bufferOffset = bufferOffset
        self.bufferLength = bufferLength
    }

    /// Tops the ring up from the pool; returns how many slots were added. `owner` records who holds
    /// each slot so they can be returned on shutdown.
    @inline(__always)
    func replenish(from pool: PacketPool, owner: UnsafeMutablePointer<UInt8>, tag: UInt8) -> Int {
        var added: Int32 = 0
        while lent < Int(entries), let index = pool.acquireIndex() {
            io_uring_buf_ring_add(ringPointer, pool.address(of: index) + bufferOffset, UInt32(bufferLength),
                                  UInt16(index), mask, added)
            owner[Int(index)] = tag
            added += 1
            lent += 1
        }
        if added > 0 { io_uring_buf_ring_advance(ringPointer, added) }
        return Int(added)
    }

    func unregister(from ring: UnsafeMutablePointer<io_uring>) {
        _ = io_uring_unregister_buf_ring(ring, Int32(group))
    }

    deinit { munmap(memory, memoryBytes) }
}

/// Completed receives waiting to be handed out, in arrival order (a fixed-size queue).
final class CompletionQueue {
    let capacity: Int
    private let slots: UnsafeMutablePointer<UInt32>
    private let offsets: UnsafeMutablePointer<Int>
    private let lengths: UnsafeMutablePointer<Int>
    private let addresses: UnsafeMutablePointer<SocketAddress>
    private let segmentSizes: UnsafeMutablePointer<Int>
    private var head = 0
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = capacity
        slots = .allocate(capacity: capacity)
        offsets = .allocate(capacity: capacity)
        lengths = .allocate(capacity: capacity)
        addresses = .allocate(capacity: capacity)
        addresses.initialize(repeating: SocketAddress(), count: capacity)
        segmentSizes = .allocate(capacity: capacity)
    }

    deinit {
        slots.deallocate()
        offsets.deallocate()
        lengths.deallocate()
        addresses.deallocate()
        segmentSizes.deallocate()
    }

    @inline(__always)
    func push(slot: UInt32, offset: Int, length: Int, address: UnsafeRawPointer? = nil, addressLength: Int = 0,
              segmentSize: Int = 0) {
        // Capacity equals the pool's slot count, so this cannot overflow.
        let i = (head + count) % capacity
        slots[i] = slot
        offsets[i] = offset
        lengths[i] = length
        segmentSizes[i] = segmentSize
        if let address {
            withUnsafeMutableBytes(of: &addresses[i].storage) { raw in
                raw.baseAddress!.copyMemory(from: address, byteCount: min(addressLength, raw.count))
            }
            addresses[i].length = socklen_t(addressLength)
        }
        count += 1
    }

    /// Moves queued packets into the batch while it has room; returns how many moved.
    @inline(__always)
    func drain(into batch: inout PacketBatch, withAddress: Bool) -> Int {
        var moved = 0
        while count > 0 && batch.count < batch.capacity {
            batch.appendIndex(slots[head], offset: offsets[head], length: lengths[head])
            if withAddress { batch.setAddress(batch.count - 1, addresses[head]) }
            if segmentSizes[head] != 0 { batch.setSegmentSize(batch.count - 1, segmentSizes[head]) }
            head = (head + 1) % capacity
            count -= 1
            moved += 1
        }
        return moved
    }

    /// Returns every queued slot to the pool.
    func releaseAll(to pool: PacketPool) {
        while count > 0 {
            pool.releaseIndex(slots[head])
            head = (head + 1) % capacity
            count -= 1
        }
    }
}
