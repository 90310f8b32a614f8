import Foundation
import Testing
@testable import TwillEtcd

@Suite struct KeyedDecodingContainerEtcdTests {
    struct Sample: Decodable {
        var number: Int64
        var bytes: [UInt8]
        var flag: Bool

        enum CodingKeys: String, CodingKey { case number, bytes, flag }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            number = try c.etcdInt64(forKey: .number)
            bytes = try c.etcdBytes(forKey: .bytes)
            flag = try c.etcdBool(forKey: .flag)
        }
    }

    func decode(_ json: String) throws -> Sample { try JSONDecoder().decode(Sample.self, from: Data(json.utf8)) }

    @Test func int64sAsStringsOrNumbersAndAbsentMeansZero() throws {
        #expect(try decode(#"{"number":"7587848917473262856"}"#).number == 7_587_848_917_473_262_856)
        #expect(try decode(#"{"number":-1}"#).number == -1)
        #expect(try decode(#"{"number":"-1"}"#).number == -1)
        #expect(try decode("{}").number == 0)
        #expect(throws: DecodingError.self) { try decode(#"{"number":"x"}"#) }
    }

    @Test func base64BytesAndAbsentMeansEmpty() throws {
        #expect(try decode(#"{"bytes":"Zm9v"}"#).bytes == Array("foo".utf8))
        #expect(try decode("{}").bytes.isEmpty)
        #expect(throws: DecodingError.self) { try decode(#"{"bytes":"not base64!"}"#) }
    }

    @Test func booleansLeftOutAreFalse() throws {
        #expect(try decode(#"{"flag":true}"#).flag)
        #expect(try !decode("{}").flag)
    }
}
