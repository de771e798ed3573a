#pragma once
// Text from guests (console lines, process names, session names) and from
// peers, made safe to show on a terminal or to write into a log line.

#include <string>
#include <string_view>

namespace banger {

/// `text` safe to write to a terminal: C0 controls (but \n and \t when
/// `keep_lines`), DEL and C1 controls show as visible escapes ("\x1b",
/// "\u009b") and bytes that are not UTF-8 as "\xNN", so that a string from a
/// guest or the daemon cannot move the cursor, retitle the window or hide
/// text. Printable UTF-8 passes through unchanged.
std::string terminal_safe(std::string_view text, bool keep_lines = false);

} // namespace banger
