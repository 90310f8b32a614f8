import Testing
import TwillControl

@Suite struct CNIErrorTests {
    @Test func replyHasTheSpecsFourFields() {
        let error = CNIError(.invalidNetworkConfig, "name is required", details: "see \"docs\"")
        #expect(error.json == """
            {
              "cniVersion": "1.0.0",
              "code": 7,
              "msg": "name is required",
              "details": "see \\"docs\\""
            }
            """)
        var versioned = error
        versioned.cniVersion = "0.3.1"
        #expect(versioned.json.contains(#""cniVersion": "0.3.1""#))
        #expect(error.description == #"CNI error 7: name is required (see "docs")"#)
    }

    @Test func errorRepliesAreRecognised() {
        #expect(CNIError.isErrorReply(Array(#"{"code":6,"msg":"bad"}"#.utf8)))
        #expect(CNIError.isErrorReply(Array(CNIError(.ioFailure, "x").json.utf8)))
        #expect(!CNIError.isErrorReply(Array(#"{"msg":"bad"}"#.utf8)))
        #expect(!CNIError.isErrorReply(Array(#"{"code":"6"}"#.utf8)))
        #expect(!CNIError.isErrorReply(Array("panic: runtime error".utf8)))
        #expect(!CNIError.isErrorReply([]))
    }

    @Test func subnetFileProblemsMapToCodes() {
        let missing = CNIError(SubnetFileError(path: "/run/flannel/subnet.env", kind: .missing))
        #expect(missing.code == .tryAgainLater)
        #expect(missing.message == "the subnet file /run/flannel/subnet.env does not exist (is twilld running on this "
            + "host, with --subnet-file /run/flannel/subnet.env?)")
        #expect(CNIError(SubnetFileError(path: "/s", kind: .unreadable(reason: "Permission denied"))).code == .ioFailure)
        let bad = CNIError(SubnetFileError(path: "/s", kind: .variableInvalid("FLANNEL_MTU", value: "x", rule: "must be a positive whole number")))
        #expect(bad.code == .decodeFailure)
        #expect(bad.message == #"the subnet file /s has an invalid FLANNEL_MTU: must be a positive whole number (got "x")"#)
        #expect(CNIError(SubnetFileError(path: "/s", kind: .variableMissing("FLANNEL_SUBNET"))).message
            == "the subnet file /s lacks FLANNEL_SUBNET")
    }

    @Test func versionReplyAndOrdering() {
        #expect(CNIVersion.reply == #"{"cniVersion":"1.0.0","supportedVersions":["0.1.0","0.2.0","0.3.0","0.3.1","0.4.0","1.0.0"]}"#)
        #expect(CNIVersion.isSupported("0.3.1"))
        #expect(!CNIVersion.isSupported("1.1.0"))
        #expect(CNIVersion.isAtLeast("1.0.0", "0.4.0"))
        #expect(CNIVersion.isAtLeast("0.4.0", "0.4.0"))
        #expect(!CNIVersion.isAtLeast("0.3.1", "0.4.0"))
        #expect(CNIVersion.isAtLeast("0.10.0", "0.4.0"))
    }
}
