#pragma once
// Reading the namespace back, independently of what the helper answered:
// nftables through libnftables' own `list table`, links through rtnetlink.

#include <cstddef>
#include <optional>
#include <string>

namespace banger::test {

/// `nft list table ip banger` as text; nullopt if the table does not exist.
std::optional<std::string> nft_banger_table();
/// How many times `needle` occurs in `text`.
std::size_t count(const std::string& text, const std::string& needle);

} // namespace banger::test
