import Foundation
import Testing
@testable import TwillControl

@Suite struct AtomicFileTests {
    @Test func replaceCreatesDirectoriesAndLeavesNoTemporaryFiles() async throws {
        try await withTemporaryDirectory { dir throws in
            let path = dir + "/a/b/file.txt"
            try AtomicFile.replace(path, with: Array("one\n".utf8))
            #expect(try AtomicFile.contents(of: path) == Array("one\n".utf8))
            try AtomicFile.replace(path, with: Array("two".utf8))
            #expect(try AtomicFile.contents(of: path) == Array("two".utf8))
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/a/b") == ["file.txt"])
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            #expect((attributes[.posixPermissions] as? Int) == 0o644)
        }
    }

    @Test func replaceHonoursPermissionsDespiteTheUmask() async throws {
        try await withTemporaryDirectory { dir throws in
            let path = dir + "/secret"
            try AtomicFile.replace(path, with: [1, 2, 3], permissions: 0o600)
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            #expect((attributes[.posixPermissions] as? Int) == 0o600)
        }
    }

    @Test func contentsOfAMissingFileIsNil() async throws {
        try await withTemporaryDirectory { dir throws in
            #expect(try AtomicFile.contents(of: dir + "/nope") == nil)
        }
    }

    @Test func contentsOfADirectoryIsAnError() async throws {
        try await withTemporaryDirectory { dir throws in
            #expect(throws: ControlFileError.self) { try AtomicFile.contents(of: dir) }
        }
    }

    @Test func readsLargeFiles() async throws {
        try await withTemporaryDirectory { dir throws in
            let big = (0..<300_000).map { UInt8(truncatingIfNeeded: $0) }
            try AtomicFile.replace(dir + "/big", with: big)
            #expect(try AtomicFile.contents(of: dir + "/big") == big)
        }
    }

    @Test func createNeverOverwrites() async throws {
        try await withTemporaryDirectory { dir throws in
            let path = dir + "/x/once"
            #expect(try AtomicFile.create(path, with: Array("first".utf8)))
            #expect(try !AtomicFile.create(path, with: Array("second".utf8)))
            #expect(try AtomicFile.contents(of: path) == Array("first".utf8))
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/x") == ["once"])
        }
    }

    @Test func replaceIntoAnUnwritablePlaceNamesThePath() async throws {
        try await withTemporaryDirectory { dir throws in
            try writeText("file", to: dir + "/plain")
            // A regular file where a directory is needed.
            #expect {
                try AtomicFile.replace(dir + "/plain/inner", with: [1])
            } throws: { error in
                (error as? ControlFileError)?.path.hasPrefix(dir + "/plain") == true
            }
        }
    }

    @Test func parentDirectory() {
        #expect(AtomicFile.parentDirectory(of: "/run/flannel/subnet.env") == "/run/flannel")
        #expect(AtomicFile.parentDirectory(of: "/subnet.env") == "/")
        #expect(AtomicFile.parentDirectory(of: "subnet.env") == ".")
    }
}
