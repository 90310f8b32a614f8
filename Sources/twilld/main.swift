// twilld: the Twill daemon. Flag names follow flanneld; every flag can also come from the
// environment as FLANNELD_<NAME> (dashes as underscores), as flanneld allows.
import ArgumentParser
import Foundation

let arguments = EnvironmentFlags.merge(arguments: Array(CommandLine.arguments.dropFirst()),
                                       environment: ProcessInfo.processInfo.environment)
do {
    var command = try TwilldCommand.parseAsRoot(arguments)
    if let daemon = command as? TwilldCommand {
        try await daemon.runDaemon()
    } else {
        try command.run()
    }
} catch {
    TwilldCommand.exit(withError: error)
}
