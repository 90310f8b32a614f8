import TwillTestSupport
import Foundation
import Testing
import TwillControl
import TwillWire

@Suite struct VTEPMACFileTests {
    @Test func macIsStableAcrossCalls() async throws {
        try await withTemporaryDirectory { dir throws in
            let path = dir + "/var/lib/twill/vtep-mac"
            let first = try VTEPMACFile.loadOrCreate(path: path)
            #expect(!first.isMulticast)
            #expect((first.value >> 40) & 0x02 == 0x02, "locally administered")
            #expect(String(decoding: readBytes(path) ?? [], as: UTF8.self) == "\(first)\n")
            for _ in 0..<5 { #expect(try VTEPMACFile.loadOrCreate(path: path) == first) }
        }
    }

    @Test func differentFilesGetDifferentMACs() async throws {
        try await withTemporaryDirectory { dir throws in
            var generator = SeededGenerator(seed: 5)
            let a = try VTEPMACFile.loadOrCreate(path: dir + "/a", using: &generator)
            let b = try VTEPMACFile.loadOrCreate(path: dir + "/b", using: &generator)
            #expect(a != b)
        }
    }

    @Test func anExistingMACIsKeptAndNeverOverwritten() async throws {
        try await withTemporaryDirectory { dir throws in
            let path = dir + "/vtep-mac"
            try writeText("  C6:D2:32:6F:8F:44 \n", to: path)
            #expect(try VTEPMACFile.loadOrCreate(path: path) == mac("c6:d2:32:6f:8f:44"))
            #expect(String(decoding: readBytes(path) ?? [], as: UTF8.self) == "  C6:D2:32:6F:8F:44 \n")
        }
    }

    @Test(arguments: ["", "garbage", "01:00:5e:00:00:01", "00:00:00:00:00:00", "c6:d2:32:6f:8f"])
    func aBadFileIsRefusedNotReplaced(content: String) async throws {
        try await withTemporaryDirectory { dir throws in
            let path = dir + "/vtep-mac"
            try writeText(content, to: path)
            #expect {
                try VTEPMACFile.loadOrCreate(path: path)
            } throws: { error in
                (error as? ControlFileError)?.path == path && "\(error)".contains("delete it")
            }
            #expect(readBytes(path) == Array(content.utf8))
        }
    }

    @Test func concurrentCreatorsAgree() async throws {
        try await withTemporaryDirectory { dir throws in
            let path = dir + "/vtep-mac"
            let macs = try await withThrowingTaskGroup(of: MACAddress.self) { group in
                for _ in 0..<8 { group.addTask { try VTEPMACFile.loadOrCreate(path: path) } }
                return try await group.reduce(into: Set<MACAddress>()) { $0.insert($1) }
            }
            #expect(macs.count == 1)
            #expect(macs.first.map { try? VTEPMACFile.loadOrCreate(path: path) == $0 } == true)
        }
    }
}
