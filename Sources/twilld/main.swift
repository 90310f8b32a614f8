// twilld: the Twill daemon. Flag names follow flanneld; every flag can also come from the
// environment as FLANNELD_<NAME> (dashes as underscores), as flanneld allows.
import ArgumentParser
import CLiburing
import Foundation

let arguments = EnvironmentFlags.merge(arguments: Array(CommandLine.arguments.dropFirst()),
                                       environment: ProcessInfo.processInfo.environment)
do {
    var command = try TwilldCommand.parseAsRoot(arguments)
    if let daemon = command as? TwilldCommand {
        // Capabilities belong to each thread: twilld lets go of all but CAP_NET_ADMIN (what it needs
        // for the TUN, netlink, forced socket buffers and nft) while this is its only thread, so every
        // thread started later (Swift concurrency, SwiftNIO, the datapath) and every program it runs
        // has that one at most.
        let dropped = twill_keep_only_capability(TWILL_CAP_NET_ADMIN)
        try await daemon.runDaemon(capabilityDrop: dropped)
    } else {
        try command.run()
    }
} catch {
    TwilldCommand.exit(withError: error)
}
