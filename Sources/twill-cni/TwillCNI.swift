import Foundation
import TwillControl

/// One plugin call: checks the request, answers VERSION, or builds, saves or reads back the delegate's
/// config and runs the delegate with it. Returns the exit status; stdout carries the reply.
enum TwillCNI {
    static func run(environment: [String: String]) -> Int32 {
        var version: String?
        do throws(CNIError) {
            let request = try CNIRequest(environment: environment)
            if request.command == .version {
                writeStdout(Array((CNIVersion.reply + "\n").utf8))
                return 0
            }
            let network = try CNINetworkConfig(json: readStdin())
            version = network.cniVersion
            let store = CNIDelegateStore(directory: network.dataDir)
            switch request.command {
            case .add: return try add(request, network, store)
            case .del: return try del(request, store)
            case .check: return try check(request, network, store)
            case .version: return 0
            }
        } catch {
            var reply = error
            if reply.cniVersion == nil { reply.cniVersion = version }
            writeStdout(Array((reply.json + "\n").utf8))
            return 1
        }
    }

    /// Saved before the delegate runs: when it fails half way, the runtime's DEL finds the config it
    /// needs to undo what was done. Not saved when the delegate cannot be found, which DEL could not
    /// get past either.
    private static func add(_ request: CNIRequest, _ network: CNINetworkConfig,
                            _ store: CNIDelegateStore) throws(CNIError) -> Int32 {
        let subnetFile: SubnetFile
        do {
            subnetFile = try SubnetFile.load(network.subnetFile)
        } catch {
            throw CNIError(error)
        }
        let config = CNIDelegateConfig(network: network, subnetFile: subnetFile)
        let delegate = try DelegatePlugin(type: config.type, searchPath: request.pluginPath)
        try store.save(config, for: request.containerID)
        return try relay(delegate.run(config: config.bytes))
    }

    /// Idempotent, as the spec asks: a container without a saved config has nothing left to remove.
    /// The file goes only once the delegate succeeded, so a failed DEL can be repeated.
    private static func del(_ request: CNIRequest, _ store: CNIDelegateStore) throws(CNIError) -> Int32 {
        guard let saved = try store.load(request.containerID) else { return 0 }
        let config: CNIDelegateConfig
        do {
            config = try CNIDelegateConfig(saved: saved, path: store.path(of: request.containerID))
        } catch {
            // Nothing can be handed to the delegate; failing would only make the runtime retry forever.
            try? FileHandle.standardError.write(contentsOf: Data("twill-cni: DEL \(request.containerID): \(error.message); removing it\n".utf8))
            try store.remove(request.containerID)
            return 0
        }
        let status = try relay(DelegatePlugin(type: config.type, searchPath: request.pluginPath).run(config: config.bytes))
        if status == 0 { try store.remove(request.containerID) }
        return status
    }

    private static func check(_ request: CNIRequest, _ network: CNINetworkConfig,
                              _ store: CNIDelegateStore) throws(CNIError) -> Int32 {
        if let version = network.cniVersion, !CNIVersion.isAtLeast(version, CNIVersion.firstWithCheck) {
            throw CNIError(.incompatibleVersion, "CHECK needs cniVersion \(CNIVersion.firstWithCheck) or later "
                + "(the config has \(version))")
        }
        guard let saved = try store.load(request.containerID) else {
            throw CNIError(.unknownContainer, "container \(request.containerID) has no saved delegate config at "
                + "\(store.path(of: request.containerID)): it was not added through this plugin with this dataDir")
        }
        let config = try CNIDelegateConfig(saved: saved, path: store.path(of: request.containerID)).forCheck(network)
        return try relay(DelegatePlugin(type: config.type, searchPath: request.pluginPath).run(config: config.bytes))
    }

    /// The delegate's reply goes out as it came, with its status. A failure without a CNI error on
    /// stdout (a crash, a plugin that is not one) becomes an error of our own.
    private static func relay(_ run: DelegatePlugin.Run) throws(CNIError) -> Int32 {
        guard run.status == 0 || CNIError.isErrorReply(run.output) else {
            let output = String(decoding: run.output.prefix(400), as: UTF8.self)
            throw CNIError(.delegateFailed, "the delegate plugin \(run.executable) failed (\(run.outcome)) without "
                + "a CNI error reply", details: output)
        }
        writeStdout(run.output)
        return run.status
    }

    private static func readStdin() throws(CNIError) -> [UInt8] {
        do {
            return [UInt8](try FileHandle.standardInput.readToEnd() ?? Data())
        } catch {
            throw CNIError(.ioFailure, "cannot read the network config from stdin: \(error)")
        }
    }

    private static func writeStdout(_ bytes: [UInt8]) {
        try? FileHandle.standardOutput.write(contentsOf: bytes)
    }
}
