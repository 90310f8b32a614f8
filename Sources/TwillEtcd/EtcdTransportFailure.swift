/// An endpoint could not be reached, its connection broke, or a watch ended early: the client tries
/// the next endpoint, or the watch reconnects.
struct EtcdTransportFailure: Error, Sendable, Equatable, CustomStringConvertible {
    var reason: String

    var description: String { reason }
}
