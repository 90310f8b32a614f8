import NIOCore
import NIOHTTP1
import NIOPosix

/// One answer of the health server.
struct HTTPReply: Sendable {
    var status: HTTPResponseStatus
    var contentType: String
    var body: String

    static func text(_ status: HTTPResponseStatus, _ body: String) -> HTTPReply {
        HTTPReply(status: status, contentType: "text/plain; charset=utf-8", body: body + "\n")
    }
}

/// The small HTTP/1.1 server behind `--healthz-ip`/`--healthz-port`: GET (or HEAD) on a path is
/// answered by `route`, one response per connection. It runs on SwiftNIO's shared event loop, away
/// from the datapath threads.
final class HealthServer: Sendable {
    private let channel: any Channel

    /// The address it listens on, e.g. "127.0.0.1:9645".
    let address: String

    /// Binds and starts serving. A bind failure throws, naming the flags.
    init(host: String, port: Int, route: @escaping @Sendable (String) -> HTTPReply) async throws {
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // A client that sends nothing for 10 s is closed, so idle connections cannot pile up.
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: .seconds(10)))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: false)
                    try channel.pipeline.syncOperations.addHandler(RouteHandler(route: route))
                }
            }
        do {
            channel = try await bootstrap.bind(host: host, port: port).get()
        } catch {
            throw HealthServerError.bind(host: host, port: port, reason: "\(error)")
        }
        address = channel.localAddress.map { "\($0.ipAddress ?? host):\($0.port ?? port)" } ?? "\(host):\(port)"
    }

    func close() async {
        try? await channel.close()
    }
}

enum HealthServerError: Error, CustomStringConvertible {
    case bind(host: String, port: Int, reason: String)

    var description: String {
        switch self {
        case .bind(let host, let port, let reason):
            "cannot serve /healthz, /readyz and /metrics on --healthz-ip \(host) --healthz-port \(port): \(reason)"
        }
    }
}

/// Answers each request once its end arrives, then closes the connection.
private final class RouteHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let route: @Sendable (String) -> HTTPReply
    private var request: HTTPRequestHead?

    init(route: @escaping @Sendable (String) -> HTTPReply) { self.route = route }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): request = head
        case .body: break
        case .end:
            guard let head = request else { return }
            request = nil
            respond(context: context, head: head)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let reply: HTTPReply
        switch head.method {
        case .GET, .HEAD:
            // The query string does not select anything (Prometheus may add none, probes might).
            let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            reply = route(path)
        default:
            reply = .text(.methodNotAllowed, "only GET and HEAD are served")
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: reply.contentType)
        headers.add(name: "Content-Length", value: "\(reply.body.utf8.count)")
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: reply.status, headers: headers))),
                      promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: reply.body)))),
                          promise: nil)
        }
        let loopBoundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            loopBoundContext.value.close(promise: nil)
        }
    }
}
