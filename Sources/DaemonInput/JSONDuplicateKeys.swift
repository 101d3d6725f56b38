// JSON allows an object to name the same key twice, and Foundation's parser keeps one of the
// values without a word. In a config file that is a mistake to point out, not a choice to make
// silently (which `ring-size` did the operator mean?), so the file is scanned for it.

import Foundation

enum JSONDuplicateKeys {
    /// The first key that appears twice in one object of `data`, as a dotted path from the top
    /// ("filter.ports"), or nil. `data` must already have parsed as JSON: this scanner only
    /// follows its structure and leaves validation to the parser.
    static func first(in data: Data) -> String? {
        enum Container {
            case object(keys: Set<String>, expectingKey: Bool)
            case array
        }
        // Each open container, and the key under which it sits in its parent (for the path).
        var stack: [(container: Container, name: String?)] = []
        // The key just read: a container that opens next is its value.
        var pendingName: String?
        let bytes = [UInt8](data)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "{"):
                stack.append((.object(keys: [], expectingKey: true), pendingName))
                pendingName = nil
            case UInt8(ascii: "["):
                stack.append((.array, pendingName))
                pendingName = nil
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                _ = stack.popLast()
                pendingName = nil
            case UInt8(ascii: ","):
                if case .object(let keys, _) = stack.last?.container {
                    stack[stack.count - 1].container = .object(keys: keys, expectingKey: true)
                }
                pendingName = nil
            case UInt8(ascii: "\""):
                let start = index
                index += 1
                while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                    index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1
                }
                guard case .object(var keys, true) = stack.last?.container else {
                    pendingName = nil  // a string value
                    break
                }
                // Escapes decoded by the parser, so "\u0062atch" and "batch" are one key.
                let token = bytes[start...min(index, bytes.count - 1)]
                let key: String
                if token.contains(UInt8(ascii: "\\")) {
                    key = (try? JSONSerialization.jsonObject(with: Data(token), options: [.fragmentsAllowed])) as? String
                        ?? String(decoding: token, as: UTF8.self)
                } else {
                    key = String(decoding: token.dropFirst().dropLast(), as: UTF8.self)
                }
                if keys.contains(key) {
                    let path = stack.compactMap(\.name) + [key]
                    return path.joined(separator: ".")
                }
                keys.insert(key)
                stack[stack.count - 1].container = .object(keys: keys, expectingKey: false)
                pendingName = key
            default:
                break
            }
            index += 1
        }
        return nil
    }
}
