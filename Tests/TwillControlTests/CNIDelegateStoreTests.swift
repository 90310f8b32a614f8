import Foundation
import Testing
import TwillControl

@Suite struct CNIDelegateStoreTests {
    let config = CNIDelegateConfig(
        network: try! CNINetworkConfig(json: Array(#"{"name":"n"}"#.utf8)),
        subnetFile: SubnetFile(network: subnet("10.244.0.0/16"), subnet: subnet("10.244.3.0/24"), mtu: 1450, ipMasq: false))

    @Test func saveLoadRemoveAndRemoveAgain() async throws {
        try await withTemporaryDirectory { dir throws in
            let store = CNIDelegateStore(directory: dir + "/var/lib/cni/flannel")
            #expect(try store.load("c1") == nil)
            try store.save(config, for: "c1")
            #expect(try store.load("c1") == config.bytes)
            #expect(store.path(of: "c1") == dir + "/var/lib/cni/flannel/c1")
            // Private: the directory to root, the file to its owner.
            let directoryMode = try FileManager.default.attributesOfItem(atPath: store.directory)[.posixPermissions] as? Int
            let fileMode = try FileManager.default.attributesOfItem(atPath: store.path(of: "c1"))[.posixPermissions] as? Int
            #expect(directoryMode == 0o700)
            #expect(fileMode == 0o600)
            try store.remove("c1")
            #expect(try store.load("c1") == nil)
            try store.remove("c1")
            #expect(try FileManager.default.contentsOfDirectory(atPath: store.directory).isEmpty)
        }
    }

    @Test func unusableDirectoryIsAnIOFailureNamingIt() async throws {
        try await withTemporaryDirectory { dir throws in
            try writeText("x", to: dir + "/file")
            let error = #expect(throws: CNIError.self) { try CNIDelegateStore(directory: dir + "/file/data").save(config, for: "c1") }
            #expect(error?.code == .ioFailure)
            #expect(error?.message.contains(dir + "/file") == true)
        }
    }
}
