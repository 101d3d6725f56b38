// Error messages echo what the user gave, so that they can see what was refused; but the
// input may hold anything (a newline in a config string, a terminal escape in an argument).
// Echoed input is quoted, cut short, and has every control character written as an escape:
// the message stays one readable line.

/// `text` in single quotes, at most `limit` characters, control characters escaped.
public func quotedInput(_ text: some StringProtocol, limit: Int = 64) -> String {
    var shown = ""
    var count = 0
    for scalar in text.unicodeScalars {
        if count == limit {
            shown += "..."
            break
        }
        switch scalar {
        case "\n": shown += "\\n"
        case "\r": shown += "\\r"
        case "\t": shown += "\\t"
        default:
            let category = scalar.properties.generalCategory
            if [.control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .unassigned].contains(category) {
                shown += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                shown.unicodeScalars.append(scalar)
            }
        }
        count += 1
    }
    return "'\(shown)'"
}
