#pragma once
// Sizes as people write and read them, shared by the CLI (flags, tables) and
// the daemon (settings, error messages).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace banger {

/// Bytes with a binary unit: "0B", "812KiB", "1.2GiB".
std::string format_bytes(std::uint64_t bytes);

/// "512M", "4G", "4GiB", "1048576": bytes (K/M/G/T are powers of 1024);
/// nullopt for anything else, zero or an overflow.
std::optional<std::uint64_t> parse_size(std::string_view text);

} // namespace banger
