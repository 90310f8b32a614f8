import Testing
@testable import TwillIO

@Suite struct PacketPoolTests {
    @Test func slotsArePageAlignedWithHeadroom() throws {
        let pool = try PacketPool(slotSize: 2000, count: 8, headroom: 64)
        #expect(pool.slotSize == 2048)
        #expect(UInt(bitPattern: pool.base) % 4096 == 0)
        guard let slot = pool.acquire() else { Issue.record("no slot"); return }
        let size = slot.buffer.count
        #expect(size == 2048)
        #expect(pool.available == 7)
        _ = consume slot
        #expect(pool.available == 8)
    }

    @Test func exhaustionIsCountedAndRecovers() throws {
        let pool = try PacketPool(slotSize: 256, count: 4)
        var batch = PacketBatch(capacity: 8, pool: pool)
        var taken = 0
        while batch.appendFromPool(offset: 0) { taken += 1 }
        #expect(taken == 4)
        #expect(pool.available == 0)
        let none = pool.acquire() == nil
        #expect(none)
        #expect(pool.exhaustions == 2)
        batch.removeAll()
        #expect(pool.available == 4)
        let again = batch.appendFromPool(offset: 0)
        #expect(again)
        batch.removeAll()
        #expect(pool.available == 4)
    }

    @Test func batchReturnsSlotsWhenDestroyed() throws {
        let pool = try PacketPool(slotSize: 256, count: 16)
        do {
            var batch = PacketBatch(capacity: 16, pool: pool)
            for _ in 0..<10 {
                let ok = batch.appendFromPool(offset: 16, length: 100)
                #expect(ok)
            }
            let last = batch.removeLast()
            let size = last.buffer.count
            #expect(size == 256)
            #expect(pool.available == 6)
        }
        #expect(pool.available == 16)
    }

    @Test func slotMovesIntoBatchOnce() throws {
        let pool = try PacketPool(slotSize: 256, count: 2)
        var batch = PacketBatch(capacity: 2, pool: pool)
        guard let slot = pool.acquire() else { Issue.record("no slot"); return }
        batch.append(slot, offset: 10, length: 20)
        #expect(pool.available == 1)
        let n = batch.packet(0).count
        #expect(n == 20)
        batch.removeAll()
        #expect(pool.available == 2)
    }
}
